"""Issue 15: the unit-level champion comparison is CUPED-adjusted by a pre-period covariate.

Sticky users with persistent error rates (a Beta with strong dispersion): each request
carries its user's error rate on the champion in a pre-period
(``UnitRequests.covariates``), and the judge regresses it out of both versions' rates.
Seeded simulations through the shipped feed (``update_units``) and the public interval
analysis; outcomes asserted. Monte-Carlo figures: ``benchmarks/cuped.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from modelcanary.analysis import (
    AnalysisState,
    IntervalData,
    UnitRequests,
    Window,
    analyse_interval,
)
from modelcanary.analysis._clustered import comparison_p, rate_and_variance
from modelcanary.analysis._cuped import adjusted, variance_ratio
from modelcanary.analysis._judge_units import update_units
from modelcanary.analysis._judges import SequentialState
from modelcanary.analysis._measurements import Counts, Samples, VersionData
from modelcanary.spec import Analysis, MetricSpec

ERRORS = MetricSpec.model_validate({"name": "error-rate", "threshold_range": {"max": 0.2}})
LATENCY = MetricSpec.model_validate({"name": "latency-p99", "threshold_range": {"max": 900}})


class Users:
    """Sticky users: activity, a persistent error rate, and its pre-period estimate."""

    def __init__(self, seed: int, users: int = 400, pre_requests: int = 8000) -> None:
        rng = np.random.default_rng([seed, 11])
        activity = rng.lognormal(0.0, 0.8, users)
        self.activity = activity / activity.sum()
        self.rate = rng.beta(0.4, 19.6, users)  # mean 2 %, intra-user correlation 1/21
        who = rng.choice(users, size=pre_requests, p=self.activity)
        bad = rng.random(pre_requests) < self.rate[who]
        n = np.bincount(who, minlength=users)
        b = np.bincount(who, weights=bad, minlength=users)
        self.covariate = np.where(n > 0, b / np.maximum(n, 1), bad.mean())
        self.pinned = rng.random(users) < 0.3
        self.keys = np.array([f"user-{u}" for u in range(users)])

    def batch(
        self, rng: np.random.Generator, look: int, *, effect: float = 1.0, covariates: str = "pre"
    ) -> IntervalData:
        who = rng.choice(len(self.rate), size=1000, p=self.activity)
        chal = self.pinned[who]
        err = rng.random(len(who)) < np.minimum(1.0, self.rate[who] * np.where(chal, effect, 1))
        lat = rng.lognormal(np.log(50.0), 0.3, len(who))
        x = {
            "pre": self.covariate[who],
            "constant": np.full(len(who), 0.02),
            "missing": np.full(len(who), np.nan),
        }.get(covariates)

        def side(name: str, mask: np.ndarray) -> VersionData:
            cov = None if x is None else x[mask]
            rows = UnitRequests(tuple(self.keys[who[mask]]), err[mask], lat[mask], name, cov)  # type: ignore[arg-type]
            counts = Counts(int(mask.sum()), int(err[mask].sum()), name)  # type: ignore[arg-type]
            return VersionData(name, counts, Samples(lat[mask], name), units=rows)  # type: ignore[arg-type]

        return IntervalData(
            Window(look, look + 1), side("challenger", chal), side("champion", ~chal)
        )


def _fed(seed: int, looks: int, **kw: object) -> SequentialState:
    users, rng = Users(seed), np.random.default_rng([seed, 12])
    state = SequentialState()
    for look in range(looks):
        state = update_units(ERRORS, users.batch(rng, look, **kw), state)  # type: ignore[arg-type]
    return state


def test_a_correlated_covariate_shrinks_the_comparison_variance() -> None:
    ratios = []
    for seed in range(5):
        clustered = _fed(seed, 10).clustered
        assert clustered is not None and clustered.cuped is not None
        ratio = variance_ratio(clustered)
        assert ratio is not None
        ratios.append(ratio)
    # persistent user rates: the pre-period explains a large part of the users' spread
    assert max(ratios) < 0.9 and float(np.median(ratios)) < 0.75, ratios


def test_a_constant_or_absent_covariate_is_exactly_the_unadjusted_test() -> None:
    plain = _fed(7, 8, covariates="none").clustered
    for kind in ("constant", "missing"):
        other = _fed(7, 8, covariates=kind).clustered
        assert plain is not None and other is not None
        assert other.n1 == plain.n1 and other.b1 == plain.b1
        assert adjusted(other, other.cuped, 1.0, 0.0) is None  # type: ignore[arg-type]
        assert other.comparison_p == plain.comparison_p  # the same p at every look
        assert variance_ratio(other) is None
    assert plain is not None and plain.cuped is None


def test_identical_versions_are_not_rejected_over_many_seeds() -> None:
    rejected = adjusted_min = 0
    for seed in range(40):
        clustered = _fed(100 + seed, 8).clustered
        assert clustered is not None and clustered.cuped is not None
        rejected += clustered.comparison_p <= 0.05
        adjusted_min += clustered.comparison_p < 0.2
    # always-valid at 5 %: expected at most 2 of 40; a biased adjustment rejects far more
    assert rejected <= 4, rejected
    assert adjusted_min <= 12, adjusted_min


def _requests_to_reject(seed: int, effect: float) -> tuple[float, float]:
    """Challenger requests when the adjusted and the unadjusted comparison first reach 1 %."""
    users, rng = Users(seed, users=1500, pre_requests=30_000), np.random.default_rng([seed, 13])
    state, raw_min = SequentialState(), 1.0
    stops = [np.inf, np.inf]
    for look in range(40):
        state = update_units(ERRORS, users.batch(rng, look, effect=effect), state)
        clustered = state.clustered
        assert clustered is not None
        raw_min = min(raw_min, comparison_p(clustered, 1.0, 0.0))
        seen = float(sum(clustered.n1))
        if stops[0] == np.inf and clustered.comparison_p <= 0.01:
            stops[0] = seen
        if stops[1] == np.inf and raw_min <= 0.01:
            stops[1] = seen
        if max(stops) < np.inf:
            break
    return stops[0], stops[1]


def test_a_faulty_challenger_is_rejected_with_fewer_requests_with_cuped() -> None:
    stops = np.array([_requests_to_reject(seed, 1.8) for seed in range(16)])
    adjusted_median, raw_median = np.median(stops[:, 0]), np.median(stops[:, 1])
    assert adjusted_median < raw_median, (adjusted_median, raw_median)
    assert np.isfinite(stops[:, 0]).sum() >= np.isfinite(stops[:, 1]).sum()


def test_requests_before_the_pre_period_ended_carry_no_adjustment() -> None:
    users, rng = Users(3), np.random.default_rng([3, 14])
    state = SequentialState()
    for look in range(4):  # a mirror phase: no covariate yet
        state = update_units(ERRORS, users.batch(rng, look, covariates="missing"), state)
    before = state.clustered
    assert before is not None and before.cuped is not None and sum(before.cuped.m1) == 0
    for look in range(4, 10):
        state = update_units(ERRORS, users.batch(rng, look), state)
    after = state.clustered
    assert after is not None and after.cuped is not None
    assert 0 < sum(after.cuped.m1) < sum(after.n1)
    ratio = variance_ratio(after)
    assert ratio is not None and ratio < 1.0


def test_latency_comparisons_are_not_adjusted() -> None:
    users, rng = Users(4), np.random.default_rng([4, 15])
    state = update_units(LATENCY, users.batch(rng, 0), SequentialState())
    assert state.clustered is not None and state.clustered.cuped is None


def test_the_public_analysis_rejects_a_fault_and_names_the_cuped_correlation() -> None:
    analysis = Analysis.model_validate(
        {"interval": "1m", "threshold": 1, "step_weights": [30], "metrics": [ERRORS.to_dict()]}
    )
    users, rng = Users(5, users=1500, pre_requests=30_000), np.random.default_rng([5, 16])
    state, failed = AnalysisState(), []
    for look in range(30):
        result = analyse_interval(analysis, users.batch(rng, look, effect=2.5), state)
        state = result.state
        failed = [c for c in result.checks if c.verdict == "fail"]
        if failed:
            break
    seq = state.sequential["error-rate"]
    assert seq.clustered is not None and seq.clustered.cuped is not None
    assert failed and "sequential test rejects" in failed[0].reason
    assert "CUPED rho = 0." in failed[0].reason, failed[0].reason


def test_covariates_must_be_aligned_and_finite() -> None:
    with pytest.raises(ValueError, match="one covariate per request"):
        UnitRequests(("a", "b"), np.zeros(2, bool), np.zeros(2), "champion", np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        UnitRequests(("a",), np.zeros(1, bool), np.zeros(1), "champion", np.array([np.inf]))
    rows = UnitRequests(("a", "b"), np.zeros(2, bool), np.zeros(2), "champion", [0.1, np.nan])
    assert rows.covariates is not None and np.isnan(rows.covariates[1])


def test_the_adjusted_difference_keeps_the_raw_rates() -> None:
    clustered = _fed(9, 6).clustered
    assert clustered is not None and clustered.cuped is not None
    fit = adjusted(clustered, clustered.cuped, 1.0, 0.0)
    assert fit is not None
    p1, v1, _ = rate_and_variance(clustered.n1, clustered.b1)
    p0, v0, _ = rate_and_variance(clustered.n0, clustered.b0)
    # the adjustment moves the difference by less than the unadjusted noise, never its scale
    assert abs(fit[0] - (p1 - p0)) < 3 * (v1 + v0) ** 0.5
    assert 0 < fit[1] < v1 + v0


def test_the_covariate_sums_survive_the_status_round_trip() -> None:
    from modelcanary.analysis._bands import STORED_KEYS, stored_analysis

    seq = _fed(1, 3)
    stored = AnalysisState(sequential={"error-rate": seq}).model_dump(
        mode="json", include=set(STORED_KEYS)
    )
    back = stored_analysis(stored).sequential["error-rate"].clustered
    assert back is not None and seq.clustered is not None
    assert back.cuped == seq.clustered.cuped and back.cuped is not None
