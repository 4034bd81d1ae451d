"""Non-finite provider values are no data, and an all-skipped interval says why (issue 12.11).

A custom query that divides by zero returns +Inf (or NaN); a min-only range used to pass on
it. Now any value that is not a finite number is NoData: the metric's ``noData`` policy
decides (default fail), the reason names the value. An interval whose every metric was
skipped is inconclusive, holds the weight (never counts toward promotion) and its message
names each skipped metric instead of the empty ``inconclusive 1/3: ``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from analysis_helpers import analysis, metric

from modelcanary.analysis import (
    IntervalData,
    LatencyHistogram,
    NoData,
    Samples,
    Scalar,
    VersionData,
    Window,
    analyse_interval,
    scalar,
    version_data,
)
from modelcanary.rollout import Observations, Readiness, step
from modelcanary.spec import parse_rollout

INF, NAN = math.inf, math.nan


def _with_value(value: Any, champion: Any = None) -> IntervalData:
    chal = version_data("challenger", values={"kpi": value})
    champ = version_data("champion", values={"kpi": champion or Scalar(1.0, "champion")})
    return IntervalData(Window(0, 30), chal, champ)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (scalar(INF), "+Inf"),  # what every provider builds its values with
        (Scalar(INF), "+Inf"),  # a provider that builds the Scalar itself
        (Scalar(-INF), "-Inf"),
        (Scalar(NAN), "NaN"),
        (Samples(np.array([1.0, 2.0, INF])), "infinite"),
        (Samples(np.array([1.0, -INF])), "infinite"),
    ],
)
@pytest.mark.parametrize(
    "rule",
    [
        {"threshold_range": {"min": 0.5}},  # passed on +Inf before
        {"threshold_range": {"max": 0.5}},  # passed on -Inf before
        {"threshold_range": {"min": -1e300, "max": 1e300}},
        {"threshold_range": {"min": 0.5}, "relative_to": "champion"},
    ],
)
@pytest.mark.parametrize(("policy", "verdict"), [("fail", "fail"), ("skip", "skipped")])
def test_a_non_finite_value_never_passes_and_the_no_data_policy_decides(
    value: Any, shown: str, rule: dict[str, Any], policy: str, verdict: str
) -> None:
    spec = analysis(metric("kpi", query="q", no_data=policy, **rule))
    result = analyse_interval(spec, _with_value(value))
    (check,) = result.checks
    assert check.verdict == verdict, check.reason
    assert "no data" in check.reason and shown in check.reason
    assert f"noData={policy}" in check.reason
    assert result.action != "advance"


def test_a_non_finite_champion_value_is_no_data_too() -> None:
    spec = analysis(metric("kpi", query="q", threshold_range={"min": 0.5}, relative_to="champion"))
    result = analyse_interval(spec, _with_value(Scalar(2.0), Scalar(INF, "champion")))
    (check,) = result.checks
    assert check.verdict == "fail" and "champion" in check.reason and "+Inf" in check.reason


def test_scalar_turns_infinities_into_no_data_with_the_reason() -> None:
    for raw, shown in ((INF, "+Inf"), (-INF, "-Inf"), (NAN, "NaN")):
        got = scalar(raw, "champion")
        assert isinstance(got, NoData) and shown in got.reason and got.side == "champion"
    assert scalar(1e308) == Scalar(1e308)


def test_histogram_with_non_finite_counts_is_no_data_not_a_crash() -> None:
    spec = analysis(metric("latency-p99", threshold_range={"max": 500}, judge="threshold"))
    hist = LatencyHistogram((100.0, INF), (NAN, NAN))
    data = IntervalData(Window(0, 30), VersionData("challenger", latencies=hist))
    (check,) = analyse_interval(spec, data).checks
    assert check.verdict == "fail" and "no data" in check.reason


def test_mann_whitney_on_infinite_series_is_no_data() -> None:
    spec = analysis(
        metric("kpi", query="q", judge="mann-whitney", threshold_range={"max": 1}),
    )
    series = {"kpi": Samples(np.full(20, INF))}
    chal = version_data("challenger", series=series)
    champ = version_data("champion", series={"kpi": Samples(np.full(20, INF), "champion")})
    result = analyse_interval(spec, IntervalData(Window(0, 30), chal, champ))
    kpi = next(c for c in result.checks if c.key == "kpi")
    assert kpi.verdict == "fail" and "Inf" in kpi.reason  # noData=fail (the default)
    assert result.verdict == "fail"


SKIPPING = analysis(
    metric("error-rate", threshold_range={"max": 0.01}, no_data="skip"),
    metric("kpi", query="q", threshold_range={"min": 0.5}, no_data="skip"),
    inconclusive_limit=3,
)
EMPTY = IntervalData(Window(0, 30), version_data("challenger"), version_data("champion"))


def test_all_skipped_interval_names_every_metric_and_does_not_advance() -> None:
    result = analyse_interval(SKIPPING, EMPTY)
    assert [c.verdict for c in result.checks] == ["skipped", "skipped"]
    assert result.verdict == "inconclusive" and result.action == "hold"
    assert result.message.startswith("inconclusive 1/3: every metric was skipped")
    assert "error-rate" in result.message and "kpi" in result.message
    assert "does not count toward promotion" in result.message
    assert not result.message.endswith(": ")


def test_all_skipped_mann_whitney_score_names_the_metrics() -> None:
    spec = analysis(
        metric("error-rate", judge="mann-whitney", threshold_range={"max": 1}, no_data="skip"),
        metric("latency-p99", judge="mann-whitney", threshold_range={"max": 1}, no_data="skip"),
    )
    result = analyse_interval(spec, EMPTY)
    assert result.verdict == "inconclusive" and result.action == "hold"
    assert "every metric lacked data (error-rate, latency-p99)" in result.message


def test_rollout_never_advances_on_all_skipped_intervals_and_says_why() -> None:
    """Through the pure state machine: the weight holds, then the rollout fails as
    inconclusive with a reason naming the skipped metrics."""
    rollout = parse_rollout(
        {
            "metadata": {"name": "fraud"},
            "spec": {
                "champion": {"modelUri": "models:/fraud@champion"},
                "challenger": {"modelUri": "models:/fraud/2"},
                "analysis": {
                    "interval": "30s",
                    "stepWeights": [10, 50],
                    "inconclusiveLimit": 3,
                    "metrics": [
                        {"name": "error-rate", "thresholdRange": {"max": 0.01}, "noData": "skip"},
                        {
                            "name": "kpi",
                            "query": "q",
                            "thresholdRange": {"min": 1},
                            "noData": "skip",
                        },
                    ],
                },
            },
        }
    )
    ready = Readiness(champion_ready=True, challenger_ready=True, challenger_revision="rev-1")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    status = None
    weights: list[int] = []
    for _ in range(12):
        status, _ = step(rollout, status, Observations(readiness=ready, data=EMPTY), now)
        now += timedelta(seconds=30)
        weights.append(status.canary_weight)
        if status.phase in ("Failed", "Succeeded"):
            break
    assert status is not None and status.phase == "Failed"
    assert max(weights) <= 10 and status.stage_passes == 0
    assert "every metric was skipped" in status.message and "kpi" in status.message
