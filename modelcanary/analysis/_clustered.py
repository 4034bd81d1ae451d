"""Sequential tests by randomisation unit: honest variance when users stick to one version.

With session affinity (or routing by a user key) a user's requests all reach one version, and
users differ: one client's requests fail 5 % of the time, another's never; one sends large,
slow inputs. Two or three such users on the challenger move its error rate or its tail
latency although the model is the champion's twin, and a test that counts requests as
independent trials (the judge's default) reads that as evidence: the issue's audit measured
9-18 % false rollbacks at a 5 % false-rollback budget.

The fix is the standard one for cluster-randomised experiments: compare the versions by
*unit*. Each request's key (user or session id,
:class:`~modelcanary.analysis._measurements.UnitRequests`) is hashed into one of
:data:`BUCKETS` buckets per version; the state keeps each bucket's cumulative requests and
bad events (errors, or requests slower than the comparison's reference). A bucket holds
whole users, so buckets are independent: the variance of a version's rate (a ratio of sums)
is the cluster-robust one,

    V = K / (K - 1) * sum_k (bad_k - p * n_k)^2 / N^2     (K non-empty buckets, N requests)

inflated for few buckets by ``(t_{K-1} / z)^2`` at the 1 % level (a variance from K buckets
has K - 1 degrees of freedom) and never below the binomial variance of independent requests.
Both tests are then the normal-mixture mSPRT of Johari, Koomen, Pekelis & Walsh (*Always
Valid Inference*, Operations Research 2022) with that variance, mixed over several prior
scales (:data:`TAUS`):

* champion comparison, H0 ``p1 <= r0 p0`` (``r0`` as the request-level test: the ratio max of a
  relative error-rate check, else 1; latency limits are in the bad-event definition) or
  ``p1 - p0 <= max`` for ``comparison: difference``;
* SLO test, H0 ``p1 <= p_slo`` (variance at least the binomial one at ``p_slo``), fed only
  batches in which the champion did not breach the SLO too (environment incidents).

A test may reject only once each version it compares has :data:`MIN_UNITS` non-empty
buckets (a variance from two or three users is no variance). Each keeps the running minimum
of ``1 / Lambda`` as its always-valid p-value. Bounded state: six lists of :data:`BUCKETS`
integers per metric (plus :class:`CupedSums` when requests carry a pre-period covariate: the
error-rate comparison is then CUPED-adjusted, :mod:`modelcanary.analysis._cuped`).
"""

from __future__ import annotations

import functools
import hashlib
import math
from typing import TYPE_CHECKING

from ..spec._base import Model
from ._cuped_split import CupedSplit

if TYPE_CHECKING:
    from ._measurements import BoolArray, FloatArray, IntArray

BUCKETS = 64
"""Buckets per version: units are hashed into them (bounded state, independent buckets)."""
MIN_UNITS = 4
"""Non-empty buckets a version needs before a test on it may reject."""
TAUS: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3)
"""Prior scales of the rate difference, mixed evenly: unit-level variances range from a
request-level one (tiny) to that of a few heavy users, and a single scale suits only one."""
SMALL_SAMPLE_LEVEL = 0.01
"""Few buckets give a rough variance: it is inflated by ``(t_{K-1} / z)^2`` at this level."""


class CupedSums(Model):
    """Covariate sums of the unit-level comparison (CUPED, :mod:`modelcanary.analysis._cuped`)."""

    m0: list[int] = [0] * BUCKETS
    """Champion requests with a covariate, per bucket."""
    x0: list[float] = [0.0] * BUCKETS
    """Sum of the champion requests' covariates, per bucket."""
    m1: list[int] = [0] * BUCKETS
    """Challenger requests with a covariate, per bucket."""
    x1: list[float] = [0.0] * BUCKETS
    """Sum of the challenger requests' covariates, per bucket."""
    moments0: list[float] = [0.0, 0.0, 0.0]
    """Champion: sum of x^2, sum of x * bad, bad events among requests with a covariate."""
    moments1: list[float] = [0.0, 0.0, 0.0]
    """Challenger: the same three sums."""


class ClusteredState(Model):
    """Per-bucket cumulative counts of a metric's unit-level tests (JSON-serialisable)."""

    n0: list[int] = [0] * BUCKETS
    """Champion requests per bucket."""
    b0: list[int] = [0] * BUCKETS
    """Champion bad events per bucket (comparison reference)."""
    n1: list[int] = [0] * BUCKETS
    """Challenger requests per bucket."""
    b1: list[int] = [0] * BUCKETS
    """Challenger bad events per bucket (comparison)."""
    slo_n: list[int] = [0] * BUCKETS
    """Challenger requests per bucket in batches without an environment incident."""
    slo_b: list[int] = [0] * BUCKETS
    """Challenger SLO-bad events per bucket in those batches."""
    comparison_p: float = 1.0
    """Always-valid p-value of the champion comparison (running minimum of 1/Lambda; in a
    ``split`` plan the weighted Bonferroni p of two running minima, see ``split``)."""
    slo_p: float = 1.0
    """Always-valid p-value of the SLO test."""
    cuped: CupedSums | None = None
    """Pre-period covariate sums (None: no request had a covariate, no adjustment)."""
    split: CupedSplit | None = None
    """How the comparison spends its share between the unadjusted and the CUPED-adjusted
    statistic (:mod:`modelcanary.analysis._cuped_split`; None: no challenger request yet,
    or a status written before plans existed)."""


def buckets(keys: tuple[str, ...]) -> IntArray:
    """Each request's bucket: a stable hash of its unit key (an empty key: its own unit)."""
    import numpy as np

    out = np.empty(len(keys), dtype=np.int64)
    for i, key in enumerate(keys):
        out[i] = _bucket_of(key) if key else i % BUCKETS
    return out


@functools.lru_cache(maxsize=65_536)
def _bucket_of(key: str) -> int:
    """A key's bucket (cached: a user's key recurs in every window it sends requests in)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def bucket_sums(index: IntArray, bad: BoolArray | FloatArray) -> tuple[list[int], list[int]]:
    """(requests, bad events) per bucket of one batch."""
    import numpy as np

    n = np.bincount(index, minlength=BUCKETS)
    b = np.bincount(index, weights=np.asarray(bad, dtype=np.float64), minlength=BUCKETS)
    return [int(v) for v in n], [round(float(v)) for v in b]


def added(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


def rate_and_variance(n: list[int], bad: list[int]) -> tuple[float, float, int]:
    """A version's rate, its cluster-robust variance (floored at the binomial one) and the
    number of non-empty buckets; variance ``inf`` without requests."""
    total = sum(n)
    used = sum(1 for v in n if v)
    if total == 0:
        return 0.0, math.inf, 0
    p = sum(bad) / total
    binomial = _binomial(p, total)
    if used < 2:
        return p, binomial, used
    spread = sum((b - p * k) ** 2 for k, b in zip(n, bad, strict=True) if k)
    cluster = used / (used - 1) * spread / total**2 * _few_buckets(used)
    return p, max(cluster, binomial), used


@functools.lru_cache(maxsize=BUCKETS + 1)
def _few_buckets(used: int) -> float:
    """``(t_{K-1} / z)^2`` at :data:`SMALL_SAMPLE_LEVEL`: a variance estimated from K buckets
    has K - 1 degrees of freedom, so its tail is Student's, not normal (1.18 at 20 buckets,
    2.6 at 5)."""
    from scipy.stats import norm, t

    if used >= BUCKETS:
        return 1.0
    level = 1 - SMALL_SAMPLE_LEVEL
    return float((t.ppf(level, used - 1) / norm.ppf(level)) ** 2)


def _binomial(p: float, total: int) -> float:
    """Binomial variance of a rate, with a half-count floor so zero events are not certain."""
    q = min(max(p, 0.5 / (total + 1)), 1 - 0.5 / (total + 1))
    return q * (1 - q) / total


def msprt_p(diff: float, variance: float) -> float:
    """1 / Lambda of the one-sided normal-mixture mSPRT, the mixture an even one over the
    prior scales :data:`TAUS` (1 when the estimate is not above the null)."""
    if diff <= 0 or not math.isfinite(variance) or variance <= 0:
        return 1.0
    logs = []
    for tau in TAUS:
        tau2 = tau * tau
        logs.append(
            0.5 * math.log(variance / (variance + tau2))
            + tau2 * diff * diff / (2 * variance * (variance + tau2))
        )
    top = max(logs)
    log_lam = top + math.log(sum(math.exp(v - top) for v in logs) / len(logs))
    return 1.0 if log_lam <= 0 else math.exp(-min(log_lam, 700.0))


def comparison_p(state: ClusteredState, r0: float, margin: float) -> float:
    """This look's p of H0 ``p1 <= r0 p0 + margin`` (1 until both have MIN_UNITS buckets)."""
    p1, v1, k1 = rate_and_variance(state.n1, state.b1)
    p0, v0, k0 = rate_and_variance(state.n0, state.b0)
    if k1 < MIN_UNITS or k0 < MIN_UNITS:
        return 1.0
    return msprt_p(p1 - r0 * p0 - margin, v1 + r0 * r0 * v0)


def slo_p(state: ClusteredState, p_slo: float) -> float:
    """This look's p of H0 ``p1 <= p_slo`` (1 until MIN_UNITS buckets)."""
    p1, v1, k1 = rate_and_variance(state.slo_n, state.slo_b)
    if k1 < MIN_UNITS:
        return 1.0
    total = sum(state.slo_n)
    return msprt_p(p1 - p_slo, max(v1, p_slo * (1 - p_slo) / total))


def design_effects(state: ClusteredState) -> tuple[float, float]:
    """(champion, challenger) variance over the binomial variance of as many independent
    requests (>= 1): how much the units widen a request-level band."""

    def effect(n: list[int], bad: list[int]) -> float:
        total = sum(n)
        if total == 0:
            return 1.0
        p, variance, _ = rate_and_variance(n, bad)
        return max(1.0, variance / _binomial(p, total))

    return effect(state.n0, state.b0), effect(state.n1, state.b1)
