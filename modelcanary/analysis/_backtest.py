"""Backtest: replay a request log through a rollout's analysis, interval by interval.

The log is what was recorded: one row per request with ``timestamp`` (seconds),
``version`` (champion|challenger), ``latency_ms``, ``status`` (HTTP code; >= 500 is an
error), optional ``prediction``, ``request_id`` (a request id seen by both versions is a
mirrored pair) and ``mirrored`` (1: a challenger row answering a mirror copy; without the
column, the pairs say it). It is cut into analysis intervals from its first timestamp;
each interval runs :func:`~modelcanary.analysis._interval.analyse_interval` with the state of
the previous one, and the plan advances on passing intervals. The result says whether the
challenger would have been promoted, rolled back or left inconclusive, when, and why.

A log with a ``unit`` column is judged per unit from the interval of its first keyed row on,
as the local runtime does once it recorded a keyed request, and its rows carry the runtime's
CUPED covariates (:func:`~modelcanary.analysis._covariates.log_covariates`: each unit's
champion error rate before the first served challenger request), so a recorded run replays
to the same verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..errors import SpecError, SpecIssue
from ..spec._analysis import Analysis
from ..spec._plan import StepPlan
from ._checks import CheckResult
from ._covariates import Covariates, log_covariates
from ._interval import AnalysisState, analyse_interval
from ._measurements import (
    IntervalData,
    NoData,
    PairedPredictions,
    Samples,
    Side,
    VersionData,
    Window,
    as_predictions,
    version_data,
)
from ._requestlog import MAX_WINDOWS, Request, mirror_copies, parse_log, window_count

BacktestVerdict = Literal["promoted", "rolled_back", "inconclusive"]
SERIES_BUCKETS = 10
"""Sub-windows per interval for the rate time series the mann-whitney judge compares."""


@dataclass(frozen=True)
class BacktestInterval:
    """One replayed interval."""

    index: int
    window: Window
    weight: int
    mirror_weight: int
    verdict: str
    action: str
    message: str
    checks: list[CheckResult]
    challenger_requests: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "index": self.index,
            "start": self.window.start,
            "end": self.window.end,
            "planned_weight": self.weight,
            "planned_mirror_weight": self.mirror_weight,
            "verdict": self.verdict,
            "action": self.action,
            "message": self.message,
            "challenger_requests": self.challenger_requests,
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class BacktestResult:
    """The replay's outcome, when it was reached, and every interval's checks."""

    verdict: BacktestVerdict
    decided_at: float | None
    """Log time (s) at the end of the deciding interval; None when the log ended first."""
    decided_after_s: float | None
    """Seconds from the first logged request to the decision."""
    challenger_requests_before_decision: int
    """Challenger rows (served or mirrored) up to the decision."""
    challenger_served_before_decision: int
    """Challenger rows that were not mirrored copies (users got the challenger's answer)."""
    reason: str
    intervals: list[BacktestInterval] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "verdict": self.verdict,
            "decided_at": self.decided_at,
            "decided_after_s": self.decided_after_s,
            "challenger_requests_before_decision": self.challenger_requests_before_decision,
            "challenger_served_before_decision": self.challenger_served_before_decision,
            "reason": self.reason,
            "intervals": len(self.intervals),
            "checks": [i.to_dict() for i in self.intervals],
        }


def backtest(spec: Any, log: Any, *, max_windows: int = MAX_WINDOWS) -> BacktestResult:
    """Replay ``log`` through the analysis of ``spec`` (a ModelRollout, its spec or Analysis).

    ``log`` is a sequence of dict-like rows, a mapping of columns, or anything with
    ``.to_dict("records")`` (a pandas DataFrame, duck-typed). Bad rows, and a log spanning
    more than ``max_windows`` analysis intervals, raise SpecError naming the row.
    """
    analysis = _analysis_of(spec)
    requests = parse_log(log)
    if not requests:
        raise SpecError(SpecIssue("log", "has no requests", "give at least one logged request"))
    plan = StepPlan.from_analysis(analysis)
    start = min(r.timestamp for r in requests)
    end = max(r.timestamp for r in requests)
    n_windows = window_count(requests, plan.interval_s, max_windows)
    copy_rows = {id(r) for r, copy in zip(requests, mirror_copies(requests), strict=True) if copy}
    # the runtime judges per unit from the first keyed request it recorded on
    first_keyed = min((r.timestamp for r in requests if r.unit), default=math.inf)
    covariates = log_covariates(requests)
    by_window: dict[int, list[Request]] = {}  # sparse: memory follows the rows, not the span
    for r in requests:
        k = min(n_windows - 1, int((r.timestamp - start) // plan.interval_s))
        by_window.setdefault(k, []).append(r)

    state = AnalysisState()
    passes = 0
    intervals: list[BacktestInterval] = []
    verdict: BacktestVerdict = "inconclusive"
    decided: float | None = None
    reason = ""
    for k in range(n_windows):
        rows = by_window.get(k, [])
        lo = start + k * plan.interval_s
        # the last window ends at the last request, but lasts at least a second (or the
        # interval): 1e-9 s vanishes next to a Unix time, and a zero-length window has no rate
        last = max(end, lo + min(1.0, plan.interval_s))
        hi = start + (k + 1) * plan.interval_s if k < n_windows - 1 else last
        window = Window(lo, hi)
        stage = plan.stage_after(passes)
        assert stage is not None
        # mirrored as the recorder says it too (a window with a mirror copy): the CUPED
        # comparison's plan reads it (modelcanary/analysis/_cuped_split.py)
        copies = any(id(r) in copy_rows for r in rows)
        data = interval_data(
            window,
            rows,
            mirrored=stage.mirror_weight > 0 or copies,
            keyed=first_keyed < hi or (k == n_windows - 1 and first_keyed < math.inf),
            covariates=covariates,
        )
        result = analyse_interval(analysis, data, state)
        state = result.state
        n_chal = sum(1 for r in rows if r.version == "challenger")
        intervals.append(
            BacktestInterval(
                k,
                window,
                stage.weight,
                stage.mirror_weight,
                result.verdict,
                result.action,
                result.message,
                result.checks,
                n_chal,
            )
        )
        if result.action == "advance":
            passes += 1
            if plan.stage_after(passes) is None:
                verdict, decided = "promoted", hi
                reason = f"all {plan.passes_to_promote} planned intervals passed"
                break
        elif result.action == "rollback":
            verdict, decided, reason = "rolled_back", hi, result.message
            break
        elif result.action == "inconclusive":
            verdict, decided, reason = "inconclusive", hi, result.message
            break
    else:
        reason = (
            f"log ended after {len(intervals)} interval(s) with {passes} of "
            f"{plan.passes_to_promote} planned passing intervals"
        )
    cutoff = decided if decided is not None else math.inf
    seen = [r for r in requests if r.version == "challenger" and r.timestamp < cutoff]
    served = [r for r in seen if id(r) not in copy_rows]
    return BacktestResult(
        verdict,
        decided,
        None if decided is None else min(decided, end) - start,
        len(seen),
        len(served),
        reason,
        intervals,
    )


def interval_data(
    window: Window,
    rows: Sequence[Request],
    mirrored: bool | None = None,
    *,
    keyed: bool | None = None,
    covariates: Covariates | None = None,
) -> IntervalData:
    """Measurements of one window from its logged requests (both versions, mirrored pairs).

    ``keyed``: give both versions unit rows (default: when a row of the window has a unit
    key); ``covariates``: each unit row's pre-period covariate, once ``window`` reaches past
    the pre-period's end (as the recorder fills them)."""
    import numpy as np

    sides: dict[Side, VersionData] = {}
    both: tuple[Side, Side] = ("champion", "challenger")
    if keyed is None:
        keyed = any(r.unit for r in rows)  # a log with user keys: judged per user (all rows)
    if covariates is not None and window.end <= covariates.end:
        covariates = None  # the window lies in the pre-period: no covariate yet
    for side in both:
        mine = [r for r in rows if r.version == side]
        has_pred = any(r.prediction is not None for r in mine)
        sides[side] = version_data(
            side,
            latencies_ms=(r.latency_ms for r in mine),
            errors=(r.status >= 500 for r in mine),
            predictions=[r.prediction for r in mine] if has_pred else None,
            series=_rate_series(window, mine),
            units=[r.unit or "" for r in mine] if keyed else None,
        )
        units = sides[side].units
        if units is not None and covariates is not None:
            x = np.array([covariates.of(r.timestamp, r.unit or "") for r in mine], np.float64)
            sides[side] = replace(sides[side], units=replace(units, covariates=x))
    champ = {r.request_id: r for r in rows if r.version == "champion" and r.request_id}
    pairs = [
        (champ[r.request_id].prediction, r.prediction)
        for r in rows
        if r.version == "challenger"
        and r.request_id in champ
        and r.prediction is not None
        and champ[r.request_id].prediction is not None
    ]
    paired: PairedPredictions | NoData = NoData("no mirrored request pairs")
    if pairs:
        paired = PairedPredictions(
            as_predictions(a for a, _ in pairs), as_predictions(b for _, b in pairs)
        )
    return IntervalData(window, sides["challenger"], sides["champion"], paired, mirrored)


def _rate_series(window: Window, rows: list[Request]) -> dict[str, Samples]:
    """Per-sub-window error and success rates (NaN where a sub-window had no requests)."""
    import numpy as np

    if not rows:
        return {}
    idx = np.minimum(
        ((np.array([r.timestamp for r in rows]) - window.start) / window.seconds * SERIES_BUCKETS)
        .astype(int)
        .clip(0),
        SERIES_BUCKETS - 1,
    )
    errors = np.array([r.status >= 500 for r in rows], dtype=np.float64)
    total = np.bincount(idx, minlength=SERIES_BUCKETS).astype(np.float64)
    bad = np.bincount(idx, weights=errors, minlength=SERIES_BUCKETS)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(total > 0, bad / total, np.nan)
    return {"error-rate": Samples(rate), "request-success-rate": Samples(100.0 * (1.0 - rate))}


def _analysis_of(spec: Any) -> Analysis:
    if isinstance(spec, Analysis):
        return spec
    inner = getattr(spec, "spec", spec)
    analysis = getattr(inner, "analysis", None)
    if not isinstance(analysis, Analysis):
        raise SpecError(SpecIssue("spec", "has no analysis", "give a ModelRollout or an Analysis"))
    return analysis


__all__ = [
    "MAX_WINDOWS",
    "BacktestInterval",
    "BacktestResult",
    "BacktestVerdict",
    "Request",
    "backtest",
    "interval_data",
    "parse_log",
]
