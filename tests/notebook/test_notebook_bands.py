"""The widget's always-valid band: the inversion of the judge's normal-mixture mSPRT, with
coverage under repeated looks, read from the sequential state the engine stores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelcanary.analysis.sequential import DEFAULT_TAU, GaussianState
from modelcanary.notebook.bands import (
    Band,
    Counts,
    comparison_alpha,
    difference_band,
    intersect,
    state_counts,
)


def _log_mixture(counts: Counts, theta: float, tau: float = DEFAULT_TAU) -> float:
    """log Lambda(theta) of the normal-mixture mSPRT with the band's variance."""
    s0 = (counts.x0 + 0.5) / (counts.n0 + 1.0)
    s1 = (counts.x1 + 0.5) / (counts.n1 + 1.0)
    v = s0 * (1 - s0) / counts.n0 + s1 * (1 - s1) / counts.n1
    d = counts.x1 / counts.n1 - counts.x0 / counts.n0
    t2 = tau * tau
    return 0.5 * math.log(v / (v + t2)) + t2 * (d - theta) ** 2 / (2 * v * (v + t2))


def test_band_ends_are_where_the_mixture_reaches_one_over_alpha() -> None:
    counts = Counts(n0=2000, x0=20, n1=500, x1=15)
    band = difference_band(counts, 0.05)
    assert band is not None
    assert band.estimate == pytest.approx(15 / 500 - 20 / 2000)
    for end in (band.low, band.high):
        assert _log_mixture(counts, end) == pytest.approx(math.log(20), rel=1e-9)
    inside = _log_mixture(counts, band.estimate)
    assert inside < math.log(20)  # the estimate itself is never rejected
    assert difference_band(counts, 0.01).low < band.low  # more confidence, wider band
    assert difference_band(Counts(0, 0, 10, 1), 0.05) is None
    tiny = difference_band(Counts(3, 0, 2, 1), 0.01)
    assert tiny is not None and tiny.low == -1.0 and tiny.high == 1.0  # rates differ by <= 1
    with pytest.raises(ValueError, match="alpha"):
        difference_band(counts, 1.5)


def test_band_covers_the_true_difference_at_every_look() -> None:
    """Under repeated looks (40 batches) the running band misses the truth in <= alpha of
    the runs (Ville's inequality; the normal approximation is fine at these counts)."""
    rng = np.random.default_rng(7)
    runs, alpha, misses = 400, 0.05, 0
    for _ in range(runs):
        n0 = x0 = n1 = x1 = 0
        band: Band | None = None
        missed = False
        for _ in range(40):
            n0, n1 = n0 + 300, n1 + 100
            x0 += int(rng.binomial(300, 0.02))
            x1 += int(rng.binomial(100, 0.02))
            now = difference_band(Counts(n0, x0, n1, x1), alpha)
            assert now is not None
            band = intersect(band, now)
            missed = missed or not band.low <= 0.0 <= band.high
        misses += missed
    assert misses / runs <= alpha


def test_a_worse_challenger_gets_a_band_above_zero() -> None:
    band = difference_band(Counts(n0=4000, x0=40, n1=2000, x1=120), 0.025)
    assert band is not None and band.low > 0 and band.verdict == "worse"
    better = difference_band(Counts(n0=4000, x0=400, n1=4000, x1=40), 0.025)
    assert better is not None and better.verdict == "better"


def test_intersection_never_widens_and_never_vanishes() -> None:
    a, b = Band(0.0, -0.02, 0.03, 10), Band(0.01, -0.01, 0.05, 20)
    both = intersect(a, b)
    assert (both.low, both.high, both.estimate, both.requests) == (-0.01, 0.03, 0.01, 20)
    apart = Band(0.2, 0.1, 0.3, 30)
    assert intersect(a, apart) == apart
    assert intersect(None, a) == a


def test_counts_from_the_stored_state() -> None:
    gauss = GaussianState(n0=100, x0=2, n1=50, x1=3).model_dump(mode="json")
    assert state_counts({"difference": gauss}) == Counts(100, 2, 50, 3)
    assert state_counts({"pairs": gauss, "difference": None}) == Counts(100, 2, 50, 3)
    assert state_counts({"slo": {"log_lr": [0.0]}}) is None
    assert state_counts(None) is None
    assert comparison_alpha({"slo": {"log_lr": []}}, 0.05) == 0.025
    assert comparison_alpha({"difference": gauss}, 0.05) == 0.05
