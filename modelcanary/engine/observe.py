"""Observation helpers of the engine: which metric backends are offline, and one window's data.

Free functions over the engine's metric ports (``metrics`` and the optional per-metric
``provider_for``), so :mod:`.engine` keeps to ticking and executing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from ..analysis.measurements import IntervalData, Window
from ..errors import ProviderError
from ..ports import MetricProvider, ProviderDispatch
from ..rollout.times import parse_time
from ..spec import MetricSpec, ModelRollout, RolloutStatus

ProviderFor = Callable[[MetricSpec], MetricProvider]


def offline_providers(
    metrics: MetricProvider, provider_for: ProviderFor | None, rollout: ModelRollout
) -> str | None:
    """Initialisation check: the providers of this rollout that fail ``is_online()``, named
    with why (None when all answer).

    A provider spec that cannot be built raises its SpecError here, before any traffic.
    """
    custom = [m for m in rollout.spec.analysis.metrics if not m.is_builtin]
    if isinstance(metrics, ProviderDispatch):
        chosen = [metrics.for_rollout(rollout)]
        chosen += [metrics.for_metric(m, rollout) for m in custom]
    else:
        chosen = [metrics]
        if provider_for is not None:
            chosen += [provider_for(m) for m in custom]
    providers = {id(p): p for p in chosen}
    down = [p for p in providers.values() if not p.is_online()]
    if not down:
        return None
    reasons = [str(getattr(p, "last_error", "") or "") for p in down]
    return "; ".join(
        f"{p.name} is offline" + (f" ({why})" if why else "")
        for p, why in zip(down, reasons, strict=True)
    )


def collect(
    metrics: MetricProvider,
    provider_for: ProviderFor | None,
    rollout: ModelRollout,
    status: RolloutStatus,
    now: datetime,
) -> tuple[IntervalData | None, str | None]:
    """The measurements of the window since the last analysis, or why the backend failed."""
    start = parse_time(status.last_analysis_time) if status.last_analysis_time else now
    window = Window(start.timestamp(), now.timestamp())
    try:
        data = metrics.collect(rollout, window)
        custom: dict[str, object] = {}
        for metric in rollout.spec.analysis.metrics:
            if not metric.is_builtin:
                provider = provider_for(metric) if provider_for else metrics
                custom[metric.name] = provider.query(metric, rollout, window)
    except ProviderError as exc:
        return None, str(exc)
    if custom:
        values = {**data.challenger.values, **custom}
        data = replace(data, challenger=replace(data.challenger, values=values))  # type: ignore[arg-type]
    return data, None
