"""Looks between intervals: the anytime-valid tests fed every few seconds, rollback only.

An analysis interval may be long (minutes); a challenger that starts failing half its requests
should not serve until its end. Sequential tests are anytime-valid (Ville's inequality): they
may be looked at after every small batch without raising the false-rollback rate. So between
interval ticks the engine makes *looks*: it collects the measurements since the last look (the
*watermark*) and calls ``step`` with them as ``Observations.look`` (no ``data``). The machine
feeds them to the sequential tests with :func:`~modelcanary.analysis.check_batch` and

* rolls back at once when a test rejects (the same :meth:`Tick.rollback` an interval tick
  uses, with a history record saying it was a look), or
* just advances the tests' state and the watermark (``analysisState.lookedUntil``): a look
  never promotes, never counts a passed, failed or inconclusive interval.

At the interval tick the data since the watermark is fed the same way first, then the interval
is analysed with ``batches_checked=True``, so each request reaches the sequential tests exactly
once, whether the looks' states were written (the local runtime) or only kept in the engine's
memory (the operator). A runtime that crashes resumes from the stored state and watermark: the
traffic after the watermark is fed in one batch, nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..analysis._bands import STORED_KEYS, stored_analysis
from ..analysis._interval import AnalysisState, check_batch
from ..spec._catalogue import SEQUENTIAL_METRICS
from ..spec._provider_caps import gives_per_request_data
from ..spec._rollout import ModelRollout
from ..spec._status import AnalysisRecord, RolloutStatus
from ._commands import RecordAnalysis
from ._times import parse_time
from ._transitions import Tick

LOOK_KEY = "lookedUntil"
"""Key of the watermark in ``status.analysisState``: the end of the last look (seconds since
the epoch, the windows' clock); absent when no look was made since the last interval."""


def can_look(rollout: ModelRollout, status: RolloutStatus) -> bool:
    """True when a look between intervals may decide something for this rollout now: an
    analysing phase past its pre-rollout gate, not suspended or paused, with at least one
    metric the sequential judge may take (error rates, latencies, win-rate), measured by a
    backend that gives per-request data (not ``spec.metricsProvider`` of a type that answers
    custom queries only, such as Datadog or CloudWatch: a look there would feed nothing)."""
    spec = rollout.spec
    if not status.phase.traits.analyses or spec.skip_analysis or spec.suspend or status.paused:
        return False
    if not gives_per_request_data(spec.metrics_provider):
        return False
    if not status.pre_rollout_done or status.last_analysis_time is None:
        return False
    return any(
        m.is_builtin
        and m.judge in (None, "sequential")
        and (m.name in SEQUENTIAL_METRICS or m.name == "win-rate")
        for m in spec.analysis.metrics
    )


def watermark(status: RolloutStatus) -> datetime | None:
    """Where the next look's window starts: the last look's end, else the last analysis."""
    if status.last_analysis_time is None:
        return None
    last = parse_time(status.last_analysis_time)
    looked = (status.analysis_state or {}).get(LOOK_KEY)
    if isinstance(looked, int | float) and looked > last.timestamp():
        return datetime.fromtimestamp(float(looked), UTC)
    return last


def looked(status: RolloutStatus) -> bool:
    """True when a look fed the tests since the last interval (the interval tick must then
    feed only what came after it)."""
    mark = watermark(status)
    return (
        mark is not None
        and status.last_analysis_time is not None
        and (mark > parse_time(status.last_analysis_time))
    )


def fold_look(tick: Tick, state: AnalysisState) -> AnalysisState:
    """At an interval tick: feed the traffic since the last look to the sequential tests (the
    interval is then analysed with ``batches_checked=True``)."""
    assert tick.obs.look is not None
    return check_batch(tick.analysis, tick.obs.look, state).state


def look(tick: Tick) -> None:
    """A look between intervals (``Observations.look`` without ``data``): feed the batch to
    the sequential tests; roll back when one rejects, else only keep their state."""
    batch = tick.obs.look
    status = tick.status
    if batch is None or not can_look(tick.rollout, status):
        return
    result = check_batch(tick.analysis, batch, stored_analysis(status.analysis_state))
    tick.update(analysis_state=stored_state(result.state, batch.window.end))
    if result.action != "rollback":
        return
    since = parse_time(status.last_analysis_time or tick.stamp)
    into = max(0.0, batch.window.end - since.timestamp())
    message = f"{result.message} (look between intervals, {into:.0f}s into the interval)"
    tick.record(
        AnalysisRecord(
            time=tick.stamp,
            phase=status.phase,
            canary_weight=status.canary_weight,
            mirror_weight=status.mirror_weight,
            verdict="fail",
            checks=[c.to_record() for c in result.checks],
            message=message,
        )
    )
    tick.update(failed_checks=status.failed_checks + 1)
    tick.emit(RecordAnalysis("fail", message))
    tick.rollback(message)


def stored_state(state: AnalysisState, looked_until: float) -> dict[str, Any]:
    """``status.analysisState`` after a look: the resumable analysis state plus the watermark."""
    stored = state.model_dump(mode="json", include=set(STORED_KEYS))
    stored[LOOK_KEY] = looked_until
    return stored
