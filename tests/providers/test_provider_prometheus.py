"""PrometheusProvider against a real Prometheus scraping a synthetic router exporter.

The scenario creates every series at 0, lets Prometheus scrape that twice, then adds known
traffic in one batch. The main window starts before the zero samples (series born in the
window: counted from 0) and ends exactly at the first scrape that saw the traffic; other
windows start after the zeros or end past the last scrape, where ``increase()`` would
extrapolate: counts are the counters' exact change (``promql.delta_by``, docs/providers.md).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from prom_fixtures import Exporter, Prometheus, wait_until

from modelcanary.analysis._measurements import (
    Counts,
    LatencyHistogram,
    NoData,
    PredictionHistogram,
    Scalar,
    Window,
)
from modelcanary.analysis._sli import LATENCY_QUANTILES, sli_value
from modelcanary.errors import PermanentProviderError
from modelcanary.providers import PrometheusProvider
from modelcanary.spec import MetricSpec, ModelRollout, parse_rollout

ROLLOUT, SCORER = "synthetic", "synthetic-scores"  # unique: the session Prometheus is shared
REQUESTS = "modelcanary_router_requests_total"


def rollout(name: str = ROLLOUT) -> ModelRollout:
    return parse_rollout(
        {
            "metadata": {"name": name, "namespace": "ml"},
            "spec": {
                "champion": {"modelUri": f"models:/{name}@champion"},
                "challenger": {"modelUri": f"models:/{name}/2"},
                "analysis": {
                    "interval": "30s",
                    "threshold": 2,
                    "stepWeights": [10, 50],
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
                },
            },
        }
    )


@dataclass(frozen=True)
class Scenario:
    prometheus: Prometheus
    window: Window
    """Exact window: from before the zero samples to the first scrape that saw the traffic."""
    zero: float
    """Timestamp of the first scrape, which saw every series at 0 (two such scrapes exist)."""


def _seed(exporter: Exporter, n: int) -> None:
    """The scenario's traffic; n=0 creates every series at zero."""
    for status, count in ((200, 90), (503, 10)):
        exporter.requests(ROLLOUT, "champion", status, count * n)
    for status, count, mirrored in (
        (200, 36, False),
        (500, 4, False),
        (200, 18, True),
        (502, 2, True),
    ):
        exporter.requests(ROLLOUT, "challenger", status, count * n, mirrored)
    for seconds, count in ((0.004, 50), (0.02, 40), (0.3, 10)):
        exporter.latency(ROLLOUT, "champion", seconds, count * n)
    for seconds, count, mirrored in ((0.008, 20, False), (0.07, 20, False), (0.2, 20, True)):
        exporter.latency(ROLLOUT, "challenger", seconds, count * n, mirrored)
    for version, ok, fraud in (("champion", 80, 20), ("challenger", 45, 15)):
        exporter.label(ROLLOUT, version, "ok", ok * n)
        exporter.label(ROLLOUT, version, "fraud", fraud * n)
    for value, count in ((0.05, 30), (0.45, 50), (0.95, 20)):
        exporter.score(SCORER, "champion", value, count * n)
    for value, count in ((0.15, 30), (0.55, 30)):
        exporter.score(SCORER, "challenger", value, count * n)
    exporter.requests("other", "challenger", 500, 1000 * n)  # another rollout: never counted
    if n:  # series created by their first events (as the router does): not at 0 first
        exporter.requests(SCORER, "challenger", 200, 7)
        exporter.requests(SCORER, "challenger", 503, 3)


def _zero_samples(prometheus: Prometheus) -> list[float] | None:
    """Timestamps of the scrapes that saw the series at 0, once there are two."""
    rows = prometheus.query(
        f'{REQUESTS}{{rollout="{ROLLOUT}",version="champion",status="200"}}[1m]'
    )
    stamps = [float(t) for t, _ in rows[0]["values"]] if rows else []
    return stamps if len(stamps) >= 2 else None


def _first_sample_with_traffic(prometheus: Prometheus) -> float:
    """Timestamp of the first scrape that saw the traffic (raw samples, no PromQL math)."""
    selector = f'{REQUESTS}{{rollout="{ROLLOUT}",version="champion",status="200"}}[1m]'
    rows = prometheus.query(selector)
    stamps = [float(t) for t, v in rows[0]["values"] if float(v) == 90] if rows else []
    return min(stamps, default=0.0)


@pytest.fixture(scope="module")
def scenario(prometheus: Prometheus, exporter: Exporter) -> Scenario:
    start = time.time() - 1.0
    with exporter.batch():
        _seed(exporter, 0)
    samples = wait_until(lambda: _zero_samples(prometheus), what="two scrapes of the zeros")
    with exporter.batch():
        _seed(exporter, 1)
    end = wait_until(lambda: _first_sample_with_traffic(prometheus), what="traffic scraped")
    return Scenario(prometheus, Window(start, end), min(samples))


def provider(scenario: Scenario, **options: Any) -> PrometheusProvider:
    return PrometheusProvider(scenario.prometheus.url, **options)


def test_is_online(scenario: Scenario) -> None:
    assert provider(scenario).is_online()


def test_counts_are_exact_and_include_mirrored_traffic(scenario: Scenario) -> None:
    data = provider(scenario).collect(rollout(), scenario.window)
    assert data.champion.counts == Counts(100, 10, "champion")
    assert data.challenger.counts == Counts(60, 6, "challenger")  # 40 served + 20 mirrored
    assert data.mirrored is True
    assert isinstance(data.paired, NoData) and "embedded" in data.paired.reason
    metric = MetricSpec(name="throughput")
    assert sli_value(metric, data, data.challenger) == pytest.approx(60 / scenario.window.seconds)
    rate = sli_value(MetricSpec(name="request-success-rate"), data, data.champion)
    assert rate == pytest.approx(90.0)


def _hand_quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float:
    """Prometheus' histogram_quantile, written out for the test."""
    rank = q * cumulative[-1]
    i = next(i for i, c in enumerate(cumulative) if c >= rank)
    lower, below = (0.0, 0.0) if i == 0 else (bounds[i - 1], cumulative[i - 1])
    return lower + (bounds[i] - lower) * (rank - below) / (cumulative[i] - below)


def test_latency_histograms_give_the_hand_computed_quantiles(scenario: Scenario) -> None:
    data = provider(scenario).collect(rollout(), scenario.window)
    champ, chal = data.champion.latencies, data.challenger.latencies
    assert isinstance(champ, LatencyHistogram) and isinstance(chal, LatencyHistogram)
    assert champ.bounds[:4] == (1.0, 2.5, 5.0, 10.0) and math.isinf(champ.bounds[-1])
    assert champ.total == 100 and chal.total == 60
    # champion: 50 in (2.5, 5] ms, 40 in (10, 25], 10 in (250, 500]
    bounds = [1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0]
    cum = [0, 0, 50, 50, 90, 90, 90, 90, 100]
    expected = {"latency-p50": 5.0, "latency-p90": 25.0, "latency-p99": 475.0}
    for name, value in expected.items():
        assert _hand_quantile(LATENCY_QUANTILES[name], bounds, cum) == value
        assert sli_value(MetricSpec(name=name), data, data.champion) == pytest.approx(value)
    # challenger: 20 in (5, 10], 20 in (50, 100], 20 mirrored in (100, 250]
    bounds, cum = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0], [0, 20, 20, 20, 40, 60]
    for name, q in {"latency-p50": 0.5, "latency-p95": 0.95, "request-duration": 0.99}.items():
        hand = _hand_quantile(q, bounds, cum)
        assert sli_value(MetricSpec(name=name), data, data.challenger) == pytest.approx(hand)
    assert _hand_quantile(0.99, bounds, cum) == pytest.approx(245.5)


def test_prometheus_histogram_quantile_agrees(scenario: Scenario) -> None:
    query = (
        "1000 * histogram_quantile({{ variables.q }}, sum by (le) (increase("
        'modelcanary_router_request_duration_seconds_bucket{rollout="{{ target }}",'
        'version="challenger"}[{{ interval }}])))'
    )
    metric = MetricSpec(name="p99", query=query, template_variables={"q": "0.99"})
    value = provider(scenario).query(metric, rollout(), scenario.window)
    assert isinstance(value, Scalar) and value.value == pytest.approx(245.5)


def test_label_predictions(scenario: Scenario) -> None:
    data = provider(scenario).collect(rollout(), scenario.window)
    assert data.champion.predictions == PredictionHistogram(
        (20.0, 80.0), labels=("fraud", "ok"), side="champion"
    )
    assert data.challenger.predictions == PredictionHistogram((15.0, 45.0), labels=("fraud", "ok"))
    drift = sli_value(MetricSpec(name="prediction-drift", method="ks"), data, data.challenger)
    assert drift == pytest.approx(0.05)  # total variation: |0.25 - 0.2|


def test_numeric_predictions_become_shared_bins(scenario: Scenario) -> None:
    data = provider(scenario).collect(rollout(SCORER), scenario.window)
    champ, chal = data.champion.predictions, data.challenger.predictions
    assert isinstance(champ, PredictionHistogram) and isinstance(chal, PredictionHistogram)
    assert champ.edges == chal.edges
    assert champ.edges is not None and champ.edges[0] == 0.0 and champ.edges[-1] == 100.0
    edges = np.array(champ.edges)
    expect = {0.05: 30, 0.45: 50, 0.95: 20}
    for value, count in expect.items():
        i = int(np.searchsorted(edges, value)) - 1
        assert champ.counts[i] == count
    assert sum(champ.counts) == 100 and sum(chal.counts) == 60
    assert chal.counts[1] == 30 and chal.counts[5] == 30  # (0.1, 0.2] and (0.5, 0.6]
    assert isinstance(data.champion.counts, NoData)  # this rollout has no request series
    wasserstein = MetricSpec(name="prediction-drift", method="wasserstein")
    distance = sli_value(wasserstein, data, data.challenger)
    assert isinstance(distance, float) and distance > 0  # finite edges: computable


def test_custom_query_is_templated(scenario: Scenario) -> None:
    query = (
        'sum(increase(modelcanary_router_requests_total{rollout="{{ target }}",'
        'version="{{ variables.version }}",status=~"5.."}[{{ interval }}])) / '
        'sum(increase(modelcanary_router_requests_total{rollout="{{ target }}",'
        'version="{{ variables.version }}"}[{{ interval }}]))'
    )
    metric = MetricSpec(name="errors", query=query, template_variables={"version": "challenger"})
    assert provider(scenario).query(metric, rollout(), scenario.window) == Scalar(0.1)
    scalar = MetricSpec(name="one", query='scalar(count(up{job="synthetic"}))')
    assert provider(scenario).query(scalar, rollout(), scenario.window) == Scalar(1.0)


def test_no_data(scenario: Scenario) -> None:
    p = provider(scenario)
    empty = MetricSpec(
        name="none", query='sum(modelcanary_router_requests_total{rollout="{{ target }}"})'
    )
    result = p.query(empty, rollout("nothing"), scenario.window)
    assert isinstance(result, NoData) and "no series" in result.reason
    nan = p.query(MetricSpec(name="nan", query="0/0"), rollout(), scenario.window)
    assert isinstance(nan, NoData) and "NaN" in nan.reason
    data = p.collect(rollout("nothing"), scenario.window)
    for side in (data.champion, data.challenger):
        assert isinstance(side.counts, NoData)
        assert isinstance(side.latencies, NoData)
        assert isinstance(side.predictions, NoData)
    assert data.mirrored is False
    before = Window(scenario.window.start - 600, scenario.window.start - 300)
    assert isinstance(p.collect(rollout(), before).challenger.counts, NoData)
    assert isinstance(p.collect(rollout(), Window(5.0, 5.0)).challenger.counts, NoData)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sum(rate(x[1m]", "HTTP 400"),
        ('modelcanary_router_requests_total{rollout="{{ target }}"}', "aggregate"),
        ('modelcanary_router_requests_total{rollout="{{ target }}"}[1m]', "rate()"),
        ("up{job='{{ variables.missing }}'}", "templateVariables has no 'missing'"),
        ("up{job='{{ service }}'}", "unknown template variable {{ service }}"),
    ],
)
def test_bad_queries_are_permanent(scenario: Scenario, query: str, message: str) -> None:
    with pytest.raises(PermanentProviderError, match=re.escape(message)):
        provider(scenario).query(MetricSpec(name="bad", query=query), rollout(), scenario.window)


def test_series_give_per_step_values(scenario: Scenario) -> None:
    w = scenario.window
    window = Window(w.end - 12.0, w.end)
    p = provider(scenario, series_points=6, min_series_step=2.0)
    data = p.collect(rollout(), window)
    chal = data.challenger.series
    rate = chal["error-rate"].values
    assert len(rate) == 6 and rate[-1] == pytest.approx(0.1)  # the last step saw the traffic
    assert chal["throughput"].values[-1] == pytest.approx(60 / 2.0)
    assert np.nanmax(rate) == pytest.approx(0.1) and np.nanmin(rate) == pytest.approx(0.1)
    p50 = chal["latency-p50"].values
    assert np.nanmax(p50) == pytest.approx(75.0) and np.nanmin(p50) == pytest.approx(75.0)
    assert set(data.champion.series) >= {"request-success-rate", "throughput", "request-duration"}
    assert provider(scenario).collect(rollout(), window).challenger.series == {}  # 12 s < 3 x 30 s


def test_series_born_in_the_window_count_their_first_events(scenario: Scenario) -> None:
    data = provider(scenario).collect(rollout(SCORER), scenario.window)
    assert data.challenger.counts == Counts(10, 3, "challenger")  # plain increase(): nothing


def test_series_older_than_the_window_count_their_exact_change(scenario: Scenario) -> None:
    window = Window(scenario.zero + 0.001, scenario.window.end)  # starts after the zeros
    data = provider(scenario).collect(rollout(), window)
    assert data.champion.counts == Counts(100, 10, "champion")  # first sample 0, last at end
    assert data.challenger.counts == Counts(60, 6, "challenger")


def test_a_window_holding_one_scrape_counts_the_change_since_the_scrape_before(
    scenario: Scenario,
) -> None:
    """Not the counters' lifetime totals, and not nothing: the traffic the one scrape saw."""
    window = Window(scenario.window.end - 0.5, scenario.window.end)  # one scrape inside
    data = provider(scenario).collect(rollout(), window)
    assert data.challenger.counts == Counts(60, 6, "challenger")
    after = Window(scenario.window.end + 0.001, scenario.window.end + 0.5)  # no change
    assert isinstance(provider(scenario).collect(rollout(), after).challenger.counts, NoData)


def test_window_ending_after_the_last_scrape_counts_exactly(scenario: Scenario) -> None:
    """``increase()`` would extrapolate the counts to the window's end; the exact change
    does not, so the sequential tests see the requests served."""
    window = Window(scenario.zero + 0.001, time.time() + 0.5)
    data = provider(scenario).collect(rollout(), window)
    assert data.challenger.counts == Counts(60, 6, "challenger")
    assert data.champion.counts == Counts(100, 10, "champion")
    error_rate = sli_value(MetricSpec(name="error-rate"), data, data.challenger)
    assert error_rate == pytest.approx(0.1)
