"""Mirror coverage in the interval analysis: never a pass on copies the challenger was not sent.

A mirror interval whose challenger got fewer than 90 % of the copies the mirror weight asked
for (at least 20 asked for) cannot pass: what it answered is a biased remainder (a challenger
that cannot keep up, or is unreachable, looks healthy on the few copies that got through).
Its would-be passes are inconclusive with the coverage in their reasons; failures stay.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from modelcanary.analysis import AnalysisState, Window, analyse_interval
from modelcanary.analysis._measurements import IntervalData, MirrorCoverage, version_data
from modelcanary.spec import parse_rollout
from modelcanary.spec._analysis import Analysis

N = 400


def _analysis(*metrics: dict[str, object]) -> Analysis:
    spec = parse_rollout(
        {
            "metadata": {"name": "fraud", "namespace": "ml"},
            "spec": {
                "champion": {"modelUri": "models:/fraud@champion"},
                "challenger": {"modelUri": "models:/fraud/2"},
                "analysis": {"interval": "30s", "stepWeights": [50], "metrics": list(metrics)},
            },
        }
    )
    return spec.spec.analysis


THRESHOLDS = _analysis(
    {"name": "error-rate", "thresholdRange": {"max": 0.05}, "judge": "threshold"},
    {"name": "latency-p99", "thresholdRange": {"max": 500}, "judge": "threshold"},
)
DEFAULT_JUDGES = _analysis(
    {"name": "error-rate", "thresholdRange": {"max": 0.05}},
    {"name": "latency-p99", "relativeTo": "champion", "thresholdRange": {"max": 1.5}},
)


def _mirror_window(
    coverage: MirrorCoverage | None, challenger_errors: int = 0, answered: int = N
) -> IntervalData:
    """A mirror interval: the champion served N requests, the challenger answered ``answered``
    copies (healthy unless ``challenger_errors``)."""
    champion = version_data("champion", latencies_ms=[10.0] * N, errors=[False] * N)
    errors = [i < challenger_errors for i in range(answered)]
    challenger = version_data("challenger", latencies_ms=[10.0] * answered, errors=errors)
    return IntervalData(
        Window(0.0, 30.0), challenger, champion, mirrored=True, mirror_coverage=coverage
    )


@pytest.mark.parametrize("analysis", [THRESHOLDS, DEFAULT_JUDGES], ids=["threshold", "default"])
def test_a_challenger_sent_half_its_copies_is_not_passed(analysis: Analysis) -> None:
    data = _mirror_window(MirrorCoverage(eligible=N, dropped=N // 2), answered=N // 2)
    result = analyse_interval(analysis, data)
    assert result.verdict == "inconclusive" and result.action == "hold"
    assert all(c.verdict == "inconclusive" for c in result.checks)
    for check in result.checks:
        assert "mirror coverage 50% (200 of 400 copies dropped" in check.reason
        assert "could not keep up or was unreachable" in check.reason
        assert check.to_record().reason == check.reason  # shown in the history
    assert "mirror coverage 50%" in result.message
    assert result.state.inconclusive_checks == 1  # counts toward inconclusiveLimit
    assert result.state.held == 0  # not merely waiting for more traffic


@pytest.mark.parametrize(
    "coverage",
    [
        None,  # a provider that cannot tell
        MirrorCoverage(eligible=N, dropped=N // 20),  # 95 %: enough
        MirrorCoverage(eligible=10, dropped=8),  # too few copies asked for to tell
        MirrorCoverage(eligible=0, dropped=0),  # no mirroring in this window
    ],
    ids=["unknown", "95pct", "few-copies", "none-asked"],
)
def test_enough_coverage_or_too_few_copies_passes_as_before(
    coverage: MirrorCoverage | None,
) -> None:
    result = analyse_interval(THRESHOLDS, _mirror_window(coverage))
    assert result.verdict == "pass" and result.action == "advance", result.message
    assert not any("mirror coverage" in c.reason for c in result.checks)


def test_the_boundary_is_ninety_percent() -> None:
    at = analyse_interval(THRESHOLDS, _mirror_window(MirrorCoverage(eligible=100, dropped=10)))
    below = analyse_interval(THRESHOLDS, _mirror_window(MirrorCoverage(eligible=100, dropped=11)))
    assert at.verdict == "pass"
    assert below.verdict == "inconclusive"
    assert (
        analyse_interval(THRESHOLDS, _mirror_window(MirrorCoverage(eligible=20, dropped=3))).verdict
        == "inconclusive"
    )  # 85 % of exactly 20 copies


def test_a_failure_on_the_copies_it_answered_still_fails() -> None:
    data = _mirror_window(
        MirrorCoverage(eligible=N, dropped=300), challenger_errors=30, answered=100
    )
    result = analyse_interval(THRESHOLDS, data)
    assert result.verdict == "fail" and result.action == "rollback"
    error_rate = next(c for c in result.checks if c.metric == "error-rate")
    assert error_rate.verdict == "fail" and "mirror coverage" not in error_rate.reason
    latency = next(c for c in result.checks if c.metric == "latency-p99")
    assert latency.verdict == "inconclusive" and "mirror coverage 25%" in latency.reason


def test_a_challenger_that_never_keeps_up_fails_as_inconclusive_never_promoted() -> None:
    state: AnalysisState | None = None
    actions = []
    data = _mirror_window(MirrorCoverage(eligible=N, dropped=350), answered=50)
    for k in range(THRESHOLDS.inconclusive_limit):
        window = Window(30.0 * k, 30.0 * (k + 1))
        result = analyse_interval(THRESHOLDS, replace(data, window=window), state)
        state = result.state
        actions.append(result.action)
    assert actions == ["hold"] * (THRESHOLDS.inconclusive_limit - 1) + ["inconclusive"]
    assert "mirror coverage 12%" in result.message


def test_coverage_recovers_and_the_next_interval_passes() -> None:
    low = analyse_interval(THRESHOLDS, _mirror_window(MirrorCoverage(eligible=N, dropped=N)))
    assert low.verdict == "inconclusive"
    ok = analyse_interval(
        THRESHOLDS,
        _mirror_window(MirrorCoverage(eligible=N, dropped=0), answered=N),
        low.state,
    )
    assert ok.verdict == "pass" and ok.action == "advance"
    assert ok.state.inconclusive_checks == 0
