"""What the engine observes in a tick: readiness, gates, measurements and manual actions.

:class:`Observing` (a base of :class:`~modelcanary.engine.Engine`) gathers a tick's
``Observations``, so :mod:`._engine` keeps to the tick and its status writes. Which metric
backends are offline and one window's data are free functions over the engine's one
``MetricProvider`` port (looks use them too). Whether that port is a single backend or a
dispatcher choosing one per rollout and metric is its own business: both answer ``backends``,
``collect`` and ``query``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Literal

from ..analysis._llm_sli import version_prices
from ..analysis._measurements import IntervalData, Window
from ..errors import ProviderError, WorkloadError
from ..ports import MetricProvider, Workloads
from ..rollout import Observations, Readiness, analysis_due, gates_needed
from ..rollout._looks import looked, watermark
from ..rollout._times import parse_time
from ..spec import ModelRollout, RolloutStatus
from ..spec._phases import Phase
from ._actions import action_from
from ._webhooks import Gates, WebhookCalls


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


class Observing(WebhookCalls):
    """The engine's observations of a tick (a base of :class:`~modelcanary.engine.Engine`)."""

    workloads: Workloads
    metrics: MetricProvider

    def observe(
        self,
        rollout: ModelRollout,
        status: RolloutStatus,
        now: datetime,
        deleted: bool = False,
        reuse: Gates | None = None,
    ) -> Observations:
        """Gather readiness, gates, measurements and manual actions for this tick.

        ``reuse``: gate answers already obtained for this very status (a tick that lost its
        status write): gating webhooks such as ``pre-rollout`` are not called again.
        """
        if deleted:
            return Observations(deleted=True)
        try:
            readiness: Readiness | None = self.workloads.readiness(rollout)
        except WorkloadError as exc:
            readiness = Readiness(False, False, None, str(exc))
        if reuse is not None:
            gates, messages = dict(reuse[0]), dict(reuse[1])
        else:
            gates, messages = self._gates(rollout, status)
        offline = None
        if status.phase == Phase.INITIALIZING:
            offline = offline_providers(self.metrics, rollout)
        data, error, look = None, None, None
        if analysis_due(rollout, status, now):
            data, error = collect(self.metrics, rollout, status, now)
            mark = watermark(status)
            if data is not None and looked(status) and mark is not None:
                # the looks fed the tests up to the watermark: the rest of the interval
                look, error = collect_window(self.metrics, rollout, mark, now, custom_queries=False)
                data = data if look is not None else None
        return Observations(
            readiness=readiness,
            data=data,
            gates=gates,
            gate_messages=messages,
            action=action_from(rollout),
            provider_error=error,
            providers_offline=offline,
            look=look,
        )

    def _gates(
        self, rollout: ModelRollout, status: RolloutStatus
    ) -> tuple[dict[str, bool], dict[str, str]]:
        """Ask the gates ``status`` needs: webhook type -> passed, and the failures' messages."""
        gates: dict[str, bool] = {}
        messages: dict[str, str] = {}
        for kind in sorted(gates_needed(rollout, status)):
            # Flagger calls gate hooks until the first failure, rollback hooks until a pass
            first: Literal["failure", "pass"] = "pass" if kind == "rollback" else "failure"
            results = self.run_webhooks(rollout, status, kind, stop_at_first=first)
            # a rollback hook that answers 2xx asks for a rollback; every other gate must pass
            passed = [r.passed for r in results]
            gates[kind] = any(passed) if kind == "rollback" else all(passed)
            failing = [f"{r.name}: {r.message}" for r in results if not r.passed]
            if failing:
                messages[kind] = "; ".join(failing)
        return gates, messages
