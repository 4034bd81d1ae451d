"""Properties of the distances and quantiles that must hold for any input (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcanary.analysis import (
    LatencyHistogram,
    histogram_quantile,
    js_distance,
    ks_statistic,
    psi,
)

counts = st.lists(st.integers(0, 1000), min_size=2, max_size=12).filter(lambda c: sum(c) > 0)
samples = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=60
)


@settings(max_examples=60, deadline=None)
@given(counts, counts)
def test_psi_and_js_are_non_negative_symmetric_bounded(p: list[int], q: list[int]) -> None:
    n = min(len(p), len(q))
    a, b = np.array(p[:n], dtype=float), np.array(q[:n], dtype=float)
    if a.sum() == 0 or b.sum() == 0:
        return
    assert psi(a, b) >= 0 and psi(a, a) == 0
    assert math.isclose(psi(a, b), psi(b, a), rel_tol=1e-9, abs_tol=1e-12)
    js = js_distance(a, b)
    assert 0 <= js <= 1 + 1e-12 and math.isclose(js, js_distance(b, a), abs_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_ks_is_a_bounded_symmetric_distance(x: list[float], y: list[float]) -> None:
    a, b = np.array(x), np.array(y)
    d = ks_statistic(a, b)
    assert 0 <= d <= 1 and math.isclose(d, ks_statistic(b, a))
    assert ks_statistic(a, a) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=8), st.floats(0, 1), st.floats(0, 1))
def test_histogram_quantile_is_monotone_and_within_bounds(
    per_bucket: list[int], q1: float, q2: float
) -> None:
    bounds = (*(float(10 * (i + 1)) for i in range(len(per_bucket))), math.inf)
    cumulative = tuple(float(c) for c in np.cumsum([*per_bucket, 0]))
    hist = LatencyHistogram(bounds, cumulative)
    if hist.total == 0:
        return
    lo, hi = sorted((q1, q2))
    a, b = histogram_quantile(lo, hist), histogram_quantile(hi, hist)
    assert isinstance(a, float) and isinstance(b, float)
    assert 0 <= a <= b <= bounds[-2]
