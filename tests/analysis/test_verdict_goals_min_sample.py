"""Issue 15: threshold-judged checks never fail on too few samples to mean anything, and a
failing check never sits beside a band that says "no difference" for the same metric."""

from __future__ import annotations

import numpy as np
import pytest

from modelcanary.analysis import (
    AnalysisState,
    IntervalData,
    LatencyHistogram,
    NoData,
    PairedPredictions,
    VersionData,
    Window,
    analyse_interval,
    version_data,
)
from modelcanary.analysis._bands import current_band
from modelcanary.analysis._min_sample import binomial_tail, minimum_samples
from modelcanary.spec import Analysis, MetricSpec


def spec(*metrics: dict[str, object], threshold: int = 1) -> Analysis:
    return Analysis.model_validate(
        {
            "interval": "30s",
            "threshold": threshold,
            "step_weights": [5, 10, 25, 50],
            "metrics": list(metrics),
        }
    )


P99_RATIO_T = {
    "name": "latency-p99",
    "relative_to": "champion",
    "threshold_range": {"max": 1.5},
    "judge": "threshold",
}
ERR_T = {"name": "error-rate", "threshold_range": {"max": 0.01}, "judge": "threshold"}
P99_T = {"name": "latency-p99", "threshold_range": {"max": 250}, "judge": "threshold"}
AGREE = {"name": "prediction-agreement", "threshold_range": {"min": 0.95}}


def window(
    chal_lat: list[float] | np.ndarray,
    champ_lat: list[float] | np.ndarray,
    chal_err: int = 0,
    champ_err: int = 0,
) -> IntervalData:
    n1, n0 = len(chal_lat), len(champ_lat)
    return IntervalData(
        Window(0, 30),
        version_data("challenger", latencies_ms=chal_lat, errors=[i < chal_err for i in range(n1)]),
        version_data("champion", latencies_ms=champ_lat, errors=[i < champ_err for i in range(n0)]),
    )


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"name": "latency-p99", "threshold_range": {"max": 250}}, 100),
        ({"name": "latency-p95", "threshold_range": {"max": 250}}, 20),
        ({"name": "latency-p90", "threshold_range": {"max": 250}}, 10),
        ({"name": "latency-p50", "threshold_range": {"max": 250}}, 2),
        ({"name": "request-duration", "threshold_range": {"max": 250}}, 100),
        ({"name": "error-rate", "threshold_range": {"max": 0.01}}, 100),
        ({"name": "error-rate", "threshold_range": {"max": 0.05}}, 20),
        ({"name": "error-rate", "threshold_range": {"max": 0}}, None),
        ({"name": "request-success-rate", "threshold_range": {"min": 99}}, 100),
        ({"name": "prediction-agreement", "threshold_range": {"min": 0.95}}, 20),
        (
            {"name": "error-rate", "relative_to": "champion", "threshold_range": {"max": 2}},
            100,
        ),
        (
            {
                "name": "error-rate",
                "relative_to": "champion",
                "comparison": "difference",
                "threshold_range": {"max": 0.005},
            },
            200,
        ),
        ({"name": "throughput", "threshold_range": {"min": 1}}, None),
        ({"name": "kpi", "query": "sum(x)", "threshold_range": {"min": 1}}, None),
    ],
)
def test_minimum_samples_per_metric_kind(kw: dict[str, object], expected: int | None) -> None:
    assert minimum_samples(MetricSpec.model_validate(kw)) == expected


def test_binomial_tail_is_exact() -> None:
    assert binomial_tail(0, 5, 0.01) == 1.0
    assert binomial_tail(1, 1, 0.3) == pytest.approx(0.3)
    assert binomial_tail(2, 3, 0.5) == pytest.approx(0.5)
    assert binomial_tail(6, 5, 0.5) == 0.0


def test_p99_ratio_on_a_handful_of_requests_holds_instead_of_rolling_back() -> None:
    # the notebook case with the threshold judge: one interval's p99 ratio 2.1 on
    # 8 challenger latencies; HEAD failed it and rolled back at threshold 1
    rng = np.random.default_rng(3)
    champ = rng.lognormal(np.log(50.0), 0.3, 300)
    chal = [*rng.lognormal(np.log(50.0), 0.3, 7), 400.0]
    result = analyse_interval(spec(P99_RATIO_T), window(chal, champ))
    check = result.checks[0]
    assert check.value is not None and check.value > 1.5
    assert check.verdict == "inconclusive" and check.waiting
    assert result.action == "hold"
    assert "8 challenger latencies, fewer than the 100" in check.reason
    assert "not enough evidence yet" in result.message


def test_p99_ratio_on_enough_requests_still_fails() -> None:
    rng = np.random.default_rng(4)
    champ = rng.lognormal(np.log(50.0), 0.3, 300)
    chal = rng.lognormal(np.log(50.0), 0.3, 300) * 2.5
    result = analyse_interval(spec(P99_RATIO_T), window(chal, champ))
    assert result.checks[0].verdict == "fail" and result.action == "rollback"


def test_one_error_in_twenty_requests_waits_but_a_clear_breach_fails() -> None:
    fine = [50.0] * 20
    one = analyse_interval(spec(ERR_T), window(fine, [50.0] * 400, chal_err=1))
    assert one.checks[0].verdict == "inconclusive" and one.action == "hold"
    assert "one bad event alone must not breach the bound" in one.checks[0].reason
    many = analyse_interval(spec(ERR_T), window(fine, [50.0] * 400, chal_err=10))
    assert many.checks[0].verdict == "fail" and many.action == "rollback"


def test_slow_requests_on_few_samples_wait_unless_clearly_above_the_quantile() -> None:
    one_slow = analyse_interval(spec(P99_T), window([50.0] * 4 + [400.0], [50.0] * 400))
    assert one_slow.checks[0].verdict == "inconclusive" and one_slow.action == "hold"
    three_slow = analyse_interval(spec(P99_T), window([50.0] * 2 + [400.0] * 3, [50.0] * 400))
    assert three_slow.checks[0].verdict == "fail" and three_slow.action == "rollback"


def test_histogram_p99_on_few_requests_waits() -> None:
    hist = LatencyHistogram((100.0, 250.0, 500.0, float("inf")), (5.0, 5.0, 6.0, 6.0))
    data = IntervalData(
        Window(0, 30),
        VersionData("challenger", latencies=hist),
        version_data("champion", latencies_ms=[50.0] * 400),
    )
    result = analyse_interval(spec(P99_T), data)
    assert result.checks[0].value is not None and result.checks[0].value > 250
    assert result.checks[0].verdict == "inconclusive" and result.action == "hold"


def agreement_window(disagree: int, pairs: int) -> IntervalData:
    champ = ["cat"] * pairs
    chal = ["dog"] * disagree + ["cat"] * (pairs - disagree)
    return IntervalData(
        Window(0, 30),
        version_data("challenger", latencies_ms=[50.0] * pairs, errors=[False] * pairs),
        version_data("champion", latencies_ms=[50.0] * pairs, errors=[False] * pairs),
        paired=PairedPredictions(tuple(champ), tuple(chal)),
        mirrored=True,
    )


def test_agreement_needs_enough_pairs_to_fail() -> None:
    one = analyse_interval(spec(AGREE), agreement_window(1, 10))
    assert one.checks[0].verdict == "inconclusive" and one.action == "hold"
    assert "10 challenger pairs, fewer than the 20" in one.checks[0].reason
    most = analyse_interval(spec(AGREE), agreement_window(8, 10))
    assert most.checks[0].verdict == "fail"
    enough = analyse_interval(spec(AGREE), agreement_window(3, 40))
    assert enough.checks[0].verdict == "fail"


def test_small_sample_hold_is_bounded_by_the_hold_deadline() -> None:
    data = window([50.0] * 19 + [400.0], [50.0] * 400)
    state, actions = AnalysisState(), []
    for _ in range(10):
        result = analyse_interval(spec(P99_RATIO_T), data, state, hold_deadline_s=90)
        state, actions = result.state, [*actions, result.action]
        if result.action != "hold":
            break
    assert actions == ["hold", "hold", "inconclusive"]
    assert "hold deadline" in result.message


def test_a_failing_check_never_sits_beside_a_band_that_shows_no_difference() -> None:
    # a metric the sequential judge has been judging falls back to its interval value when
    # the champion's latencies are missing from a window; HEAD failed the p99 there (and
    # rolled back) while the band from the same metric's state said "no difference"
    analysis = spec(
        {"name": "error-rate", "threshold_range": {"max": 0.01}},
        {"name": "latency-p99", "threshold_range": {"max": 250}},
    )
    contradictions = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        state = AnalysisState()
        for tick in range(4):
            n1, n0 = int(rng.integers(100, 300)), int(rng.integers(1000, 3000))
            chal = rng.lognormal(np.log(80.0), 0.55, n1)
            data = window(chal, rng.lognormal(np.log(80.0), 0.55, n0))
            if tick % 2:  # the provider lost the champion's latencies in this window
                data = IntervalData(
                    data.window,
                    data.challenger,
                    VersionData("champion", data.champion.counts, NoData("gap")),
                )
            result = analyse_interval(analysis, data, state)
            for check in result.checks:
                seq = result.state.sequential.get(check.key)
                band = current_band(analysis, check.key, seq)
                if check.verdict == "fail" and band is not None and band.verdict == "unsure":
                    contradictions.append((seed, tick, check.reason))
            state = result.state
    assert contradictions == []
