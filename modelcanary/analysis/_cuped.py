"""CUPED for the unit-level champion comparison: regress a pre-period covariate out.

Users differ, and with sticky sessions the unit-level test
(:mod:`modelcanary.analysis._clustered`) pays for it: a version's variance is that of its
users' totals. Much of that spread is *persistent*: the user whose requests failed 5 % of the
time on the champion last hour fails 5 % of the time now. CUPED (Deng, Xu, Kohavi & Walker,
WSDM 2013) removes the part of each version's rate explained by a covariate fixed before
assignment, here each request's **unit pre-period rate**: the bad-event rate of its user on
the champion before the challenger served any traffic (a unit not seen then gets the
pre-period's mean rate). It is carried per request in
:attr:`~modelcanary.analysis._measurements.UnitRequests.covariates` (NaN: no covariate, e.g. a
request from before the pre-period ended).

With ``c_i = x_i - xp`` for requests with a covariate (``xp`` their mean over both versions)
and ``c_i = 0`` otherwise, version ``v``'s adjusted rate is ``p_v - theta * C_v / N_v``.
Because assignment is random and ``x`` was fixed before it, ``E[C_v] = 0`` for both versions,
so the adjusted difference estimates the same thing as the raw one, for any ``theta``.
``theta`` is the request-level least-squares slope of bad events on ``c`` pooled within
versions (an effect of the challenger does not leak into it, and it is not chosen to
minimise the variance estimate, which would make that estimate optimistic). The variance is
the cluster-robust one of the linearised estimator (buckets of whole users, the adjusted
residual ``(b_k - p n_k) - theta (c_k - C/N n_k)`` per bucket, plus ``xp``'s own noise), with
the same small-sample inflation as the unadjusted test, and floored at the binomial variance
times ``1 - R^2`` (``R^2`` the request-level fit of the covariate): the variance of the
adjusted mean of independent requests, which correlated users can only raise.

Bounded state (:class:`CupedSums`): per bucket and version the requests with a covariate
and the sum of their covariates, and per version three request-level moments. Without a
varying covariate (none given, or every unit unseen in the pre-period) ``theta`` is 0 and
the test is exactly the unadjusted one. Only the champion comparison of ``error-rate`` is
adjusted (see :mod:`modelcanary.analysis._judge_units`). Which statistic the comparison's
running minimum follows, and with what part of its share, is one plan per rollout
(:func:`compared`, :mod:`modelcanary.analysis._cuped_split`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ._clustered import (
    BUCKETS,
    MIN_UNITS,
    ClusteredState,
    CupedSums,
    _binomial,
    _few_buckets,
    comparison_p,
    msprt_p,
)
from ._cuped_split import CupedSplit, plan_of, split_p

if TYPE_CHECKING:
    from ._measurements import BoolArray, FloatArray, IntArray

_TINY = 1e-12


def covariate_sums(
    index: IntArray, bad: BoolArray, covariates: FloatArray
) -> tuple[list[int], list[float], list[float]]:
    """(requests with a covariate per bucket, their covariate sum per bucket, moments)."""
    import numpy as np

    known = ~np.isnan(covariates)
    x = covariates[known]
    y = np.asarray(bad, dtype=np.float64)[known]
    m = np.bincount(index[known], minlength=BUCKETS)
    s = np.bincount(index[known], weights=x, minlength=BUCKETS)
    moments = [float(np.dot(x, x)), float(np.dot(x, y)), float(y.sum())]
    return [int(v) for v in m], [float(v) for v in s], moments


def fed(
    sums: CupedSums | None,
    champion: tuple[list[int], list[float], list[float]],
    challenger: tuple[list[int], list[float], list[float]],
) -> CupedSums:
    """``sums`` plus one batch of both versions."""
    sums = sums or CupedSums()

    def add(a: list[float], b: list[float]) -> list[float]:
        return [u + v for u, v in zip(a, b, strict=True)]

    return sums.model_copy(
        update={
            "m0": [a + b for a, b in zip(sums.m0, champion[0], strict=True)],
            "x0": add(sums.x0, champion[1]),
            "moments0": add(sums.moments0, champion[2]),
            "m1": [a + b for a, b in zip(sums.m1, challenger[0], strict=True)],
            "x1": add(sums.x1, challenger[1]),
            "moments1": add(sums.moments1, challenger[2]),
        }
    )


class _Fit:
    """``xp``, ``theta`` and the request-level ``R^2`` of the covariate, pooled within versions."""

    def __init__(self, state: ClusteredState, sums: CupedSums) -> None:
        sides = ((state.n0, state.b0, sums.m0, sums.x0, sums.moments0),
                 (state.n1, state.b1, sums.m1, sums.x1, sums.moments1))  # fmt: skip
        covered = sum(sum(s[2]) for s in sides)
        self.xp = sum(sum(s[3]) for s in sides) / covered if covered else 0.0
        sxx = sxy = syy = 0.0
        for n, b, m, x, (xx, xy, bm) in sides:
            total, bad = sum(n), sum(b)
            if not total:
                continue
            c_sum = sum(x) - self.xp * sum(m)  # sum of c_i
            sxx += xx - 2 * self.xp * sum(x) + self.xp**2 * sum(m) - c_sum**2 / total
            sxy += xy - self.xp * bm - c_sum * bad / total
            syy += bad - bad * bad / total  # bad events are 0/1: sum y^2 = sum y
        usable = sxx > _TINY * max(1.0, covered) and syy > 0
        self.theta = sxy / sxx if usable else 0.0
        self.r2 = min(1.0, sxy * sxy / (sxx * syy)) if usable else 0.0


def adjusted(
    state: ClusteredState, sums: CupedSums, r0: float, margin: float
) -> tuple[float, float] | None:
    """(adjusted difference ``p1 - r0 p0 - margin``, its variance), or None when the covariate
    does not vary (the caller then runs the unadjusted test, exactly as without CUPED)."""
    fit = _Fit(state, sums)
    if fit.theta == 0.0:
        return None
    covered = sum(sums.m0) + sum(sums.m1)
    sides = ((state.n1, state.b1, sums.m1, sums.x1, 1.0),
             (state.n0, state.b0, sums.m0, sums.x0, -r0))  # fmt: skip
    # d(difference)/d(xp): each version's adjustment is -w theta (SX - xp M) / N
    slope_xp = fit.theta * sum(w * sum(m) / sum(n) for n, _, m, _, w in sides if sum(n))
    diff, variance = -margin, 0.0
    for n, b, m, x, w in sides:
        total = sum(n)
        if not total:
            return None
        p = sum(b) / total
        c_mean = (sum(x) - fit.xp * sum(m)) / total  # C_v / N_v
        diff += w * (p - fit.theta * c_mean)
        spread, used = 0.0, 0
        for n_k, b_k, m_k, x_k in zip(n, b, m, x, strict=True):
            if not n_k:
                continue
            used += 1
            c_k = x_k - fit.xp * m_k
            own = ((b_k - p * n_k) - fit.theta * (c_k - c_mean * n_k)) / total
            spread += (w * own + slope_xp * c_k / covered) ** 2
        floor = w * w * _binomial(p, total) * (1.0 - fit.r2)
        if used < 2:
            variance += floor
            continue
        variance += max(used / (used - 1) * spread * _few_buckets(used), floor)
    return diff, variance


def cuped_comparison_p(state: ClusteredState, r0: float, margin: float) -> float | None:
    """This look's p of H0 ``p1 <= r0 p0 + margin`` with the CUPED-adjusted rates (1 until both
    versions have MIN_UNITS buckets); None when there is no usable covariate."""
    if state.cuped is None:
        return None
    result = adjusted(state, state.cuped, r0, margin)
    if result is None:
        return None
    if sum(1 for v in state.n1 if v) < MIN_UNITS or sum(1 for v in state.n0 if v) < MIN_UNITS:
        return 1.0
    return msprt_p(*result)


def compared(
    state: ClusteredState, r0: float, margin: float, *, mirrored: bool | None, challenger: bool
) -> ClusteredState:
    """``state`` (a batch already fed) with the comparison's running minima updated.

    ``mirrored``: the batch's window was mirrored; ``challenger``: the challenger served (or
    answered copies of) requests in it. The plan is chosen at the first such batch and kept
    (:mod:`modelcanary.analysis._cuped_split`); ``comparison_p`` is then the running
    minimum of the one statistic the plan runs, or the weighted Bonferroni p of both.
    """
    split = state.split
    if split is None and challenger:
        covered = state.cuped is not None and sum(state.cuped.m0) + sum(state.cuped.m1) > 0
        # an older status carried one running minimum: without a covariate, the unadjusted one
        split = CupedSplit(plan=plan_of(covered, mirrored), unadjusted_p=state.comparison_p)
    raw = comparison_p(state, r0, margin)
    if split is not None and split.plan == "unadjusted":
        return state.model_copy(
            update={"split": split, "comparison_p": min(state.comparison_p, raw)}
        )
    p_cuped = cuped_comparison_p(state, r0, margin)
    if split is None or split.plan == "adjusted":
        # one statistic: theta = 0 (raw) until a covariate varies; no plan yet: no challenger
        # bucket (p = 1), or an older status without a challenger request in this batch
        p_now = raw if p_cuped is None else p_cuped
        return state.model_copy(
            update={"split": split, "comparison_p": min(state.comparison_p, p_now)}
        )
    split = split.model_copy(
        update={
            "unadjusted_p": min(split.unadjusted_p, raw),
            "adjusted_p": min(split.adjusted_p, 1.0 if p_cuped is None else p_cuped),
        }
    )
    return state.model_copy(update={"split": split, "comparison_p": split_p(split)})


def adjusts(state: ClusteredState) -> bool:
    """True when the comparison's p may come from the CUPED-adjusted statistic (its reason
    then names ``rho``): every plan but ``unadjusted`` (a status without a plan: as before)."""
    return state.split is None or state.split.plan != "unadjusted"


def variance_ratio(state: ClusteredState, r0: float = 1.0, margin: float = 0.0) -> float | None:
    """Adjusted over unadjusted variance of the comparison (``1 - rho^2`` as the judge
    realises it), or None without a usable covariate."""
    from ._clustered import rate_and_variance

    if state.cuped is None:
        return None
    result = adjusted(state, state.cuped, r0, margin)
    if result is None:
        return None
    _, v1, _ = rate_and_variance(state.n1, state.b1)
    _, v0, _ = rate_and_variance(state.n0, state.b0)
    raw = v1 + r0 * r0 * v0
    if not math.isfinite(raw) or raw <= 0:
        return None
    return min(1.0, result[1] / raw)


def cuped_rho(keys: list[str], bad: list[float]) -> float:
    """``sqrt(1 - V_adjusted / V_unadjusted)`` of the judge's CUPED adjustment, measured on a
    time-ordered log: the first half's unit rates are the covariate of the second half.

    Variances are cluster-robust over units (each unit's residual total squared, summed),
    ``theta`` the request-level least-squares slope, a unit new in the second half gets the
    first half's mean rate (as the judge does): 0 when units are not keyed (an empty key)
    or nothing varies.
    """
    half = len(keys) // 2
    first: dict[str, list[float]] = {}
    for key, value in zip(keys[:half], bad[:half], strict=True):
        if key:
            counts = first.setdefault(key, [0.0, 0.0])
            counts[0] += 1
            counts[1] += value
    if not first or half == 0:
        return 0.0
    mean = sum(bad[:half]) / half
    later: dict[str, list[float]] = {}  # unit -> [requests, bad events, covariate]
    for i, (key, value) in enumerate(zip(keys[half:], bad[half:], strict=True)):
        unit = key or f"\0{i}"  # an empty key: a unit of its own
        seen = first.get(key)
        x = seen[1] / seen[0] if seen else mean
        row = later.setdefault(unit, [0.0, 0.0, x])
        row[0] += 1
        row[1] += value
    rows = list(later.values())
    total = sum(r[0] for r in rows)
    p = sum(r[1] for r in rows) / total
    xbar = sum(r[0] * r[2] for r in rows) / total
    sxx = sum(r[0] * (r[2] - xbar) ** 2 for r in rows)
    if sxx <= 0:
        return 0.0
    theta = sum((r[2] - xbar) * (r[1] - p * r[0]) for r in rows) / sxx
    raw = sum((r[1] - p * r[0]) ** 2 for r in rows)
    if raw <= 0:
        return 0.0
    residual = sum((r[1] - p * r[0] - theta * r[0] * (r[2] - xbar)) ** 2 for r in rows)
    return float(max(0.0, min(0.99, 1.0 - residual / raw)) ** 0.5)
