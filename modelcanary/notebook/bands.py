"""Always-valid confidence bands for the widget, derived from the sequential judge's state.

The sequential judge keeps cumulative counts of both versions in the rollout status
(``status.analysis_state["sequential"][metric]``): requests and bad events (errors, or
requests slower than the batch's pooled quantile for latency). From them this module derives
the **confidence sequence** of the challenger-vs-champion difference ``p1 - p0`` in the rate
of bad events: the inversion of the same normal-mixture mSPRT the judge uses (Johari, Koomen,
Pekelis & Walsh, "Always Valid Inference", Operations Research 2022; Robbins' mixture)::

    d +- sqrt(2 V (V + tau^2) / tau^2 * (log(1/alpha) + log(sqrt((V + tau^2) / V))))

with ``d`` the observed difference and ``V`` its variance. Intervals computed after every
batch may be looked at as often as one likes: with probability at least ``1 - alpha`` every
one of them holds the true difference at once (so their running intersection does too). A band
entirely above 0 says "the challenger is worse" with that confidence, whenever one looks.

Counts come from the state's ``pairs`` entry (every sequential metric, when the analysis
records it) or its ``difference`` entry (the Gaussian test of ``comparison: difference``).
Pure: no I/O, no plotting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..analysis.sequential import DEFAULT_TAU


@dataclass(frozen=True)
class Counts:
    """Cumulative requests and bad events of each version."""

    n0: int
    """Champion requests."""
    x0: int
    """Champion bad events (errors, slow requests)."""
    n1: int
    """Challenger requests."""
    x1: int
    """Challenger bad events."""


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


def difference_band(counts: Counts, alpha: float, tau: float = DEFAULT_TAU) -> Band | None:
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


def state_counts(state: dict[str, Any] | None) -> Counts | None:
    """Cumulative counts of both versions from one metric's stored sequential state."""
    if not state:
        return None
    for key in ("pairs", "difference"):
        item = state.get(key)
        if isinstance(item, dict) and item.get("n0") and item.get("n1"):
            return Counts(
                int(item["n0"]), int(item.get("x0", 0)), int(item["n1"]), int(item.get("x1", 0))
            )
    return None


def comparison_alpha(state: dict[str, Any], alpha: float) -> float:
    """The part of the metric's ``alpha`` the champion comparison spends (the judge splits it
    evenly with the SLO test when the metric has one)."""
    return alpha / 2 if state.get("slo") else alpha
