"""The bucket rules of the sequential latency tests (no server needed).

Exact histograms (whole requests) are sequential evidence; extrapolated ones are not; an SLO
max that is not a bucket bound counts the straddling bucket as slow (toward rollback), and
validation lists the bounds to use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelcanary.analysis import analyse_interval, select_judge
from modelcanary.analysis._histogram import bucketed_latencies, counted_bound, slow_requests
from modelcanary.analysis._measurements import (
    IntervalData,
    LatencyHistogram,
    VersionData,
    Window,
)
from modelcanary.local._proxy.exposition import DURATION_BUCKETS
from modelcanary.serving._exposition import LATENCY_BUCKETS
from modelcanary.spec import MetricSpec, ModelRollout, parse_rollout
from modelcanary.spec._bucket_bounds import LATENCY_BUCKETS_MS, bucket_bound_warnings

INF = float("inf")
BOUNDS = (10.0, 25.0, 50.0, INF)


def hist(cumulative: tuple[float, ...], side: Any = "challenger", exact: bool = True) -> Any:
    return LatencyHistogram(BOUNDS, cumulative, side, exact=exact)


def data(chal: LatencyHistogram, champ: LatencyHistogram) -> IntervalData:
    return IntervalData(
        Window(0, 60),
        VersionData("challenger", latencies=chal),
        VersionData("champion", latencies=champ),
    )


def slo(max_ms: float) -> MetricSpec:
    return MetricSpec(name="latency-p99", threshold_range={"max": max_ms})


def test_exact_histograms_are_sequential_evidence_extrapolated_ones_are_not() -> None:
    exact = data(hist((50, 90, 98, 100)), hist((60, 95, 100, 100), "champion"))
    assert select_judge(slo(25), exact) == "sequential"
    extrapolated = data(
        hist((50.4, 90.7, 98.1, 100.9), exact=False),
        hist((60.2, 95.3, 100.1, 100.1), "champion", exact=False),
    )
    assert select_judge(slo(25), extrapolated) == "threshold"
    with pytest.raises(ValueError, match="whole numbers"):
        hist((50.4, 90.7, 98.1, 100.9))


def test_bucketed_latencies_sit_at_the_top_of_their_bucket() -> None:
    values = bucketed_latencies(hist((3, 3, 7, 8)))
    assert values is not None and len(values) == 8
    assert np.all(values[:3] <= 10) and np.all(values[:3] > 10 * (1 - 1e-8))
    assert np.all((values[3:7] > 25) & (values[3:7] <= 50))
    assert np.isfinite(values[7]) and values[7] > 1e300  # +Inf: finite, above every max
    assert len(set(values[3:7].tolist())) == 4  # spread: a quantile can split the bucket


@pytest.mark.parametrize(
    ("max_ms", "slow", "bound"),
    [
        (25.0, 10, 25.0),  # a bound: exact (requests above 25 ms)
        (30.0, 10, 25.0),  # not a bound: the (25, 50] bucket counts as slow
        (50.0, 2, 50.0),
        (49.0, 10, 25.0),
        (5.0, 100, None),  # below the first bound: every request counts as slow
    ],
)
def test_slo_bad_events_are_conservative_when_max_is_not_a_bound(
    max_ms: float, slow: int, bound: float | None
) -> None:
    chal = hist((50, 90, 98, 100))
    values = bucketed_latencies(chal)
    assert values is not None and slow_requests(values, max_ms) == (slow, 100)
    assert counted_bound(BOUNDS, max_ms) == bound
    if bound is None:
        return  # the champion breaches such an SLO too: an incident, not a test batch
    interval = data(chal, hist((100, 100, 100, 100), "champion"))
    result = analyse_interval(_rollout(max_ms).spec.analysis, interval)
    check = result.checks[1]  # latency-p99 (error-rate has no counts here)
    assert check.judge == "sequential"
    seq = result.state.sequential[check.key].slo
    assert seq is not None and (seq.events, seq.trials) == (slow, 100)


def _rollout(max_ms: float, provider: str = "prometheus") -> ModelRollout:
    return parse_rollout(
        {
            "metadata": {"name": "b", "namespace": "ml"},
            "spec": {
                "champion": {"modelUri": "models:/b@champion"},
                "challenger": {"modelUri": "models:/b/2"},
                "metricsProvider": {"type": provider, "address": "http://127.0.0.1:9"},
                "analysis": {
                    "interval": "30s",
                    "stepWeights": [50],
                    "metrics": [
                        {"name": "error-rate", "thresholdRange": {"max": 0.01}},
                        {"name": "latency-p99", "thresholdRange": {"max": max_ms}},
                    ],
                },
            },
        }
    )


def test_validation_warns_when_an_slo_max_is_not_a_bucket_bound() -> None:
    assert bucket_bound_warnings(_rollout(250)) == []
    [issue] = bucket_bound_warnings(_rollout(200))
    path, text = issue.path, str(issue)
    assert path == "spec.analysis.metrics[1].thresholdRange.max"
    assert "200 ms is not a latency bucket bound" in text
    assert "requests slower than 100 ms count as slow" in text
    assert "1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 ms" in text
    [low_issue] = bucket_bound_warnings(_rollout(0.5, "victoriametrics"))
    low = str(low_issue)
    assert "every request counts as slow" in low
    assert bucket_bound_warnings(_rollout(200, "datadog")) == []  # not histogram buckets


def test_bounds_are_the_exposed_buckets() -> None:
    assert tuple(b * 1000 for b in LATENCY_BUCKETS) == pytest.approx(LATENCY_BUCKETS_MS)
    assert tuple(b * 1000 for b in DURATION_BUCKETS) == pytest.approx(LATENCY_BUCKETS_MS)
