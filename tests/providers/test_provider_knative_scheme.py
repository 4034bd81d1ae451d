"""The ``knative`` series scheme against a real Prometheus: built-in SLIs per Knative revision.

The synthetic exporter exposes Knative's queue-proxy series as Knative documents them
(``revision_app_request_count`` and ``revision_app_request_latencies`` in milliseconds, labels
``namespace_name``, ``service_name``, ``configuration_name``, ``revision_name``, ``pod_name``,
``response_code``, ``response_code_class``) for two revisions of one Service, spread over pods,
plus decoys with heavy failing traffic that must be excluded: a third revision of the same
Service, the same revision name in another namespace. As in test_provider_schemes.py, every
series is scraped at 0 twice, then the traffic lands in one batch and the window ends at the
first scrape that saw it, so counts and quantiles are exact.
"""

from __future__ import annotations

from typing import Any

import pytest
from prom_fixtures import Exporter, Prometheus
from prom_scenario import Scenario, hand_quantile, seeded_scenario

from modelcanary.analysis._measurements import Counts, LatencyHistogram, NoData
from modelcanary.analysis._sli import sli_value
from modelcanary.providers import PrometheusProvider
from modelcanary.providers._schemes import scheme_for
from modelcanary.spec import MetricSpec, ModelRollout, parse_rollout

NS, OTHER_NS = "mc-knative", "mc-knative-other"
SVC = "kn-scm"
MARKER = "mc_knative_marker_total"
BOUNDS = ("5", "10", "20", "40", "60", "80", "100", "250", "500", "1000", "+Inf")  # ms
BOUNDS_MS = [5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 250.0, 500.0, 1000.0]
# (ok?, requests, latency ms): champion 100 requests, 10 errors; challenger 40, 4 errors
TRAFFIC = {
    f"{SVC}-00001": [(True, 60, 4.0), (True, 30, 30.0), (False, 10, 300.0)],
    f"{SVC}-00002": [(True, 36, 8.0), (False, 4, 70.0)],
}
DECOYS = [(NS, f"{SVC}-00003"), (OTHER_NS, f"{SVC}-00002")]


def rollout(status: dict[str, Any] | None) -> ModelRollout:
    doc: dict[str, Any] = {
        "metadata": {"name": SVC, "namespace": NS},
        "spec": {
            "targetRef": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": SVC},
            "router": {"provider": "knative"},
            "analysis": {
                "interval": "30s",
                "stepWeights": [10, 50],
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
            },
        },
    }
    if status is not None:
        doc["status"] = status
    return parse_rollout(doc)


PROGRESSING = {
    "phase": "Progressing",
    "lastPromotedSpec": f"{SVC}-00001",
    "lastAppliedSpec": f"{SVC}-00002",
}


def _labels(namespace: str, revision: str, pod: str, ok: bool) -> dict[str, str]:
    return {
        "namespace_name": namespace,
        "service_name": SVC,
        "configuration_name": SVC,
        "revision_name": revision,
        "pod_name": f"{revision}-deployment-6f7d8c9b5-{pod}",
        "container_name": "queue-proxy",
        "response_code": "200" if ok else "503",
        "response_code_class": "2xx" if ok else "5xx",
    }


def _seed(exporter: Exporter, n: int) -> None:
    for revision, traffic in TRAFFIC.items():
        for ok, count, ms in traffic:
            for pod, share in (("a1b2c", count - count // 2), ("d3e4f", count // 2)):
                labels = _labels(NS, revision, pod, ok)
                exporter.count("revision_app_request_count", labels, share * n)
                exporter.observe("revision_app_request_latencies", BOUNDS, labels, ms, share * n)
    for namespace, revision in DECOYS:
        labels = _labels(namespace, revision, "zzzzz", False)
        exporter.count("revision_app_request_count", labels, 1000 * n)
        exporter.observe("revision_app_request_latencies", BOUNDS, labels, 900.0, 1000 * n)
    exporter.count(MARKER, {"suite": "knative"}, n)


@pytest.fixture(scope="module")
def scenario(prometheus: Prometheus, exporter: Exporter) -> Scenario:
    return seeded_scenario(prometheus, exporter, _seed, MARKER, "knative")


CUMULATIVE = {
    "champion": [60, 60, 60, 90, 90, 90, 90, 90, 100, 100],  # 60 @4, 30 @30, 10 @300 ms
    "challenger": [0, 36, 36, 36, 36, 40, 40, 40, 40, 40],  # 36 @8, 4 @70 ms
}


def test_revisions_of_the_status_are_the_two_versions(scenario: Scenario) -> None:
    ro = rollout(PROGRESSING)
    assert scheme_for(ro).name == "knative"  # chosen for a knative targetRef rollout
    data = PrometheusProvider(scenario.prometheus.url).collect(ro, scenario.window)
    assert data.champion.counts == Counts(100, 10, "champion")  # decoys excluded
    assert data.challenger.counts == Counts(40, 4, "challenger")
    assert sli_value(MetricSpec(name="error-rate"), data, data.challenger) == pytest.approx(0.1)
    for side, version in (("champion", data.champion), ("challenger", data.challenger)):
        hist = version.latencies
        assert isinstance(hist, LatencyHistogram) and hist.bounds[:3] == (5.0, 10.0, 20.0)
        for metric, q in (("latency-p50", 0.5), ("request-duration", 0.99)):
            hand = hand_quantile(q, BOUNDS_MS, CUMULATIVE[side])
            assert sli_value(MetricSpec(name=metric), data, version) == pytest.approx(hand)


def test_once_promoted_both_sides_read_the_promoted_revision(scenario: Scenario) -> None:
    ro = rollout({**PROGRESSING, "phase": "Promoting", "promoted": True})
    data = PrometheusProvider(scenario.prometheus.url).collect(ro, scenario.window)
    assert data.champion.counts == Counts(40, 4, "champion")
    assert data.challenger.counts == Counts(40, 4, "challenger")


def test_no_revision_in_the_status_is_no_data_not_a_number(scenario: Scenario) -> None:
    data = PrometheusProvider(scenario.prometheus.url).collect(rollout(None), scenario.window)
    counts = data.challenger.counts
    assert isinstance(counts, NoData)
    assert "revision_name" in counts.reason and "knative" in counts.reason
