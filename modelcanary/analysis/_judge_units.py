"""The sequential judge's unit-level path: feed and read :mod:`~modelcanary.analysis._clustered`.

Used instead of the request-level tests for a metric as soon as its data carries unit keys
(:attr:`~modelcanary.analysis._measurements.VersionData.units`, e.g. the session-affinity
cookie of each request). The bad events are the request-level tests' own (errors; requests
slower than the batch's pooled quantile, times the allowed ratio or plus the allowed
difference; requests slower than the SLO max), so the two paths test the same hypotheses and
only the variance differs: counted per unit instead of per request.

When the rows carry pre-period covariates (:attr:`UnitRequests.covariates`), the error-rate
champion comparison is CUPED-adjusted (:mod:`modelcanary.analysis._cuped`); latency
comparisons (their bad event is relative to each batch's pooled quantile) and the SLO tests
are not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..spec._catalogue import LATENCY_METRICS, LATENCY_QUANTILES
from ..spec._metric_spec import MetricSpec
from ._clustered import (
    ClusteredState,
    added,
    bucket_sums,
    buckets,
    rate_and_variance,
    slo_p,
)
from ._cuped import adjusts, compared, covariate_sums, fed, variance_ratio
from ._sequential import GaussianState
from ._sequential_events import describe_bound, difference_margin, slo_null

if TYPE_CHECKING:
    from ._judges import SequentialState
    from ._measurements import BoolArray, FloatArray, IntArray, IntervalData, UnitRequests

Rows = tuple["IntArray", "BoolArray", "FloatArray"]
Sums = tuple[list[int], list[float], list[float]]


def has_units(data: IntervalData) -> bool:
    """True when either version's data in the window is keyed by unit."""
    return data.challenger.units is not None or data.champion.units is not None


def update_units(
    metric: MetricSpec, data: IntervalData, state: SequentialState, *, serves: bool = True
) -> SequentialState:
    """Feed one batch to the metric's unit-level tests (and the band's request counts).

    ``serves``: the rollout's plan sends the challenger client requests at some stage (a
    mirror-only plan never does, so its covariates never arrive and CUPED has nothing to
    split a mirror phase's share with: :mod:`modelcanary.analysis._cuped_split`)."""
    chal = _rows(metric, data.challenger.units)
    champ = _rows(metric, data.champion.units)
    if chal is None and champ is None:
        return state
    clustered = state.clustered or ClusteredState()
    pairs, incidents = state.pairs, state.incidents
    r0, margin = _null(metric)
    if chal is not None and champ is not None:
        bad1, bad0, ref1 = _comparison_bad(metric, chal, champ)
        n1, b1 = bucket_sums(chal[0], bad1)
        n0, b0 = bucket_sums(champ[0], bad0)
        clustered = clustered.model_copy(
            update={
                "n1": added(clustered.n1, n1),
                "b1": added(clustered.b1, b1),
                "n0": added(clustered.n0, n0),
                "b0": added(clustered.b0, b0),
            }
        )
        pairs = GaussianState(
            n0=(pairs.n0 if pairs else 0) + sum(n0),
            x0=(pairs.x0 if pairs else 0) + sum(b0),
            n1=(pairs.n1 if pairs else 0) + sum(n1),
            x1=(pairs.x1 if pairs else 0) + int(ref1.sum()),
        )
        cuped = _covariate_batch(metric, data, chal, champ, bad1, bad0)
        if cuped is not None:
            clustered = clustered.model_copy(
                update={"cuped": fed(clustered.cuped, cuped[0], cuped[1])}
            )
        # a latency comparison is never adjusted, nor one whose plan never serves the
        # challenger: nothing to split its share with
        mirrored = data.mirrored and serves and metric.name not in LATENCY_METRICS
        clustered = compared(clustered, r0, margin, mirrored=mirrored, challenger=len(chal[0]) > 0)
    p_slo = slo_null(metric) if metric.relative_to is None else None
    if p_slo is not None and chal is not None and len(chal[0]):
        if champ is not None and len(champ[0]) and _slo_bad(metric, champ).mean() > p_slo:
            incidents += 1  # the champion breached in this very window too: set aside
        else:
            n, b = bucket_sums(chal[0], _slo_bad(metric, chal))
            clustered = clustered.model_copy(
                update={"slo_n": added(clustered.slo_n, n), "slo_b": added(clustered.slo_b, b)}
            )
            p_now = slo_p(clustered, p_slo)
            clustered = clustered.model_copy(update={"slo_p": min(clustered.slo_p, p_now)})
    return state.model_copy(update={"clustered": clustered, "pairs": pairs, "incidents": incidents})


def unit_evidence(metric: MetricSpec, state: ClusteredState) -> list[tuple[str, float]]:
    """(what the test says, its always-valid p) for each unit-level test with data."""
    what = "slow requests" if metric.name in LATENCY_METRICS else "errors"
    out: list[tuple[str, float]] = []
    if sum(state.slo_n) and metric.relative_to is None and slo_null(metric) is not None:
        p1, _, k1 = rate_and_variance(state.slo_n, state.slo_b)
        out.append(
            (
                f"{metric.name} outside {describe_bound(metric)} per user "
                f"({p1:.3%} {what} over {k1} user buckets; unit-level mSPRT)",
                state.slo_p,
            )
        )
    if sum(state.n1) and sum(state.n0):
        p1, _, k1 = rate_and_variance(state.n1, state.b1)
        p0, _, k0 = rate_and_variance(state.n0, state.b0)
        ratio = variance_ratio(state, *_null(metric)) if adjusts(state) else None
        how = "" if ratio is None else f", CUPED rho = {(1 - ratio) ** 0.5:.2f}"
        if state.split is not None and state.split.plan == "split":
            how += ", alpha split with the unadjusted test"
        out.append(
            (
                f"challenger has more {what} than the champion per user ({p1:.3%} vs "
                f"{p0:.3%} over {k1} vs {k0} user buckets; unit-level mSPRT{how})",
                state.comparison_p,
            )
        )
    return out


def within_unit_noise(metric: MetricSpec, data: IntervalData) -> str | None:
    """Why an absolute SLO breach of this window is within the challenger's per-user noise
    (``z=1.2 < 2.33 over 9 user buckets``), or None (not keyed, too few users, or clear).

    With sticky users the window's value describes the users the challenger happens to
    serve (a few heavy, slow ones move its p99), and waiting for more evidence gathers none:
    the same users stay. So a breach whose size is within the unit-level noise of the
    window (cluster-robust variance, ``MIN_UNITS`` buckets at least) is not held against the
    step; the unit-level sequential tests still judge the challenger.
    """
    from scipy.stats import norm

    from ._clustered import MIN_UNITS, SMALL_SAMPLE_LEVEL

    p_slo = slo_null(metric) if metric.relative_to is None else None
    rows = _rows(metric, data.challenger.units)
    if p_slo is None or rows is None or not len(rows[0]):
        return None
    n, b = bucket_sums(rows[0], _slo_bad(metric, rows))
    rate, variance, used = rate_and_variance(n, b)
    if used < MIN_UNITS or variance <= 0:
        return None
    z = (rate - p_slo) / variance**0.5
    limit = float(norm.ppf(1 - SMALL_SAMPLE_LEVEL))
    if z >= limit:
        return None
    return f"z={z:.2g} < {limit:.3g} over {used} user buckets"


def _covariate_batch(
    metric: MetricSpec,
    data: IntervalData,
    chal: Rows,
    champ: Rows,
    bad1: BoolArray,
    bad0: BoolArray,
) -> tuple[Sums, Sums] | None:
    """(champion, challenger) covariate sums of one batch of the error-rate comparison, or
    None (a latency metric, or no covariate on either side)."""
    import numpy as np

    if metric.name in LATENCY_METRICS:
        return None
    x1, x0 = data.challenger.units, data.champion.units
    if x1 is None or x0 is None or (x1.covariates is None and x0.covariates is None):
        return None

    def column(units: UnitRequests) -> FloatArray:
        if units.covariates is None:
            return np.full(len(units), np.nan)
        return units.covariates

    return (
        covariate_sums(champ[0], bad0, column(x0)),
        covariate_sums(chal[0], bad1, column(x1)),
    )


def _rows(metric: MetricSpec, units: UnitRequests | None) -> Rows | None:
    """(bucket, failed, latency) per request the metric can use (latency metrics: known ones)."""
    import numpy as np

    if units is None:
        return None
    index = buckets(units.keys)
    if metric.name in LATENCY_METRICS:
        known = ~np.isnan(units.latencies)
        return index[known], units.errors[known], units.latencies[known]
    return index, units.errors, units.latencies


def _comparison_bad(
    metric: MetricSpec, chal: Rows, champ: Rows
) -> tuple[BoolArray, BoolArray, BoolArray]:
    """(challenger bad, champion bad, challenger slower than the reference) of one batch."""
    import numpy as np

    if metric.name not in LATENCY_METRICS:
        return chal[1], champ[1], chal[1]
    both = np.concatenate([chal[2], champ[2]])
    if not len(both):
        empty = np.zeros(0, dtype=bool)
        return empty, empty, empty
    reference = float(np.quantile(both, LATENCY_QUANTILES[metric.name]))
    limit = reference
    rng = metric.effective_range()
    if metric.relative_to and rng is not None and rng.max is not None:
        if metric.comparison == "difference":
            limit = reference + max(0.0, rng.max)
        else:
            limit = reference * max(1.0, rng.max)
    return chal[2] > limit, champ[2] > reference, chal[2] > reference


def _slo_bad(metric: MetricSpec, rows: Rows) -> BoolArray:
    """Requests that count against the absolute SLO: errors, or slower than its max."""
    if metric.name not in LATENCY_METRICS:
        return rows[1]
    rng = metric.effective_range()
    assert rng is not None and rng.max is not None
    return rows[2] > rng.max


def _null(metric: MetricSpec) -> tuple[float, float]:
    """(r0, margin) of the comparison's H0 ``p1 <= r0 p0 + margin``."""
    rng = metric.effective_range()
    if metric.name in LATENCY_METRICS or rng is None or not metric.relative_to:
        return 1.0, 0.0
    if metric.comparison == "difference":
        return 1.0, difference_margin(metric)
    if metric.name == "error-rate" and rng.max is not None:
        return max(1.0, rng.max), 0.0
    return 1.0, 0.0
