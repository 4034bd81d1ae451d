"""Checks and the threshold judge: ranges, relative comparisons, noData policies, records."""

from __future__ import annotations

import math

import numpy as np
import pytest
from analysis_helpers import analysis, metric

from modelcanary.analysis import (
    AnalysisState,
    IntervalData,
    NoData,
    Window,
    aggregate,
    analyse_interval,
    scalar,
    threshold_check,
    version_data,
)
from modelcanary.analysis._checks import CheckResult, compare
from modelcanary.spec import CheckRecord


def _data(
    chal_errors: int, chal_total: int, champ_errors: int = 0, champ_total: int = 0
) -> IntervalData:
    chal = version_data(
        "challenger", errors=[True] * chal_errors + [False] * (chal_total - chal_errors)
    )
    champ = version_data(
        "champion", errors=[True] * champ_errors + [False] * (champ_total - champ_errors)
    )
    return IntervalData(Window(0, 60), chal, champ)


@pytest.mark.parametrize(
    ("errors", "rng", "verdict"),
    [
        (1, {"max": 0.01}, "pass"),  # 1 % is within max 1 % (inclusive)
        (2, {"max": 0.01}, "fail"),
        (2, {"min": 0.001, "max": 0.05}, "pass"),
        (0, {"min": 0.001}, "fail"),
    ],
)
def test_absolute_threshold_range(errors: int, rng: dict[str, float], verdict: str) -> None:
    result = threshold_check(metric("error-rate", threshold_range=rng), _data(errors, 100), "fail")
    assert result.verdict == verdict
    assert result.value == pytest.approx(errors / 100)
    assert ("within" in result.reason) == (verdict == "pass")


def test_deprecated_threshold_is_min_for_success_rate_max_otherwise() -> None:
    data = _data(3, 100)
    assert (
        threshold_check(metric("request-success-rate", threshold=99), data, "fail").verdict
        == "fail"
    )
    assert (
        threshold_check(metric("request-success-rate", threshold=95), data, "fail").verdict
        == "pass"
    )
    assert threshold_check(metric("error-rate", threshold=0.05), data, "fail").verdict == "pass"


@pytest.mark.parametrize(
    ("comparison", "bound", "verdict", "value"),
    [
        ("ratio", 1.5, "fail", 2.0),
        ("ratio", 2.0, "pass", 2.0),
        ("difference", 0.005, "fail", 0.01),
        ("difference", 0.02, "pass", 0.01),
    ],
)
def test_relative_to_champion(comparison: str, bound: float, verdict: str, value: float) -> None:
    m = metric(
        "error-rate", relative_to="champion", comparison=comparison, threshold_range={"max": bound}
    )
    result = threshold_check(m, _data(4, 200, 10, 1000), "fail")
    assert result.verdict == verdict
    assert result.value == pytest.approx(value)
    assert result.champion_value == pytest.approx(0.01)
    assert result.key == "error-rate@champion"


def test_ratio_over_a_perfect_champion() -> None:
    assert compare(0.0, 0.0, "ratio") == 1.0
    assert math.isinf(compare(0.01, 0.0, "ratio"))


@pytest.mark.parametrize(
    ("policy", "verdict"), [("fail", "fail"), ("skip", "skipped"), ("inconclusive", "inconclusive")]
)
def test_no_data_policy(policy: str, verdict: str) -> None:
    empty = IntervalData(Window(0, 60), version_data("challenger"))
    result = threshold_check(metric("error-rate", threshold_range={"max": 0.01}), empty, policy)  # type: ignore[arg-type]
    assert result.verdict == verdict
    assert result.value is None
    assert "no data" in result.reason
    # the metric's own policy overrides the analysis'
    own = metric("error-rate", threshold_range={"max": 0.01}, no_data="skip")
    assert threshold_check(own, empty, "fail").verdict == "skipped"


def test_relative_check_without_champion_data_follows_policy() -> None:
    m = metric("latency-p99", relative_to="champion", threshold_range={"max": 1.1})
    data = IntervalData(Window(0, 60), version_data("challenger", latencies_ms=[10.0, 20.0]))
    result = threshold_check(m, data, "inconclusive")
    assert result.verdict == "inconclusive"
    assert "champion" in result.reason


def test_provider_nan_and_bad_input_are_no_data_and_error() -> None:
    chal = version_data("challenger", values={"kpi": NoData("provider returned NaN")})
    data = IntervalData(Window(0, 60), chal)
    assert (
        threshold_check(metric("kpi", query="q", threshold_range={"min": 1}), data, "fail").verdict
        == "fail"
    )
    both = IntervalData(
        Window(0, 60),
        version_data("challenger", predictions=[0.1, 0.2]),
        version_data("champion", predictions=["a", "b"]),
    )
    m = metric("prediction-drift", method="ks", threshold_range={"max": 0.1})
    mixed = threshold_check(m, both, "fail")  # scores vs labels compare as labels: disjoint
    assert (mixed.verdict, mixed.value) == ("fail", 1.0)
    zero = IntervalData(Window(0, 0), version_data("challenger", errors=[False]))
    assert (
        threshold_check(metric("throughput", threshold_range={"min": 1}), zero, "fail").verdict
        == "error"
    )


def test_result_converts_to_check_record() -> None:
    result = threshold_check(
        metric("error-rate", threshold_range={"max": 0.01}), _data(5, 100), "fail"
    )
    record = result.to_record()
    assert isinstance(record, CheckRecord)
    assert (record.metric, record.verdict, record.max, record.value) == (
        "error-rate",
        "fail",
        0.01,
        0.05,
    )
    inf = CheckResult("x", "x", "fail", "r", value=math.inf)
    assert inf.to_record().value is None
    assert inf.to_dict()["value"] is None


def test_aggregate_order_and_blind_intervals() -> None:
    def c(v: str) -> CheckResult:
        return CheckResult("m", "m", v, "")  # type: ignore[arg-type]

    assert aggregate([c("pass"), c("inconclusive"), c("fail")]) == "fail"
    assert aggregate([c("pass"), c("error"), c("inconclusive")]) == "error"
    assert aggregate([c("pass"), c("skipped")]) == "pass"
    assert aggregate([c("skipped")]) == "inconclusive"  # never passes blind
    assert aggregate([], has_metrics=False) == "pass"


def test_threshold_judge_counts_failed_intervals_until_threshold() -> None:
    spec = analysis(
        metric("error-rate", threshold_range={"max": 0.01}, judge="threshold"), threshold=3
    )
    state = AnalysisState()
    actions = []
    for _ in range(3):
        result = analyse_interval(spec, _data(5, 100, 1, 100), state)
        state = result.state
        actions.append(result.action)
        assert result.verdict == "fail" and not result.decisive
    assert actions == ["hold", "hold", "rollback"]
    assert state.failed_checks == 3
    assert "3/3" in result.message


def test_pass_advances_and_inconclusive_limit_fails_the_rollout() -> None:
    spec = analysis(
        metric("error-rate", threshold_range={"max": 0.01}, judge="threshold"),
        no_data="inconclusive",
        inconclusive_limit=2,
    )
    ok = analyse_interval(spec, _data(0, 100))
    assert (ok.verdict, ok.action) == ("pass", "advance")
    empty = IntervalData(Window(0, 60), version_data("challenger"))
    first = analyse_interval(spec, empty, ok.state)
    second = analyse_interval(spec, empty, first.state)
    assert (first.action, second.action) == ("hold", "inconclusive")
    # a pass in between resets the streak
    again = analyse_interval(spec, empty, analyse_interval(spec, _data(0, 100), first.state).state)
    assert again.action == "hold"


def test_custom_metric_and_state_round_trip() -> None:
    spec = analysis(metric("kpi", query="sum(x)", threshold_range={"min": 2.0}))
    chal = version_data("challenger", values={"kpi": scalar(1.5)})
    result = analyse_interval(spec, IntervalData(Window(0, 60), chal))
    assert result.verdict == "fail"
    dumped = result.state.model_dump(mode="json")
    assert AnalysisState.model_validate(dumped) == result.state
    record = result.to_record("2026-01-01T00:00:00Z", canary_weight=5)
    assert record.checks[0].metric == "kpi" and record.verdict == "fail"
    assert np.isclose(record.checks[0].value or 0, 1.5)
