"""Judge selection and the sequential judge: edge cases, decisive rollbacks, null behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_helpers import analysis, interval, metric

from modelcanary.analysis import (
    AnalysisState,
    IntervalData,
    SequentialState,
    Window,
    analyse_interval,
    check_batch,
    scalar,
    select_judge,
    sequential_check,
    version_data,
)
from modelcanary.analysis._interval import shared_alpha

ERR = metric("error-rate", threshold_range={"max": 0.01})
P99 = metric("latency-p99", threshold_range={"max": 500})
P99_REL = metric("latency-p99", relative_to="champion", threshold_range={"max": 1.1})


def test_sequential_is_default_for_rates_and_latency_with_a_champion_baseline() -> None:
    data = interval(np.random.default_rng(1))
    assert select_judge(ERR, data) == "sequential"
    assert select_judge(P99, data) == "sequential"
    assert select_judge(metric("throughput", threshold_range={"min": 1}), data) == "threshold"
    assert (
        select_judge(metric("error-rate", threshold_range={"max": 0.01}, judge="threshold"), data)
        == "threshold"
    )
    alone = IntervalData(data.window, data.challenger)
    assert select_judge(ERR, alone) == "threshold"  # no champion baseline
    given = IntervalData(
        data.window, version_data("challenger", values={"error-rate": scalar(0.1)}), data.champion
    )
    assert select_judge(ERR, given) == "threshold"  # provider scalar: no per-request data


def test_clear_error_regression_rolls_back_at_once() -> None:
    spec = analysis(ERR, threshold=5)
    result = analyse_interval(spec, interval(np.random.default_rng(2), err_chal=0.06))
    assert result.action == "rollback" and result.decisive
    check = result.checks[0]
    assert check.judge == "sequential" and check.verdict == "fail"
    assert check.p_value is not None and check.p_value <= 0.05
    assert "always-valid" in check.reason and "rollback" in result.message


def test_latency_regression_within_the_slo_is_caught_by_the_champion_comparison() -> None:
    spec = analysis(P99, threshold=5)
    state, actions = AnalysisState(), []
    rng = np.random.default_rng(3)
    for _ in range(4):
        result = analyse_interval(spec, interval(rng, lat_scale=1.5), state)
        state, actions = result.state, [*actions, result.action]
        if result.action == "rollback":
            break
    assert actions[-1] == "rollback"
    assert "slow requests" in result.checks[0].reason
    assert all(c.value is not None and c.value < 500 for c in result.checks)  # SLO itself held


def test_no_data_constant_and_tiny_samples() -> None:
    empty = IntervalData(Window(0, 30), version_data("challenger"), version_data("champion"))
    check, state = sequential_check(ERR, empty, None, "inconclusive")
    assert check.verdict == "inconclusive" and state == SequentialState()
    constant = IntervalData(
        Window(0, 30),
        version_data("challenger", latencies_ms=[50.0] * 200, errors=[False] * 200),
        version_data("champion", latencies_ms=[50.0] * 2000, errors=[False] * 2000),
    )
    for m in (ERR, P99, P99_REL):
        check, _ = sequential_check(m, constant, None, "fail")
        assert check.verdict == "pass" and not check.decisive
    tiny = IntervalData(
        Window(0, 30),
        version_data("challenger", latencies_ms=[900.0], errors=[True]),
        version_data("champion", latencies_ms=[50.0, 60.0], errors=[False, False]),
    )
    check, _ = sequential_check(ERR, tiny, None, "fail")
    # one error is not proof: 100 % > 1 % in this interval holds the step (waiting), never fails
    assert check.verdict == "inconclusive" and check.waiting and not check.decisive


def test_state_is_serialisable_and_resumes() -> None:
    spec = analysis(ERR, P99_REL)
    rng = np.random.default_rng(4)
    first = analyse_interval(spec, interval(rng))
    resumed = AnalysisState.model_validate_json(first.state.model_dump_json())
    data = interval(rng)
    assert (
        analyse_interval(spec, data, resumed).state
        == analyse_interval(spec, data, first.state).state
    )


def test_difference_comparison_uses_the_gaussian_msprt() -> None:
    m = metric(
        "error-rate",
        relative_to="champion",
        comparison="difference",
        threshold_range={"max": 0.005},
        judge="sequential",
    )
    state: SequentialState | None = None
    rng = np.random.default_rng(5)
    for _ in range(3):
        check, state = sequential_check(
            m, interval(rng, err_chal=0.05, err_champ=0.01), state, "fail"
        )
    assert state is not None and state.difference is not None and check.decisive


@pytest.mark.parametrize("m", [ERR, P99, P99_REL], ids=["error-rate", "p99", "p99-relative"])
def test_healthy_challenger_false_rollbacks_at_most_alpha(m: object) -> None:
    """Identical versions, 6 intervals of 5-50 % weight: decisive rejections <= alpha (0.05).

    150 seeded runs; the observed rate is typically ~0.01, so 0.05 leaves > 3 standard errors.
    """
    rng = np.random.default_rng(6)
    rejected = 0
    for _ in range(150):
        state: SequentialState | None = None
        for w in (0.05, 0.05, 0.10, 0.25, 0.50, 0.50):
            data = interval(rng, n_chal=int(3000 * w), n_champ=int(3000 * (1 - w)))
            check, state = sequential_check(m, data, state, "fail")  # type: ignore[arg-type]
            if check.decisive:
                rejected += 1
                break
    assert rejected / 150 <= 0.05


def _split(data: IntervalData, parts: int) -> list[IntervalData]:
    """Cut an interval's per-request data into ``parts`` batches (by position)."""
    out = []
    for i in range(parts):
        sides = []
        for side in (data.challenger, data.champion):
            lat = side.latencies.values  # type: ignore[union-attr]
            err = np.zeros(len(lat), dtype=bool)
            err[: side.counts.errors] = True  # type: ignore[union-attr]
            err = np.random.default_rng(i).permutation(err)
            chunk = slice(i * len(lat) // parts, (i + 1) * len(lat) // parts)
            sides.append(version_data(side.side, latencies_ms=lat[chunk], errors=err[chunk]))
        out.append(IntervalData(data.window, sides[0], sides[1]))
    return out


def test_batches_roll_back_early_and_are_not_counted_twice() -> None:
    spec = analysis(ERR, P99)
    rng = np.random.default_rng(7)
    bad = interval(rng, err_chal=0.2)
    first = check_batch(spec, _split(bad, 6)[0])
    assert first.action == "rollback" and first.decisive and first.checks[0].key == "error-rate"
    good = interval(rng)
    state = AnalysisState()
    for batch in _split(good, 6):
        quick = check_batch(spec, batch, state)
        assert quick.action == "hold" and quick.state.failed_checks == 0
        state = quick.state
    seq = state.sequential["error-rate"].champion
    assert (
        seq is not None
        and seq.trials == good.challenger.counts.errors + good.champion.counts.errors
    )  # type: ignore[union-attr]
    final = analyse_interval(spec, good, state, batches_checked=True)
    for key, before in state.sequential.items():  # fed once, by the batches
        after = final.state.sequential[key]
        assert (after.slo, after.champion, after.pairs) == (
            before.slo,
            before.champion,
            before.pairs,
        )
        assert after.restarts_made == before.restarts_made + 1  # fresh tests from the next one
    assert final.state.iterations == 1 and final.action == "advance"


def test_metrics_without_alpha_share_the_rollout_budget() -> None:
    own = metric("latency-p50", threshold_range={"max": 100}, alpha=0.01)
    spec = analysis(ERR, P99, own, metric("throughput", threshold_range={"min": 1}))
    assert shared_alpha(spec) == pytest.approx(0.005)  # the rollout's 0.01, over two metrics
    assert shared_alpha(analysis(ERR)) == pytest.approx(0.01)
    assert (
        "alpha 0.005" in analyse_interval(spec, interval(np.random.default_rng(8))).checks[0].reason
    )
