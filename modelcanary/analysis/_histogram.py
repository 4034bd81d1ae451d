"""Latency histogram buckets as per-request evidence for the sequential tests.

A Prometheus-backed rollout has no per-request latencies, only bucket counters. When the
provider measured the buckets as whole requests (``LatencyHistogram.exact``: counter values
at the window's two edges subtracted, so consecutive windows tile and every request is
counted once), the buckets are counts and the sequential tests can use them: each request
becomes one *bucketed latency* at the top of its bucket: the ``n`` requests of the bucket
with upper bound ``u`` sit evenly in ``(u * (1 - 1e-9), u]`` (``+Inf`` as
:data:`ABOVE_ALL`, a finite number above every bound so quantile arithmetic stays finite).
Then

- **SLO test**: bad events = requests slower than the SLO ``max`` = ``count - cumulative
  count at the largest bound <= max``. When ``max`` is a bound this is exact. When it is not,
  the requests of the bucket that straddles ``max`` count as slow although some were not:
  more bad events, so the test leans toward rollback, never toward promoting a challenger
  whose tail it cannot see (validation warns, :mod:`modelcanary.spec._bucket_bounds`);
  (A max within a relative 1e-9 below a bound reads as that bound.)
- **champion comparison**: the pooled q-quantile reference and "slower than it" are
  computed on both versions' bucketed latencies alike, so under H0 (same latency
  distribution) the bucketed values are exchangeable too and the test keeps its ``alpha``.
  The reference usually falls inside a bucket: spreading each version's requests evenly
  over the bucket's top sliver splits that bucket between "slower" and "not slower" in
  proportion to each version's count in it (mid-rank ties), instead of all-or-nothing at
  the bound, which would leave the test without events. It only loses power inside one
  bucket.

An extrapolated ``increase()`` (fractional counts, windows that overlap by the
extrapolation) is not a count: such histograms stay with the threshold judge.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ._measurements import LatencyHistogram, Samples, VersionData

if TYPE_CHECKING:
    from ._measurements import FloatArray

ABOVE_ALL = sys.float_info.max
"""Bucketed latency of the ``+Inf`` bucket: above every SLO max, finite for numpy."""
SLIVER = 1e-9
"""Relative width of the top of a bucket where its requests are spread."""


def bucketed_latencies(hist: LatencyHistogram) -> FloatArray | None:
    """One value per counted request, at the top of its bucket (ms): the ``n`` requests of
    the bucket with upper bound ``u`` at ``u * (1 - SLIVER * (k + 0.5) / n)``, k < n. None
    when the histogram's counts are not whole requests, or are empty."""
    import numpy as np

    if not hist.exact or hist.total <= 0:
        return None
    cumulative = np.rint(np.asarray(hist.cumulative, dtype=np.float64)).astype(np.int64)
    per_bucket = np.diff(cumulative, prepend=0).clip(min=0)
    bounds = np.asarray(hist.bounds, dtype=np.float64)
    bounds = np.where(np.isinf(bounds), ABOVE_ALL, bounds)
    upper = np.repeat(bounds, per_bucket)
    n = np.repeat(per_bucket, per_bucket)
    k = np.arange(len(upper)) - np.repeat(np.cumsum(per_bucket) - per_bucket, per_bucket)
    spread: FloatArray = upper * (1.0 - SLIVER * (k + 0.5) / n)
    return spread


def latency_evidence(side: VersionData) -> FloatArray | None:
    """Per-request latencies (ms) the sequential tests use: the samples (NaN dropped), or
    the bucketed latencies of an exact histogram; None when there are none."""
    import numpy as np

    lat = side.latencies
    if isinstance(lat, Samples) and len(lat.values):
        return lat.values[~np.isnan(lat.values)]
    if isinstance(lat, LatencyHistogram):
        return bucketed_latencies(lat)
    return None


def slow_requests(latencies: FloatArray, limit: float) -> tuple[int, int]:
    """(requests slower than ``limit`` ms, requests). On bucketed latencies this is
    ``count - cumulative(largest bound <= limit)``: a request counts as within ``limit``
    only when its whole bucket is (the values sit at the top of their bucket)."""
    import numpy as np

    return int(np.count_nonzero(latencies > limit)), len(latencies)


def counted_bound(bounds: tuple[float, ...], limit: float) -> float | None:
    """The bound the SLO test really uses for ``limit``: the largest bucket bound
    ``<= limit`` (None: every request counts as slow)."""
    return max((b for b in bounds if b <= limit), default=None)


__all__ = [
    "ABOVE_ALL",
    "bucketed_latencies",
    "counted_bound",
    "latency_evidence",
    "slow_requests",
]
