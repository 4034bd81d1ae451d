"""Issue 15, items 2-4: one false-rollback budget, "not enough evidence yet" as a state, and
verdicts that never contradict their p-values. Seeded simulations, outcomes asserted."""

from __future__ import annotations

import numpy as np

from modelcanary.analysis import (
    AnalysisState,
    IntervalData,
    Window,
    analyse_interval,
    version_data,
)
from modelcanary.analysis._judges import DEFAULT_ALPHA
from modelcanary.spec import Analysis


def spec(*metrics: dict[str, object], threshold: int = 1) -> Analysis:
    return Analysis.model_validate(
        {
            "interval": "30s",
            "threshold": threshold,
            "step_weights": [5, 10, 25, 50],
            "metrics": list(metrics),
        }
    )


ERR = {"name": "error-rate", "threshold_range": {"max": 0.01}}
P99 = {"name": "latency-p99", "threshold_range": {"max": 250}}
P99_REL = {"name": "latency-p99", "relative_to": "champion", "threshold_range": {"max": 1.5}}


def healthy_window(rng: np.random.Generator, rps: float, share: float) -> IntervalData:
    """30 s of healthy traffic: both versions 0.2 % errors, the same latencies."""
    n = rng.poisson(rps * 30)
    to_chal = rng.random(n) < share
    lat = rng.lognormal(np.log(50.0), 0.5, n)
    err = rng.random(n) < 0.002
    return IntervalData(
        Window(0, 30),
        version_data("challenger", latencies_ms=lat[to_chal], errors=err[to_chal]),
        version_data("champion", latencies_ms=lat[~to_chal], errors=err[~to_chal]),
    )


def rollout_outcome(analysis: Analysis, seed: int, rps: float, share: float) -> str:
    """Run until 5 passes (promotion) or a decision; ``promoted`` or the failing action."""
    rng = np.random.default_rng(seed)
    state, passes = AnalysisState(), 0
    for _ in range(60):
        result = analyse_interval(analysis, healthy_window(rng, rps, share), state)
        state = result.state
        if result.action == "advance":
            passes += 1
            if passes == 5:
                return "promoted"
        elif result.action in ("rollback", "inconclusive"):
            return result.action
    return "timeout"


def test_low_traffic_healthy_challenger_is_held_not_failed_for_no_data() -> None:
    # 2 rps, 5 % share: about 3 challenger requests per interval, none in 5 % of them. HEAD
    # failed those intervals on no data (threshold 1: rolled back about 12 % of runs)
    outcomes = [rollout_outcome(spec(ERR, P99), s, rps=2, share=0.05) for s in range(200)]
    assert outcomes.count("promoted") == 200, {o: outcomes.count(o) for o in set(outcomes)}


def test_one_budget_at_threshold_one_holds_for_the_default_metrics() -> None:
    # 100 rps, 5 % share: a noisy interval's point value (2 errors in 150 = 1.3 % > 1 %) used
    # to add a failed check on top of the sequential tests' alpha
    outcomes = [rollout_outcome(spec(ERR, P99), s, rps=100, share=0.05) for s in range(300)]
    assert outcomes.count("promoted") / len(outcomes) >= 0.95
    assert "rollback" not in outcomes or outcomes.count("rollback") / len(outcomes) <= 0.05


def test_no_challenger_requests_holds_and_never_promotes() -> None:
    champion_only = IntervalData(
        Window(0, 30),
        version_data("challenger"),
        version_data("champion", latencies_ms=[50.0] * 60, errors=[False] * 60),
    )
    state = AnalysisState()
    actions = []
    for _ in range(30):
        result = analyse_interval(spec(ERR, P99), champion_only, state, hold_deadline_s=120)
        state, actions = result.state, [*actions, result.action]
        if result.action != "hold":
            break
    assert actions == ["hold", "hold", "hold", "inconclusive"]
    assert result.verdict == "inconclusive" and "no challenger requests" in result.message


def test_noisy_interval_p99_ratio_holds_with_its_p_value_instead_of_rolling_back() -> None:
    # the notebook case: one interval's p99 ratio far above max 1.5 while the
    # always-valid comparison shows nothing (p = 1); HEAD rolled back at threshold 1
    rng = np.random.default_rng(7)
    champ = rng.lognormal(np.log(50.0), 0.3, 200)
    chal = np.append(rng.lognormal(np.log(50.0), 0.3, 19), 400.0)  # one slow request
    data = IntervalData(
        Window(0, 30),
        version_data("challenger", latencies_ms=chal, errors=[False] * 20),
        version_data("champion", latencies_ms=champ, errors=[False] * 200),
    )
    result = analyse_interval(spec(P99_REL), data)
    check = result.checks[0]
    assert check.value is not None and check.value > 1.5  # the point value is out of range
    assert check.p_value is not None and check.p_value > 0.05
    assert result.action == "hold" and check.verdict == "inconclusive" and check.waiting
    assert "not enough evidence yet" in result.message and "p=" in result.message


def test_a_sequential_check_fails_only_with_a_p_value_within_alpha() -> None:
    # the verdict and the band's p-value never contradict: every failing sequential check
    # carries p <= alpha, every p > alpha check is not a failure (random small windows)
    analysis = spec(ERR, P99, P99_REL)
    for seed in range(150):
        rng = np.random.default_rng(seed)
        state = AnalysisState()
        for _ in range(4):
            result = analyse_interval(analysis, healthy_window(rng, 20, 0.1), state)
            state = result.state
            for check in result.checks:
                if check.judge != "sequential" or check.p_value is None:
                    continue
                assert (check.verdict == "fail") == (check.p_value <= DEFAULT_ALPHA / 3), check
