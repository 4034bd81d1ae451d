"""How the engine calls a rollout's webhooks: in order, with Flagger's payload.

Gating webhooks (``confirm-rollout``, ``pre-rollout``, ``rollback``...) are asked while the
engine observes (:mod:`._observe`); ``RunWebhooks`` and ``Notify`` commands call them while it
executes (:mod:`._execute`). Both go through :meth:`WebhookCalls.run_webhooks`, a part of
:class:`~modelcanary.engine.Engine` over its ``WebhookRunner`` port.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from ..ports import WebhookPayload, WebhookResult, WebhookRunner
from ..spec import ModelRollout, RolloutStatus

Gates = tuple[Mapping[str, bool], Mapping[str, str]]
"""Gate answers of one tick: webhook type -> passed, and why not."""


class WebhookCalls:
    """The engine's webhook calls (a base of :class:`~modelcanary.engine.Engine`)."""

    webhooks: WebhookRunner

    def run_webhooks(
        self,
        rollout: ModelRollout,
        status: RolloutStatus,
        kind: str,
        extra: Mapping[str, str] | None = None,
        stop_at_first: Literal["failure", "pass"] | None = None,
    ) -> list[WebhookResult]:
        """Call the webhooks of ``kind`` in order with Flagger's payload, optionally stopping
        at the first failure or the first pass."""
        results = []
        for hook in rollout.spec.analysis.webhooks:
            if hook.type != kind:
                continue
            payload = WebhookPayload(
                name=rollout.name,
                namespace=rollout.metadata.namespace or "default",
                phase=status.phase.value,
                checksum=status.last_applied_spec or rollout.spec_hash(),
                type=kind,
                metadata={**(hook.metadata or {}), **(extra or {})},
            )
            result = self.webhooks.run(hook, payload)
            results.append(result)
            if stop_at_first == ("pass" if result.passed else "failure"):
                break
        return results
