"""Builder methods for what the analysis checks and tells: SLOs, webhooks, gates, alerts.

Each appends a validated fragment to a tuple of the new copy; its error path carries the
index the fragment will have (``spec.analysis.webhooks[2].url``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from modelcanary.spec import Alert, MetricSpec, Webhook
from modelcanary.spec._rules_keys import metric_identity as metric_key
from modelcanary.spec._validate import format_path

from . import _parts as parts
from ._sli import SLI
from ._state import ANALYSIS_PATH, RolloutState
from ._util import drop_none, fail, validated


class RolloutChecks(RolloutState):
    """SLO, analysis-setting, webhook and alert methods of the builder."""

    def slo(self, *checks: SLI | MetricSpec | Mapping[str, Any]) -> Self:
        """Add checks: ``slo(mc.sli.error_rate() < "1%", mc.sli.latency(p=99) < "250ms")``.

        A check whose metric an earlier ``slo()`` call already checked replaces that check in
        place (tuning a bound in a notebook: ``r.slo(mc.sli.latency(p=99) < "300ms")``); the
        metric is its key (as ``modelcanary.analysis.metric_key`` says): name, comparison with
        the champion and ``errorClass``, so ``error_rate(error_class="rate-limit")`` and
        ``error_rate()`` are two checks. The same key twice in one call is an error, as in the
        spec. ``without_slo(name)`` removes one."""
        if not checks:
            fail(
                "spec.analysis.metrics",
                "slo() needs at least one check",
                "e.g. slo(mc.sli.error_rate() < '1%')",
            )
        new: list[MetricSpec] = []
        for i, check in enumerate(checks, len(self.metric_specs)):
            path = (*ANALYSIS_PATH, "metrics", i)
            if isinstance(check, SLI):
                new.append(check.metric)
            elif isinstance(check, MetricSpec | Mapping):
                new.append(validated(MetricSpec, check, path))
            else:
                fail(
                    format_path(path),
                    f"expected an SLI check, got {type(check).__name__}",
                    "compare an SLI with <, <=, >, >= or .between(), e.g. sli.error_rate() < '1%'",
                )
        kept = list(self.metric_specs)
        earlier = {metric_key(spec): i for i, spec in enumerate(kept)}
        replaced: set[str] = set()
        for spec in new:
            key = metric_key(spec)
            if key in earlier and key not in replaced:
                kept[earlier[key]] = spec
                replaced.add(key)
            else:  # new, or a second one in this call: validation reports the duplicate
                kept.append(spec)
        return self.model_copy(update={"metric_specs": tuple(kept)})

    def without_slo(self, name: str) -> Self:
        """The rollout without the checks on metric ``name`` (every comparison and errorClass
        of it), or without the one check of metric key ``name`` (``error-rate[rate-limit]``,
        ``latency-p99@champion``); SpecError listing the keys when there is none."""
        keys = [metric_key(spec) for spec in self.metric_specs]
        if name not in keys and not any(spec.name == name for spec in self.metric_specs):
            fail(
                "spec.analysis.metrics",
                f"no check on {name!r}",
                f"use one of: {', '.join(keys) or '(none yet: add one with slo())'}",
            )
        kept = tuple(
            spec
            for spec, key in zip(self.metric_specs, keys, strict=True)
            if spec.name != name and key != name
        )
        return self.model_copy(update={"metric_specs": kept})

    def analysis(
        self,
        *,
        interval: str | None = None,
        threshold: int | None = None,
        inconclusive_limit: int | None = None,
        warmup: str | None = None,
        unit_key: str | None = None,
    ) -> Self:
        """Plan-independent settings: interval, failures before rollback, inconclusive limit,
        a warm-up (``"1m"``: the challenger's first traffic is recorded, not judged) and the
        request header holding each request's user id (``unit_key="x-user-id"``: the analysis
        then judges per user, see docs/analysis.md "Sticky sessions")."""
        return self._options(
            interval=interval,
            threshold=threshold,
            inconclusiveLimit=inconclusive_limit,
            warmup=warmup,
            unitKey=None if unit_key is None else {"header": unit_key},
        )

    def session_affinity(
        self,
        cookie_name: str,
        *,
        primary_cookie_name: str | None = None,
        max_age: int | None = None,
    ) -> Self:
        """Sticky canary sessions (Flagger's ``sessionAffinity``): a user routed to the
        challenger gets ``cookie_name`` and stays there (``primary_cookie_name``: a cookie for
        champion users too); ``max_age`` in seconds (default one day)."""
        affinity = drop_none(
            cookieName=cookie_name, primaryCookieName=primary_cookie_name, maxAge=max_age
        )
        return self._options(sessionAffinity=affinity)

    def no_data(self, policy: str) -> Self:
        """What a check without data counts as: ``fail`` (default), ``skip`` or ``inconclusive``."""
        return self._options(noData=policy)

    def metrics_provider(
        self,
        type: str,
        address: str | None = None,
        *,
        secret_env: str | None = None,
        secret_name: str | None = None,
        region: str | None = None,
    ) -> Self:
        """Backend of the built-in SLIs (``prometheus``, ``datadog``...; default embedded)."""
        secret = parts.secret(secret_env, secret_name)
        data = drop_none(type=type, address=address, secretRef=secret, region=region)
        return self._spec(metricsProvider=data)

    def webhook(
        self,
        name: str,
        url: str,
        type: str = "rollout",
        *,
        timeout: str | None = None,
        retries: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Self:
        """A Flagger webhook (gate, load test, event hook) of the given ``type``."""
        data = parts.webhook(name, url, type, timeout=timeout, retries=retries, metadata=metadata)
        hook = validated(Webhook, data, (*ANALYSIS_PATH, "webhooks", len(self.webhook_specs)))
        return self.model_copy(update={"webhook_specs": (*self.webhook_specs, hook)})

    def gate(self, name: str, url: str, *, timeout: str | None = None) -> Self:
        """An approval before promotion: a confirm-promotion webhook that must answer 2xx."""
        return self.webhook(name, url, "confirm-promotion", timeout=timeout)

    def alert(
        self,
        name: str,
        provider: str | None = None,
        *,
        severity: str = "info",
        ref: str | None = None,
        namespace: str | None = None,
        address: str | None = None,
        channel: str | None = None,
        username: str | None = None,
        secret_env: str | None = None,
        secret_name: str | None = None,
    ) -> Self:
        """Send events to ``provider`` (slack, msteams...) or a Flagger AlertProvider ``ref``."""
        data = parts.alert(
            name,
            provider,
            severity=severity,
            ref=ref,
            namespace=namespace,
            address=address,
            channel=channel,
            username=username,
            secretRef=parts.secret(secret_env, secret_name),
        )
        item = validated(Alert, data, (*ANALYSIS_PATH, "alerts", len(self.alert_specs)))
        return self.model_copy(update={"alert_specs": (*self.alert_specs, item)})
