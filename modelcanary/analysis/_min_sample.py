"""Minimum samples of threshold-judged checks: too few to fail is "not enough evidence yet".

Flagger judges one interval's value against its range whatever the interval held. On a handful
of requests that value is noise: the p99 of five latencies is their maximum, one error in
twenty requests is a 5 % error rate, and a p99 *ratio* of two such maxima swung 0.93-2.1
between intervals of a healthy challenger and rolled it back while the band beside it said
"no difference shown yet". The rule, per metric kind, on the side(s) the check reads:

* **quantiles** (``latency-p50/p90/p95/p99``, ``request-duration``; samples or histogram
  buckets): at least ``ceil(1 / (1 - q))`` observations (p99: 100, p95: 20, p90: 10, p50: 2).
  Below that the q-quantile is not an observed value but the sample's maximum, or an
  interpolation towards it; a ratio of two such values is a ratio of two maxima;
* **proportions** against an absolute bound (``error-rate`` max ``b``, ``request-success-rate``
  min ``100 (1 - b)``, ``prediction-agreement`` min ``1 - b``): at least ``ceil(1 / b)``
  requests (pairs), so that **one bad event alone cannot breach the bound** (error rate max
  1 %: 100 requests; agreement min 0.95: 20 pairs). A zero bound (``max: 0``: any error
  fails) has no minimum: the user asked for exactly that;
* **proportions relative to the champion**: each version ``ceil(1 / d)`` requests for a
  ``difference`` max ``d``, and :data:`MIN_RELATIVE_TRIALS` (100: a 1 % rate is seen once)
  for a ``ratio``;
* no minimum where the sample size is unknown or the statistic has its own rule: provider
  scalars and custom queries (a ``Scalar`` carries no count), means of provider samples,
  throughput, and prediction drift (judged on pooled windows, :mod:`._drift_pool`).

Below its minimum a **failing** check *waits* (verdict ``inconclusive``, ``waiting``): the step
holds, bounded by the hold deadline, and the interval counts toward neither promotion nor
``threshold``. Two exceptions keep clear faults fast: an absolute proportion or quantile
breach that is significant even at that size (a one-sided binomial test against the bound:
``P(X >= bad | n, b) <= 0.001``, e.g. 2 of 5 requests slower than a p99 bound, or 10 errors
in 20 requests against max 1 %) fails as before. A **passing** check still passes
(Flagger's rule; the default sequential metrics guard promotion with their own tests).
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..spec._catalogue import LATENCY_QUANTILES, RATE_METRICS
from ..spec._metric_spec import MetricSpec
from ._checks import CheckResult
from ._measurements import (
    Counts,
    IntervalData,
    LatencyHistogram,
    NoData,
    PairedPredictions,
    Samples,
    Scalar,
    VersionData,
)

MIN_RELATIVE_TRIALS = 100
"""Requests per version a rate ratio needs (a 1 % rate is then seen about once)."""
CLEAR_BREACH_P = 0.001
"""A breach below the minimum still fails when a one-sided binomial test at the bound gives
at most this p-value (it is not noise, however small the sample)."""


def minimum_samples(metric: MetricSpec) -> int | None:
    """Observations each side the check reads needs before it may fail (None: no rule)."""
    rng = metric.effective_range()
    if rng is None or not metric.is_builtin:
        return None
    name = metric.name
    if name in LATENCY_QUANTILES:
        return math.ceil(1.0 / (1.0 - LATENCY_QUANTILES[name]) - 1e-9)
    if name in RATE_METRICS and metric.relative_to == "champion":
        if metric.comparison == "difference":
            from ._sequential_events import difference_margin

            width = abs(difference_margin(metric))
            return math.ceil(1.0 / width - 1e-9) if 0 < width < 1 else None
        return MIN_RELATIVE_TRIALS
    bound = bad_fraction_bound(metric)
    if bound is None or not 0 < bound < 1:
        return None
    return math.ceil(1.0 / bound - 1e-9)


def bad_fraction_bound(metric: MetricSpec) -> float | None:
    """The fraction of bad events an absolute range allows: error-rate ``max``, success-rate
    ``1 - min/100``, agreement ``1 - min``, a latency quantile's ``1 - q`` (None: other)."""
    rng = metric.effective_range()
    if rng is None or metric.relative_to == "champion":
        return None
    if metric.name == "error-rate" and rng.max is not None:
        return rng.max
    if metric.name == "request-success-rate" and rng.min is not None:
        return 1.0 - rng.min / 100.0
    if metric.name == "prediction-agreement" and rng.min is not None:
        return 1.0 - rng.min
    if metric.name in LATENCY_QUANTILES and rng.max is not None:
        return 1.0 - LATENCY_QUANTILES[metric.name]
    return None


def sample_size(metric: MetricSpec, data: IntervalData, side: VersionData) -> int | None:
    """Observations behind the side's value of the metric (None: unknown, e.g. a scalar)."""
    import numpy as np

    given = side.values.get(metric.name)
    if isinstance(given, Scalar | NoData):
        return None
    if isinstance(given, Samples):
        return int(np.count_nonzero(np.isfinite(given.values)))
    if metric.name == "prediction-agreement":
        return len(data.paired) if isinstance(data.paired, PairedPredictions) else None
    if metric.name in LATENCY_QUANTILES:
        lat = side.latencies
        if isinstance(lat, Samples):
            return int(np.count_nonzero(~np.isnan(lat.values)))
        if isinstance(lat, LatencyHistogram):
            total = lat.total
            return int(total) if math.isfinite(total) else None
        return None
    if metric.name in RATE_METRICS and isinstance(side.counts, Counts):
        return side.counts.total
    return None


def hold_small_sample(metric: MetricSpec, data: IntervalData, check: CheckResult) -> CheckResult:
    """A failing threshold check on fewer observations than :func:`minimum_samples` waits,
    unless the breach is clear at that size (:func:`_clear_breach`); anything else is kept."""
    if check.verdict != "fail" or check.decisive:
        return check
    needed = minimum_samples(metric)
    if needed is None:
        return check
    sides = [("challenger", data.challenger)]
    if metric.relative_to == "champion" and metric.name != "prediction-agreement":
        sides.append(("champion", data.champion))
    short = []
    for label, side in sides:
        n = sample_size(metric, data, side)
        if n is not None and n < needed:
            short.append(f"{n} {label}")
    if not short or _clear_breach(metric, data):
        return check
    what = "pairs" if metric.name == "prediction-agreement" else _unit(metric)
    reason = (
        f"{check.reason} on {' and '.join(short)} {what}, fewer than the {needed} this check "
        f"needs per version to mean anything (minimum sample: {_why(metric)}): not judged, "
        f"not enough evidence yet"
    )
    return replace(check, verdict="inconclusive", reason=reason, waiting=True)


def _clear_breach(metric: MetricSpec, data: IntervalData) -> bool:
    """True when the challenger's bad events alone reject "the bound holds" (binomial)."""
    import numpy as np

    bound = bad_fraction_bound(metric)
    if bound is None or not 0 < bound < 1 or metric.name in data.challenger.values:
        return False
    side = data.challenger
    rng = metric.effective_range()
    assert rng is not None
    if metric.name in RATE_METRICS and isinstance(side.counts, Counts):
        bad, n = side.counts.errors, side.counts.total
    elif metric.name in LATENCY_QUANTILES and isinstance(side.latencies, Samples):
        values = side.latencies.values[~np.isnan(side.latencies.values)]
        assert rng.max is not None
        bad, n = int(np.sum(values > rng.max)), len(values)
    elif metric.name == "prediction-agreement" and isinstance(data.paired, PairedPredictions):
        from ._sli import agreement

        result = agreement(data.paired, metric.tolerance)
        if isinstance(result, NoData):
            return False
        n = result.pairs
        bad = n - round(result.rate * n)
    else:
        return False
    return n > 0 and binomial_tail(bad, n, bound) <= CLEAR_BREACH_P


def binomial_tail(k: int, n: int, p: float) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, p)`` (exact sum; n is small here)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * log_p
        + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _unit(metric: MetricSpec) -> str:
    return "latencies" if metric.name in LATENCY_QUANTILES else "requests"


def _why(metric: MetricSpec) -> str:
    if metric.name in LATENCY_QUANTILES:
        q = LATENCY_QUANTILES[metric.name]
        return f"below 1/(1-q) = {1 / (1 - q):.4g} the p{q * 100:g} is the sample's maximum"
    if metric.relative_to == "champion":
        return "each version's rate must be able to show a bad event before the two compare"
    return "one bad event alone must not breach the bound"
