"""Observation helpers of the engine: which metric backends are offline, and one window's data.

Free functions over the engine's one ``MetricProvider`` port, so :mod:`.engine` keeps to
ticking and executing. Whether that port is a single backend or a dispatcher choosing one per
rollout and metric is its own business: both answer ``backends``, ``collect`` and ``query``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..analysis._llm_sli import version_prices
from ..analysis._measurements import IntervalData, Window
from ..errors import ProviderError
from ..ports import MetricProvider
from ..rollout._times import parse_time
from ..spec import ModelRollout, RolloutStatus


def offline_providers(metrics: MetricProvider, rollout: ModelRollout) -> str | None:
    """Initialisation check: the backends of this rollout that fail ``is_online()``, named
    with why (None when all answer).

    A provider spec that cannot be built raises its SpecError here, before any traffic.
    """
    backends = {id(p): p for p in metrics.backends(rollout)}.values()
    down = [p for p in backends if not p.is_online()]
    if not down:
        return None
    return "; ".join(
        f"{p.name} is offline" + (f" ({p.last_error})" if p.last_error else "") for p in down
    )


def collect(
    metrics: MetricProvider, rollout: ModelRollout, status: RolloutStatus, now: datetime
) -> tuple[IntervalData | None, str | None]:
    """The measurements of the window since the last analysis, or why the backend failed."""
    start = parse_time(status.last_analysis_time) if status.last_analysis_time else now
    return collect_window(metrics, rollout, start, now)


def collect_window(
    metrics: MetricProvider,
    rollout: ModelRollout,
    start: datetime,
    now: datetime,
    custom_queries: bool = True,
) -> tuple[IntervalData | None, str | None]:
    """The measurements of ``[start, now]``, or why the backend failed. ``custom_queries``:
    also run the custom metrics' queries (a look feeds only the sequential tests: no)."""
    window = Window(start.timestamp(), now.timestamp())
    try:
        data = metrics.collect(rollout, window)
        custom: dict[str, object] = {}
        for metric in rollout.spec.analysis.metrics:
            if custom_queries and not metric.is_builtin:
                custom[metric.name] = metrics.query(metric, rollout, window)
    except ProviderError as exc:
        return None, str(exc)
    if custom:
        values = {**data.challenger.values, **custom}
        data = replace(data, challenger=replace(data.challenger, values=values))  # type: ignore[arg-type]
    prices = version_prices(rollout)
    if prices and data.pricing is None:
        data = replace(data, pricing=prices)  # the versions' prices: cost-per-1k-requests
    return data, None
