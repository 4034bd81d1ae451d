"""What the engine does with a tick's commands: each one carried out through its port.

:class:`Executing` (a base of :class:`~modelcanary.engine.Engine`) sends routes to the
``TrafficRouter``, workloads to ``Workloads``, webhooks to the ``WebhookRunner`` and
notifications to the rollout's alerts. Routing and workload errors propagate (the tick failed);
webhooks and notifications that do not go through are returned as problems. A one-shot effect
this engine already delivered for a tick is skipped (:mod:`._effects`).
"""

from __future__ import annotations

import logging
from typing import Any

from ..notify import NotificationDelivery
from ..ports import Clock, Notification, TrafficRouter, Workloads
from ..rollout import (
    Command,
    EnsureChallenger,
    Finalize,
    Notify,
    PromoteChallenger,
    RecordAnalysis,
    RunWebhooks,
    ScaleChallenger,
    SetRoutes,
)
from ..spec import ModelRollout, RolloutStatus
from . import _effects as effects
from ._webhooks import WebhookCalls

log = logging.getLogger("modelcanary.engine")


class Executing(WebhookCalls):
    """The engine's execution of commands (a base of :class:`~modelcanary.engine.Engine`)."""

    router: TrafficRouter
    workloads: Workloads
    clock: Clock
    notify_options: dict[str, Any]
    _routers: dict[tuple[str, str, str], NotificationDelivery]
    _delivered: set[str]

    def notifications(self, rollout: ModelRollout) -> NotificationDelivery:
        """The rollout's notification router (rebuilt when its alerts change)."""
        alerts = rollout.spec.analysis.alerts
        key = (_ns(rollout), rollout.name, repr(alerts))
        if key not in self._routers:
            self._routers[key] = NotificationDelivery(
                alerts, namespace=_ns(rollout), **self.notify_options
            )
        return self._routers[key]

    def execute(
        self,
        rollout: ModelRollout,
        status: RolloutStatus,
        commands: list[Command],
        tick_id: str | None = None,
    ) -> list[str]:
        """Carry out the commands in order; routing/workload errors propagate.

        With ``tick_id``, a one-shot effect this engine already delivered for that tick (its
        id is remembered until the status no longer lists it) is skipped.

        The router is handed the rollout with ``status``, the status these commands realise
        (written before them): a decision recorded in it (the knative router's champion
        revision) is what the router writes, never something it reads later. The workloads
        get the rollout as it was read (their initialisation keys on the phase before).
        """
        routed = (
            rollout if rollout.status is status else rollout.model_copy(update={"status": status})
        )
        problems: list[str] = []
        shots = 0
        for command in commands:
            ident = None
            if tick_id is not None and effects.is_one_shot(command):
                ident, shots = effects.effect_id(tick_id, shots), shots + 1
                if ident in self._delivered:
                    continue
            if isinstance(command, SetRoutes):
                self.router.set_routes(routed, command.routes)
            elif isinstance(command, EnsureChallenger):
                self.workloads.ensure(rollout)
                self.router.reconcile(routed)
            elif isinstance(command, ScaleChallenger):
                self.workloads.scale_challenger(rollout, command.replicas)
            elif isinstance(command, PromoteChallenger):
                self.workloads.promote(rollout)
            elif isinstance(command, Finalize):
                self.router.finalize(routed)
            elif isinstance(command, RunWebhooks):
                results = self.run_webhooks(rollout, status, command.type)
                problems += [
                    f"{r.type} webhook {r.name}: {r.message}" for r in results if not r.passed
                ]
            elif isinstance(command, Notify):
                problems += self._notify(rollout, status, command)
            elif isinstance(command, RecordAnalysis):
                log.info(
                    "%s/%s analysis %s: %s",
                    _ns(rollout),
                    rollout.name,
                    command.verdict,
                    command.message,
                )
            if ident is not None:
                self._delivered.add(ident)
        for problem in problems:
            log.warning("%s/%s: %s", _ns(rollout), rollout.name, problem)
        return problems

    def _notify(self, rollout: ModelRollout, status: RolloutStatus, command: Notify) -> list[str]:
        """Send ``command`` to the event webhooks and the alerts; what did not go through."""
        problems: list[str] = []
        stamp = str(int(self.clock.now().timestamp() * 1000))
        event = {"eventMessage": command.message, "eventType": command.event, "timestamp": stamp}
        for result in self.run_webhooks(rollout, status, "event", event):
            if not result.passed:
                problems.append(f"event webhook {result.name}: {result.message}")
        if rollout.spec.analysis.alerts:
            note = Notification(
                rollout=rollout.name,
                namespace=_ns(rollout),
                event=command.event,
                severity=command.severity,
                message=command.message,
                phase=status.phase.value,
                fields=dict(command.fields),
            )
            for delivery in self.notifications(rollout).send(note):
                if not delivery.ok:
                    problems.append(f"alert {delivery.alert} ({delivery.type}): {delivery.error}")
        return problems


def _ns(rollout: ModelRollout) -> str:
    return rollout.metadata.namespace or "default"
