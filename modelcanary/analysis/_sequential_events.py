"""The sequential tests' events: what one batch counts as bad, their nulls, how they read.

Shared by the request-level judge (:mod:`modelcanary.analysis._judges`) and its unit-level
path (:mod:`modelcanary.analysis._judge_units`), so both test the same hypotheses: the
per-request data a test reads (error counts, latency samples or an exact histogram's
buckets), the bad events in it (errors; requests slower than the SLO max or than the batch's
pooled quantile), the SLO test's null rate and the allowed difference, and the words a
rejection's reason gives for the SLO test and the champion comparison.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..spec._catalogue import LATENCY_METRICS, LATENCY_QUANTILES
from ..spec._metric_spec import MetricSpec
from ._checks import fmt
from ._measurements import Counts, NoData, Samples, VersionData
from ._sequential import MixtureState

if TYPE_CHECKING:
    from ._measurements import FloatArray


def raw_values(metric: MetricSpec, side: VersionData) -> Counts | FloatArray | None:
    """Per-request data the sequential tests use: counts for rates; latency samples, or
    an exact histogram's bucketed latencies (:mod:`modelcanary.analysis._histogram`)."""
    from ._histogram import latency_evidence

    if metric.name in LATENCY_METRICS:
        latencies = latency_evidence(side)
        return latencies if latencies is not None and len(latencies) else None
    if isinstance(side.counts, Counts) and side.counts.total > 0:
        return side.counts
    return None


def no_requests(metric: MetricSpec, side: VersionData) -> bool:
    """True when the side served no request in the window (per-request data that is empty),
    as opposed to a provider gap: low traffic, not missing data."""
    field = side.latencies if metric.name in LATENCY_METRICS else side.counts
    if isinstance(field, Counts):
        return field.total == 0
    if isinstance(field, Samples):
        return len(field.values) == 0
    return isinstance(field, NoData) and field.reason in ("no requests", "no latencies")


def slo_null(metric: MetricSpec) -> float | None:
    """Null bad-event probability of the SLO test, or None when it cannot be tested."""
    rng = metric.effective_range()
    if rng is None:
        return None
    if metric.name == "error-rate" and rng.max is not None:
        p0 = rng.max
    elif metric.name == "request-success-rate" and rng.min is not None:
        p0 = 1.0 - rng.min / 100.0
    elif metric.name in LATENCY_METRICS and rng.max is not None:
        p0 = 1.0 - LATENCY_QUANTILES[metric.name]
    else:
        return None
    return p0 if 0 < p0 < 1 else None


def bad_events(metric: MetricSpec, data: Counts | FloatArray) -> tuple[int, int]:
    """(bad events, trials): errors per request, or requests slower than the SLO max (on
    bucketed latencies: whole buckets above the largest bound <= max, conservatively)."""
    from ._histogram import slow_requests

    if isinstance(data, Counts):
        return data.errors, data.total
    rng = metric.effective_range()
    assert rng is not None and rng.max is not None
    return slow_requests(data, rng.max)


def champion_breaches(metric: MetricSpec, champ: Counts | FloatArray, p0: float) -> bool:
    """The champion's own rate of SLO-bad events in this batch is above the SLO's null.

    Such a batch is an environment incident (an upstream outage hits both versions), so the
    challenger's SLO test skips it. The choice depends on the champion's data only, which
    is independent of the challenger's outcomes, so the test stays a supermartingale under
    H0 ("the challenger meets the SLO outside incidents") and keeps its ``alpha``; the
    champion comparison still sees the batch (it is time-matched by construction).
    """
    events, trials = bad_events(metric, champ)
    return trials > 0 and events / trials > p0


def difference_margin(metric: MetricSpec) -> float:
    """Allowed error-rate difference (fraction); success-rate ranges are percents."""
    rng = metric.effective_range()
    if rng is None:
        return 0.0
    if metric.name == "request-success-rate":
        return -(rng.min or 0.0) / 100.0
    return rng.max if rng.max is not None else 0.0


def pair_counts(
    metric: MetricSpec, chal: Counts | FloatArray, champ: Counts | FloatArray
) -> tuple[int, int, int, int]:
    """(champion n, champion bad, challenger n, challenger bad) of one batch: errors, or for
    latency the requests slower than the batch's pooled q-quantile (one reference for both)."""
    import numpy as np

    if isinstance(chal, Counts) and isinstance(champ, Counts):
        return champ.total, champ.errors, chal.total, chal.errors
    assert isinstance(chal, np.ndarray) and isinstance(champ, np.ndarray)
    q = LATENCY_QUANTILES[metric.name]
    reference = float(np.quantile(np.concatenate([chal, champ]), q))
    return len(champ), int(np.sum(champ > reference)), len(chal), int(np.sum(chal > reference))


def batch_comparison(
    metric: MetricSpec, chal: Counts | FloatArray, champ: Counts | FloatArray
) -> tuple[int, int, int, int, float]:
    """(challenger bad, champion bad, challenger n, champion n, null rate ratio r0)."""
    import numpy as np

    rng = metric.effective_range()
    ratio_max = None
    if rng is not None and metric.relative_to and metric.name == "error-rate":
        ratio_max = rng.max
    if isinstance(chal, Counts) and isinstance(champ, Counts):
        r0 = max(1.0, ratio_max) if ratio_max is not None else 1.0
        return chal.errors, champ.errors, chal.total, champ.total, r0
    assert isinstance(chal, np.ndarray) and isinstance(champ, np.ndarray)
    q = LATENCY_QUANTILES[metric.name]
    reference = float(np.quantile(np.concatenate([chal, champ]), q))
    limit = reference
    if metric.relative_to and rng is not None and rng.max is not None:
        if metric.comparison == "difference":
            limit = reference + max(0.0, rng.max)
        else:
            limit = reference * max(1.0, rng.max)
    e1 = int(np.sum(chal > limit))
    e0 = int(np.sum(champ > reference))
    return e1, e0, len(chal), len(champ), 1.0


def describe_bound(metric: MetricSpec) -> str:
    """``max 0.01`` / ``min 99 %`` for reasons."""
    rng = metric.effective_range()
    assert rng is not None
    if rng.max is not None:
        return f"max {fmt(rng.max, metric.name)}"
    return f"min {fmt(rng.min, metric.name)}"


def slo_words(metric: MetricSpec, state: MixtureState) -> str:
    rng = metric.effective_range()
    assert rng is not None
    if metric.name in LATENCY_METRICS:
        q = LATENCY_QUANTILES[metric.name]
        return (
            f"p{q * 100:g} above {fmt(rng.max, metric.name)} "
            f"({state.events}/{state.trials} requests slower)"
        )
    bound = describe_bound(metric)
    return f"{metric.name} outside {bound} ({state.events} errors in {state.trials} requests)"


def comparison_words(metric: MetricSpec, state: MixtureState) -> str:
    what = "slow requests" if metric.name in LATENCY_METRICS else "errors"
    return (
        f"challenger has more {what} than the champion "
        f"({state.events} of {state.trials} were the challenger's)"
    )
