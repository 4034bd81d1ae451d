"""EmbeddedProvider reads the local router's recorder; custom queries are explicit NoData."""

from __future__ import annotations

import numpy as np
import pytest

from modelcanary.analysis._measurements import Counts, NoData, PairedPredictions, Samples, Window
from modelcanary.analysis._sli import sli_value
from modelcanary.local._recorder import Recorder
from modelcanary.ports import MetricProvider
from modelcanary.providers import EmbeddedProvider, IntervalSource
from modelcanary.spec import MetricSpec, parse_rollout

ROLLOUT = parse_rollout(
    {
        "metadata": {"name": "fraud"},
        "spec": {
            "champion": {"url": "http://127.0.0.1:1"},
            "challenger": {"url": "http://127.0.0.1:2"},
            "analysis": {
                "interval": "30s",
                "threshold": 1,
                "stepWeights": [50],
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
            },
        },
    }
)


@pytest.fixture
def recorder() -> Recorder:
    rec = Recorder()
    for i in range(10):  # champion: 10 requests at t=100..109, one 503
        rec.record(100.0 + i, "champion", 10.0 + i, 503 if i == 0 else 200, "ok", f"r{i}")
    for i in range(4):  # challenger: 4 mirrored copies of r0..r3, one disagreeing
        label = "fraud" if i == 3 else "ok"
        rec.record(100.5 + i, "challenger", 20.0 + i, 200, label, f"r{i}", mirrored=True)
    rec.record(200.0, "challenger", 99.0, 500, "ok")  # outside the window below
    return rec


def test_is_a_metric_provider(recorder: Recorder) -> None:
    provider = EmbeddedProvider(recorder)
    assert isinstance(provider, MetricProvider)
    assert isinstance(recorder, IntervalSource)
    assert provider.is_online() and provider.name == "embedded"


def test_collect_is_the_recorders_interval(recorder: Recorder) -> None:
    window = Window(100.0, 110.0)
    data = EmbeddedProvider(recorder).collect(ROLLOUT, window)
    assert data.champion.counts == Counts(10, 1, "champion")
    assert data.challenger.counts == Counts(4, 0, "challenger")
    assert data.mirrored is True
    assert isinstance(data.challenger.latencies, Samples)
    np.testing.assert_array_equal(data.challenger.latencies.values, [20.0, 21.0, 22.0, 23.0])
    assert isinstance(data.paired, PairedPredictions) and len(data.paired) == 4
    agreement = sli_value(MetricSpec(name="prediction-agreement"), data, data.challenger)
    assert agreement == pytest.approx(0.75)
    p50 = sli_value(MetricSpec(name="latency-p50"), data, data.champion)
    assert p50 == pytest.approx(14.5)


def test_empty_window_is_no_data(recorder: Recorder) -> None:
    data = EmbeddedProvider(recorder).collect(ROLLOUT, Window(300.0, 330.0))
    assert isinstance(data.challenger.counts, NoData)
    assert isinstance(data.champion.latencies, NoData)


def test_custom_queries_need_a_backend(recorder: Recorder) -> None:
    metric = MetricSpec(name="business-kpi", query="sum(rate(orders_total[1m]))")
    result = EmbeddedProvider(recorder).query(metric, ROLLOUT, Window(100.0, 110.0))
    assert isinstance(result, NoData)
    assert "business-kpi" in result.reason and "prometheus" in result.reason
