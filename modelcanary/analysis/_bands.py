"""Always-valid confidence bands of the challenger-vs-champion difference, from the judge's state.

The sequential judge keeps cumulative counts of both versions in the rollout status
(``status.analysis_state["sequential"][metric]``, a :class:`SequentialState`): requests and
bad events (errors, or requests slower than the batch's pooled quantile for latency). From
them this module derives the **confidence sequence** of the difference ``p1 - p0`` in the
rate of bad events: the inversion of the same normal-mixture mSPRT the judge uses (Johari,
Koomen, Pekelis & Walsh, "Always Valid Inference", Operations Research 2022; Robbins'
mixture)::

    d +- sqrt(2 V (V + tau^2) / tau^2 * (log(1/alpha) + log(sqrt((V + tau^2) / V))))

with ``d`` the observed difference and ``V`` its variance. Intervals computed after every
batch may be looked at as often as one likes: with probability at least ``1 - alpha`` every
one of them holds the true difference at once, so their **running intersection** (the
largest low and the smallest high over the looks, :func:`intersect`) does too; that is the
band to draw. A band entirely above 0 says "the challenger is worse" with that confidence.

Its level is the part of the metric's ``alpha`` the judge's champion comparison spends
(:func:`~modelcanary.analysis._judges.comparison_alpha`, not re-derived here). The status is
parsed once, by :func:`sequential_states`. Pure: no I/O, no plotting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..spec._analysis import Analysis
from ..spec._metric_spec import MetricSpec
from ._checks import metric_key
from ._interval import AnalysisState, shared_alpha
from ._judges import SequentialState, comparison_alpha
from ._sequential import DEFAULT_TAU, GaussianState


@dataclass(frozen=True)
class Band:
    """The difference ``p1 - p0`` (challenger minus champion) and its always-valid interval."""

    estimate: float
    """Observed difference of bad-event rates."""
    low: float
    """Lower end of the confidence sequence."""
    high: float
    """Upper end of the confidence sequence."""
    requests: int
    """Requests of both versions behind it."""

    @property
    def verdict(self) -> str:
        """``worse`` (band above 0), ``better`` (below 0) or ``unsure`` (it holds 0)."""
        if self.low > 0:
            return "worse"
        if self.high < 0:
            return "better"
        return "unsure"


def difference_band(counts: GaussianState, alpha: float, tau: float = DEFAULT_TAU) -> Band | None:
    """The two-sided normal-mixture confidence sequence for ``p1 - p0`` at level ``1 - alpha``.

    The variance uses half-count continuity corrections (as the judge does), so zero bad
    events do not give a zero-width band; the band is clipped to [-1, 1], where any difference
    of two rates lies. None until both versions have requests.
    """
    if counts.n0 <= 0 or counts.n1 <= 0:
        return None
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (got {alpha})")
    p0 = counts.x0 / counts.n0
    p1 = counts.x1 / counts.n1
    s0 = (counts.x0 + 0.5) / (counts.n0 + 1.0)
    s1 = (counts.x1 + 0.5) / (counts.n1 + 1.0)
    variance = s0 * (1 - s0) / counts.n0 + s1 * (1 - s1) / counts.n1
    tau2 = tau * tau
    log_term = math.log(1 / alpha) + 0.5 * math.log((variance + tau2) / variance)
    half = math.sqrt(2 * variance * (variance + tau2) / tau2 * log_term)
    diff = p1 - p0
    # a difference of two rates lies in [-1, 1]: the band never needs to reach beyond
    return Band(diff, max(-1.0, diff - half), min(1.0, diff + half), counts.n0 + counts.n1)


def intersect(previous: Band | None, current: Band) -> Band:
    """The running intersection (still a confidence sequence); the current band where the two
    do not overlap (possible only through the variance estimate), so it never vanishes."""
    if previous is None:
        return current
    low, high = max(previous.low, current.low), min(previous.high, current.high)
    if low > high:
        return current
    return Band(current.estimate, low, high, current.requests)


def sequential_states(analysis_state: Mapping[str, Any] | None) -> dict[str, SequentialState]:
    """The judge's typed state of each metric key, parsed from ``status.analysis_state``.

    The one reader of the stored sequential state outside the engine (the status keeps other
    entries beside it, e.g. the engine's pending effects: only ``sequential`` is read).
    """
    stored = (analysis_state or {}).get("sequential") or {}
    return AnalysisState.model_validate({"sequential": stored}).sequential


def stored_held(analysis_state: Mapping[str, Any] | None) -> int:
    """Consecutive intervals the rollout has waited for evidence, from the stored state
    (:attr:`AnalysisState.held`; 0 when absent, e.g. a status written before it existed)."""
    held = (analysis_state or {}).get("held", 0)
    return AnalysisState.model_validate({"held": held or 0}).held


def state_counts(state: SequentialState | None) -> GaussianState | None:
    """Cumulative counts of both versions: the ``pairs`` the judge records for every
    sequential metric, else the Gaussian test's (``comparison: difference``); None until
    both versions have requests."""
    if state is None:
        return None
    for counts in (state.pairs, state.difference):
        if counts is not None and counts.n0 and counts.n1:
            return counts
    return None


def metric_alpha(analysis: Analysis, metric: MetricSpec) -> float:
    """The metric's false-rollback budget: its own ``alpha``, else the rollout's shared one
    (what the engine passes to the judge)."""
    return metric.alpha or shared_alpha(analysis)


def band_level(analysis: Analysis, key: str) -> float:
    """The alpha of the band of metric ``key`` (``error-rate``, ``error-rate@champion``): the
    part of the metric's budget the judge's champion comparison spends."""
    for metric in analysis.metrics:
        if metric_key(metric) == key:
            return comparison_alpha(metric, metric_alpha(analysis, metric))
    return shared_alpha(analysis)


def current_band(analysis: Analysis, key: str, state: SequentialState | None) -> Band | None:
    """The band of metric ``key`` at this look (before intersecting with earlier looks)."""
    counts = state_counts(state)
    return None if counts is None else difference_band(counts, band_level(analysis, key))
