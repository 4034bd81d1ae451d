"""The CUPED-adjusted comparison spends its alpha share once: one plan per rollout.

Before, one running minimum followed the unadjusted statistic through a mirror phase and
the adjusted one after: the union of two tests, bounded by twice the share. Now a mirror
phase followed by a canary splits the share (weighted Bonferroni, each statistic its own
running minimum), a canary with covariates from its first batch runs the adjusted statistic
alone, and one with neither the unadjusted alone (:mod:`modelcanary.analysis._cuped_split`).
Seeded simulations of sticky users through the shipped feed (``update_units``) and the
public interval analysis; each statistic is recomputed here from the state at every look.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from modelcanary.analysis import AnalysisState, IntervalData, UnitRequests, Window
from modelcanary.analysis._clustered import comparison_p
from modelcanary.analysis._cuped import cuped_comparison_p
from modelcanary.analysis._cuped_split import UNADJUSTED_WEIGHT as W
from modelcanary.analysis._judge_units import unit_evidence, update_units
from modelcanary.analysis._judges import SequentialState, comparison_alpha, evaluate_sequential
from modelcanary.analysis._measurements import Counts, Samples, VersionData
from modelcanary.spec import MetricSpec

RELATIVE = MetricSpec.model_validate(
    {"name": "error-rate", "relative_to": "champion", "threshold_range": {"max": 1.0}}
)
"""H0 ``p1 <= p0``; the comparison is the metric's only test (its share: alpha * 0.75)."""
LATENCY = MetricSpec.model_validate(
    {"name": "latency-p99", "relative_to": "champion", "threshold_range": {"max": 1.2}}
)


class Rollout:
    """Sticky users with persistent error rates: a mirror phase, then a canary whose
    covariates are the users' error rates on the champion during the mirror phase."""

    def __init__(self, seed: int, users: int = 600) -> None:
        self.rng = np.random.default_rng([seed, 41])
        activity = self.rng.lognormal(0.0, 0.8, users)
        self.activity = activity / activity.sum()
        self.rate = self.rng.beta(0.4, 19.6, users)  # mean 2 %, intra-user correlation 1/21
        self.pinned = self.rng.random(users) < 0.3
        self.keys = np.array([f"user-{u}" for u in range(users)])
        self.pre_n = np.zeros(users)
        self.pre_b = np.zeros(users)

    def prelude(self, size: int = 8000) -> None:
        """Keyed champion traffic before the rollout (a pre-period without a mirror)."""
        who = self.rng.choice(len(self.rate), size=size, p=self.activity)
        self.pre_n += np.bincount(who, minlength=len(self.rate))
        self.pre_b += np.bincount(
            who, weights=self.rng.random(size) < self.rate[who], minlength=len(self.rate)
        )

    def covariates(self) -> Any:
        mean = self.pre_b.sum() / max(1.0, self.pre_n.sum())
        return np.where(self.pre_n > 0, self.pre_b / np.maximum(self.pre_n, 1), mean)

    def mirror(self, look: int, effect: float = 1.0, size: int = 1000) -> IntervalData:
        """The champion serves everyone; the challenger answers a copy of every request."""
        who = self.rng.choice(len(self.rate), size=size, p=self.activity)
        err0 = self.rng.random(size) < self.rate[who]
        err1 = self.rng.random(size) < np.minimum(1.0, self.rate[who] * effect)
        self.pre_n += np.bincount(who, minlength=len(self.rate))
        self.pre_b += np.bincount(who, weights=err0, minlength=len(self.rate))
        return IntervalData(
            Window(look, look + 1),
            _side("challenger", self.keys[who], err1, None),
            _side("champion", self.keys[who], err0, None),
            mirrored=True,
        )

    def canary(self, look: int, effect: float = 1.0, size: int = 1000) -> IntervalData:
        who = self.rng.choice(len(self.rate), size=size, p=self.activity)
        chal = self.pinned[who]
        err = self.rng.random(size) < np.minimum(1.0, self.rate[who] * np.where(chal, effect, 1))
        x = self.covariates()[who]
        return IntervalData(
            Window(look, look + 1),
            _side("challenger", self.keys[who][chal], err[chal], x[chal]),
            _side("champion", self.keys[who][~chal], err[~chal], x[~chal]),
            mirrored=False,
        )


def _side(name: Any, keys: Any, err: Any, x: Any) -> VersionData:
    lat = np.full(len(keys), 50.0)
    units = UnitRequests(tuple(keys), err, lat, name, x)
    return VersionData(
        name, Counts(len(keys), int(err.sum()), name), Samples(lat, name), units=units
    )


def _run(
    seed: int, mirror: int, canary: int, effect: float = 1.0, metric: MetricSpec = RELATIVE
) -> tuple[SequentialState, list[tuple[float, float, float, float]]]:
    """Feed a mirror phase then a canary; per look (comparison p, unadjusted running min,
    adjusted running min, the old single running minimum), recomputed from the state."""
    rollout, state = Rollout(seed), SequentialState()
    if not mirror:
        rollout.prelude()
    raw_min = cuped_min = single = 1.0
    looks = []
    for look in range(mirror + canary):
        data = rollout.mirror(look, effect) if look < mirror else rollout.canary(look, effect)
        state = update_units(metric, data, state)
        clustered = state.clustered
        assert clustered is not None
        raw = comparison_p(clustered, 1.0, 0.0)
        cuped = cuped_comparison_p(clustered, 1.0, 0.0)
        raw_min = min(raw_min, raw)
        cuped_min = min(cuped_min, 1.0 if cuped is None else cuped)
        single = min(single, raw if cuped is None else cuped)  # the rule before the split
        looks.append((clustered.comparison_p, raw_min, cuped_min, single))
    return state, looks


def test_a_mirror_phase_then_a_canary_splits_the_share_between_both_statistics() -> None:
    for seed in range(3):
        state, looks = _run(seed, mirror=6, canary=14, effect=1.3)
        for p, raw_min, cuped_min, _ in looks:
            # weighted Bonferroni: each statistic's own running minimum, its part of the share
            assert math.isclose(p, min(1.0, raw_min / W, cuped_min / (1 - W)), rel_tol=1e-12)
        assert looks[-1][2] < 1.0  # the adjusted statistic did run in the canary
        clustered = state.clustered
        assert clustered is not None and clustered.split is not None
        assert clustered.split.plan == "split"


def test_evidence_that_reaches_the_share_only_by_switching_statistics_does_not_reject() -> None:
    # a mild fault: the adjusted statistic's running minimum is the strongest evidence
    state, looks = _run(8, mirror=6, canary=14, effect=1.3)
    _, raw_min, cuped_min, single = looks[-1]
    assert single == cuped_min < raw_min < 1.0, looks[-1]
    # a budget whose share lies between the evidence and what the split asks of it: the
    # single running minimum spent the whole share on each statistic in turn and rejected
    share = comparison_alpha(RELATIVE, 1.0)
    split = cuped_min / (1 - W)
    alpha = (single + split) / 2 / share
    verdict = evaluate_sequential(RELATIVE, state, alpha)
    assert verdict is not None and not verdict[0], verdict
    assert math.isclose(verdict[2], split / share)
    assert "alpha split with the unadjusted test" in verdict[1]
    # enough budget for the adjusted statistic's part of the share: rejected
    assert evaluate_sequential(RELATIVE, state, 1.01 * split / share)[0]  # type: ignore[index]


def test_a_gross_fault_in_the_mirror_phase_is_still_caught_there() -> None:
    state, looks = _run(4, mirror=8, canary=0, effect=4.0)
    verdict = evaluate_sequential(RELATIVE, state, 0.01)
    assert verdict is not None and verdict[0], verdict
    assert looks[-1][2] == 1.0  # no covariate yet: the unadjusted half alone rejected


def test_covariates_from_the_first_batch_run_the_adjusted_statistic_at_the_full_share() -> None:
    state, looks = _run(5, mirror=0, canary=12, effect=1.3)
    for p, _, _, single in looks:
        assert p == single  # one statistic, its running minimum, no split
    clustered = state.clustered
    assert clustered is not None and clustered.split is not None
    assert clustered.split.plan == "adjusted"


def test_without_a_mirror_phase_a_late_covariate_does_not_switch_the_statistic() -> None:
    rollout, state, raw_min = Rollout(6), SequentialState(), 1.0
    rollout.prelude()
    for look in range(12):
        data = rollout.canary(look, 1.3)
        if look < 4:  # a canary without covariates (not mirrored: none will come) ...
            chal, champ = _bare(data.challenger), _bare(data.champion)
            data = IntervalData(data.window, chal, champ, mirrored=False)
        state = update_units(RELATIVE, data, state)  # ... then covariates anyway (by hand)
        assert state.clustered is not None
        raw_min = min(raw_min, comparison_p(state.clustered, 1.0, 0.0))
        assert state.clustered.comparison_p == raw_min  # the unadjusted statistic alone
    clustered = state.clustered
    assert clustered is not None and clustered.split is not None
    assert clustered.split.plan == "unadjusted" and clustered.cuped is not None
    assert cuped_comparison_p(clustered, 1.0, 0.0) is not None  # it could have been adjusted
    words = unit_evidence(RELATIVE, clustered)[0][0]
    assert "CUPED" not in words and "split" not in words


def _bare(side: VersionData) -> VersionData:
    """The side without covariates."""
    from dataclasses import replace

    assert side.units is not None
    return replace(side, units=replace(side.units, covariates=None))


def test_a_latency_comparison_in_a_mirror_phase_keeps_its_full_share() -> None:
    state, looks = _run(7, mirror=4, canary=4, metric=LATENCY)
    assert all(p == raw_min for p, raw_min, _, _ in looks)  # never halved
    clustered = state.clustered
    assert clustered is not None and clustered.split is not None
    assert clustered.split.plan == "unadjusted" and clustered.cuped is None


def test_a_status_written_before_plans_resumes_and_chooses_at_its_next_batch() -> None:
    from modelcanary.analysis._bands import STORED_KEYS, stored_analysis

    rollout, state = Rollout(8), SequentialState()
    for look in range(3):
        state = update_units(RELATIVE, rollout.mirror(look), state)
    stored = AnalysisState(sequential={"error-rate": state}).model_dump(
        mode="json", include=set(STORED_KEYS), by_alias=True
    )
    clustered = stored["sequential"]["error-rate"]["clustered"]
    assert clustered.pop("split")["plan"] == "split"  # what an older status lacks
    old = stored_analysis(stored).sequential["error-rate"]
    assert old.clustered is not None and old.clustered.split is None
    resumed = update_units(RELATIVE, rollout.mirror(3), old)
    assert resumed.clustered is not None and resumed.clustered.split is not None
    assert resumed.clustered.split.plan == "split"
    assert resumed.clustered.split.unadjusted_p <= old.clustered.comparison_p


MIRROR_ONLY = {
    "bluegreen+mirror": {"iterations": 3, "mirror": True},
    "steps: shadow only": {
        "steps": [{"mirror_weight": 100, "iterations": 3}, {"mirror_weight": 50, "iterations": 5}]
    },
}
SERVING = {
    "canary+mirror": {"step_weights": [10, 50], "mirror": True},
    "ab+mirror": {"iterations": 2, "mirror": True, "match": [{"headers": {"x": {"exact": "1"}}}]},
    "steps: shadow then canary": {
        "steps": [{"mirror_weight": 100, "iterations": 8}, {"weight": 20, "iterations": 2}]
    },
}


def test_only_plans_that_serve_the_challenger_split_a_mirror_phases_share() -> None:
    from modelcanary.analysis import analyse_interval
    from modelcanary.analysis._checks import metric_key
    from modelcanary.spec import Analysis

    for name, fields in {**MIRROR_ONLY, **SERVING}.items():
        analysis = Analysis.model_validate(
            {"interval": "1m", "threshold": 1, **fields, "metrics": [RELATIVE.to_dict()]}
        )
        rollout, state, raw_min = Rollout(9), AnalysisState(), 1.0
        for look in range(6):
            state = analyse_interval(analysis, rollout.mirror(look, 2.0), state).state
            clustered = state.sequential[metric_key(RELATIVE)].clustered
            assert clustered is not None and clustered.split is not None
            raw_min = min(raw_min, comparison_p(clustered, 1.0, 0.0))
            if name in MIRROR_ONLY:
                # no covariate can ever come: the unadjusted statistic at the full share
                assert clustered.split.plan == "unadjusted", name
                assert clustered.comparison_p == raw_min, name
            else:
                assert clustered.split.plan == "split", name
                assert math.isclose(clustered.comparison_p, min(1.0, raw_min / W)), name
        assert raw_min < W, (name, raw_min)  # evidence the two rules tell apart
