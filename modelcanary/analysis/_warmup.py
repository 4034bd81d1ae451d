"""The warm-up (``analysis.warmup``): the challenger's first traffic is recorded, not judged.

A new model version is often slow at first (cold caches, JIT compilation, weights loaded
lazily on the first request): three times slower for a minute, then as fast as the champion.
Judged from its first request, such a challenger is rolled back although it is healthy (the
champion comparison rightly says it *was* slower). Flagger has no warm-up; Argo Rollouts has
``initialDelay`` and Kayenta (Spinnaker) a warm-up period before the canary analysis starts.

The rule: the warm-up is counted from the start of the first window the analysis sees (the
challenger's first traffic: the engine's first window starts when the first stage routes
traffic). A window (an interval, or a batch of :func:`~modelcanary.analysis._interval.check_batch`)
that **starts** before the warm-up ends is not judged: its values are recorded with verdict
``skipped``, the sequential tests do not see its requests, drift checks do not pool its
predictions, and the interval holds the step (``hold``) without counting toward promotion,
``threshold``, ``inconclusiveLimit`` or the hold deadline. So the warm-up rounds up to whole
intervals (batches). A challenger that stays slow after it is judged, and caught, as usual.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..spec._analysis import Analysis
from ..spec._base import parse_duration
from ._checks import CheckResult, threshold_check
from ._judges import select_judge
from ._measurements import IntervalData, Window

if TYPE_CHECKING:
    from ._interval import AnalysisState


def warmup_left(analysis: Analysis, started: float, window: Window) -> float | None:
    """Seconds of warm-up left when ``window`` starts (None: the window is judged)."""
    if analysis.warmup is None:
        return None
    end = started + parse_duration(analysis.warmup)
    return end - window.start if window.start < end - 1e-9 else None


def warmup_checks(analysis: Analysis, data: IntervalData) -> list[CheckResult]:
    """Every metric's value in a warm-up window, recorded with verdict ``skipped``."""
    checks = []
    for metric in analysis.metrics:
        point = threshold_check(metric, data, "skip", judge=select_judge(metric, data))
        checks.append(
            replace(point, verdict="skipped", reason=f"{point.reason}; warm-up: not judged")
        )
    return checks


def warmup_message(analysis: Analysis, left: float) -> str:
    """``warming up: ... (analysis.warmup 1m); 30s left``."""
    return (
        f"warming up: the challenger's first {analysis.warmup} of traffic is recorded, not "
        f"judged (analysis.warmup); {left:g}s left, the step holds"
    )


def started_at(state: AnalysisState, window: Window) -> float:
    """Where the warm-up is counted from: the first window the analysis saw."""
    return state.started if state.started is not None else window.start
