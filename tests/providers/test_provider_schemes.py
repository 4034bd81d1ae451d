"""Series schemes against a real Prometheus: built-in SLIs from cluster series.

For every scheme, the synthetic exporter exposes the series a real cluster would hold (the
model servers' ``modelcanary_model_*`` with Kubernetes ``namespace``/``pod`` labels, Istio's,
Linkerd's, ingress-nginx's, Envoy's and Traefik's metrics, written out by hand in their
documented shapes) for the champion and the challenger, plus decoys that must be excluded
(other workloads, other namespaces, source-reported or outbound copies) carrying heavy
failing traffic. As in test_provider_prometheus.py, every series is scraped at 0 twice, then
the traffic lands in one batch and the window ends at the first scrape that saw it, so counts
and quantiles are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from prom_fixtures import Exporter, Prometheus
from prom_scenario import Scenario, hand_quantile, seeded_scenario

from modelcanary.analysis._measurements import (
    Counts,
    LatencyHistogram,
    NoData,
    PredictionHistogram,
    Window,
)
from modelcanary.analysis._sli import sli_value
from modelcanary.providers import PrometheusProvider
from modelcanary.providers._schemes import scheme_for
from modelcanary.spec import MetricSpec, ModelRollout, parse_rollout

NS, OTHER_NS = "mc-schemes", "mc-schemes-other"  # unique: the session Prometheus is shared
MARKER = "mc_schemes_marker_total"
SECONDS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf")
MILLIS = ("5", "10", "25", "50", "100", "250", "500", "1000", "+Inf")
Labels = dict[str, str]
# (ok?, requests, latency in ms): champion 100 requests, 10 errors; challenger 40, 4 errors
TRAFFIC: dict[str, list[tuple[bool, int, float]]] = {
    "champion": [(True, 60, 4.0), (True, 30, 20.0), (False, 10, 300.0)],
    "challenger": [(True, 36, 8.0), (False, 4, 70.0)],
}
DECOY: list[tuple[bool, int, float]] = [(False, 1000, 900.0)]


def rollout(name: str, router: str, *, target: bool = True, **spec: Any) -> ModelRollout:
    versions: dict[str, Any] = (
        {"targetRef": {"name": name}}
        if target
        else {
            "champion": {"modelUri": f"models:/{name}/6"},
            "challenger": {"modelUri": f"models:/{name}/7"},
        }
    )
    return parse_rollout(
        {
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                **versions,
                "router": {"provider": router},
                **spec,
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
class Case:
    """One scheme's series as its mesh (or the model servers) exposes them."""

    rollout: ModelRollout
    requests: str
    latency: str
    bounds: tuple[str, ...]
    """``le`` bounds of the latency histogram, in its unit."""
    per_ms: float
    """Histogram units per millisecond (0.001 for seconds, 1 for milliseconds)."""
    sides: dict[str, Labels]
    """Labels of each version's series (a list of pods is several label sets)."""
    decoys: list[Labels]
    outcome: Callable[[bool], Labels]
    """Labels saying how a request ended (ok or error)."""
    requests_from_histogram: bool = False
    """Traefik: requests are the latency histogram's ``+Inf`` bucket."""
    extra_sides: dict[str, list[Labels]] = field(default_factory=dict)
    """More series of the same version (other pods), sharing its traffic."""
    outcome_on_latency: bool = True
    """Whether the latency histogram carries the outcome labels too (meshes do)."""


def status(label: str, error: str = "503") -> Callable[[bool], Labels]:
    return lambda ok: {label: "200" if ok else error}


CASES: dict[str, Case] = {
    "modelcanary-model": Case(
        rollout("scm-model", "istio", target=False),
        "modelcanary_model_requests_total",
        "modelcanary_model_request_duration_seconds",
        SECONDS,
        0.001,
        {
            "champion": {
                "model": "scm",
                "version": "6",
                "namespace": NS,
                "pod": "scm-model-primary-7d9f8b6c4-x2x9z",
            },
            "challenger": {
                "model": "scm",
                "version": "7",
                "namespace": NS,
                "pod": "scm-model-canary-5c4d3b2a1-abcde",
            },
        },
        [
            {
                "model": "scm",
                "version": "6",
                "namespace": OTHER_NS,
                "pod": "scm-model-primary-7d9f8b6c4-x2x9z",
            },
            {
                "model": "scm",
                "version": "5",
                "namespace": NS,
                "pod": "scm-model-primary-old-7d9f8-q1w2e",
            },
            {"model": "scm", "version": "7", "namespace": NS, "pod": "scm-model-canary-debug"},
        ],
        status("status", "500"),
        outcome_on_latency=False,
        extra_sides={
            "champion": [
                {
                    "model": "scm",
                    "version": "6",
                    "namespace": NS,
                    "pod": "scm-model-primary-7d9f8b6c4-p0o9i",
                }
            ],
        },
    ),
    "istio": Case(
        rollout("scm-istio", "istio"),
        "istio_requests_total",
        "istio_request_duration_milliseconds",
        MILLIS,
        1.0,
        {
            "champion": {
                "reporter": "destination",
                "destination_workload": "scm-istio-primary",
                "destination_workload_namespace": NS,
            },
            "challenger": {
                "reporter": "destination",
                "destination_workload": "scm-istio",
                "destination_workload_namespace": NS,
            },
        },
        [
            {
                "reporter": "source",
                "destination_workload": "scm-istio",
                "destination_workload_namespace": NS,
            },
            {
                "reporter": "destination",
                "destination_workload": "scm-istio",
                "destination_workload_namespace": OTHER_NS,
            },
            {
                "reporter": "destination",
                "destination_workload": "scm-istio-primary-old",
                "destination_workload_namespace": NS,
            },
        ],
        status("response_code"),
    ),
    "linkerd": Case(
        rollout("scm-linkerd", "linkerd"),
        "response_total",
        "response_latency_ms",
        MILLIS,
        1.0,
        {
            "champion": {
                "namespace": NS,
                "deployment": "scm-linkerd-primary",
                "direction": "inbound",
            },
            "challenger": {"namespace": NS, "deployment": "scm-linkerd", "direction": "inbound"},
        },
        [
            {"namespace": NS, "deployment": "scm-linkerd", "direction": "outbound"},
            {"namespace": OTHER_NS, "deployment": "scm-linkerd-primary", "direction": "inbound"},
        ],
        lambda ok: {
            "classification": "success" if ok else "failure",
            "status_code": "200" if ok else "502",
        },
    ),
    "nginx": Case(
        rollout(
            "scm-nginx",
            "nginx",
            service={"ingressRef": {"name": "scm-web"}},
        ),
        "nginx_ingress_controller_requests",
        "nginx_ingress_controller_request_duration_seconds",
        SECONDS,
        0.001,
        {
            "champion": {"namespace": NS, "ingress": "scm-web", "service": "scm-nginx"},
            "challenger": {
                "namespace": NS,
                "ingress": "scm-web-canary",
                "service": "scm-nginx-canary",
            },
        },
        [
            {"namespace": OTHER_NS, "ingress": "scm-web", "service": "scm-nginx"},
            {"namespace": NS, "ingress": "scm-web-canary-old", "service": "scm-nginx-canary"},
        ],
        status("status"),
    ),
    "contour": Case(
        rollout("scm-contour", "contour"),
        "envoy_cluster_upstream_rq",
        "envoy_cluster_upstream_rq_time",
        MILLIS,
        1.0,
        {
            "champion": {"envoy_cluster_name": f"{NS}_scm-contour-primary_80"},
            "challenger": {"envoy_cluster_name": f"{NS}_scm-contour-canary_80"},
        },
        [
            {"envoy_cluster_name": f"{OTHER_NS}_scm-contour-primary_80"},
            {"envoy_cluster_name": f"{NS}_scm-contour-canary-x_80_extra"},
        ],
        status("envoy_response_code"),
    ),
    "gloo": Case(
        rollout("scm-gloo", "gloo"),
        "envoy_cluster_upstream_rq",
        "envoy_cluster_upstream_rq_time",
        MILLIS,
        1.0,
        {
            "champion": {"envoy_cluster_name": f"{NS}-scm-gloo-primaryupstream-80_{NS}"},
            "challenger": {"envoy_cluster_name": f"{NS}-scm-gloo-canaryupstream-80_{NS}"},
        },
        [
            {"envoy_cluster_name": f"{OTHER_NS}-scm-gloo-primaryupstream-80_{OTHER_NS}"},
            {"envoy_cluster_name": f"{NS}-scm-gloo-primary-80_{NS}"},
        ],
        status("envoy_response_code"),
    ),
    "kuma": Case(
        rollout("scm-kuma", "kuma"),
        "envoy_cluster_upstream_rq",
        "envoy_cluster_upstream_rq_time",
        MILLIS,
        1.0,
        {
            "champion": {"service": f"scm-kuma-primary_{NS}_svc_80"},
            "challenger": {"service": f"scm-kuma-canary_{NS}_svc_80"},
        },
        [
            {"service": f"scm-kuma-primary_{OTHER_NS}_svc_80"},
            {"service": f"scm-kuma_{NS}_svc_80"},
        ],
        status("envoy_response_code"),
    ),
    "appmesh": Case(
        rollout("scm-appmesh", "appmesh"),
        "envoy_cluster_upstream_rq",
        "envoy_cluster_upstream_rq_time",
        MILLIS,
        1.0,
        {
            "champion": {
                "kubernetes_namespace": NS,
                "kubernetes_pod_name": "scm-appmesh-primary-6b7c8-d9e0f",
            },
            "challenger": {
                "kubernetes_namespace": NS,
                "kubernetes_pod_name": "scm-appmesh-6b7c8-a1b2c",
            },
        },
        [
            {"kubernetes_namespace": OTHER_NS, "kubernetes_pod_name": "scm-appmesh-6b7c8-a1b2c"},
            {
                "kubernetes_namespace": NS,
                "kubernetes_pod_name": "scm-appmesh-primary-old-6b7c8-d9e0f",
            },
        ],
        status("envoy_response_code"),
    ),
    "traefik": Case(
        rollout("scm-traefik", "traefik"),
        "",
        "traefik_service_request_duration_seconds",
        SECONDS,
        0.001,
        {
            "champion": {"service": f"{NS}-scm-traefik-primary-80@kubernetescrd"},
            "challenger": {"service": f"{NS}-scm-traefik-canary-80@kubernetescrd"},
        },
        [
            {"service": f"{OTHER_NS}-scm-traefik-primary-80@kubernetescrd"},
            {"service": f"{NS}-scm-traefik-canary-80@file"},
        ],
        status("code"),
        requests_from_histogram=True,
    ),
}


def _write(exporter: Exporter, case: Case, labels: Labels, traffic: Sequence[Any], n: int) -> None:
    for ok, count, ms in traffic:
        outcome = case.outcome(ok)
        if case.requests:
            exporter.count(case.requests, {**labels, **outcome}, count * n)
        hist = {**labels, **outcome} if case.outcome_on_latency else labels
        exporter.observe(case.latency, case.bounds, hist, ms * case.per_ms, count * n)


def _seed(exporter: Exporter, n: int) -> None:
    """Every case's traffic; n=0 creates every series at zero."""
    for case in CASES.values():
        for side, labels in case.sides.items():
            pods = [labels, *case.extra_sides.get(side, [])]
            for i, pod in enumerate(pods):  # the side's traffic spread over its pods
                share = [
                    (ok, count // len(pods) + (count % len(pods) if i == 0 else 0), ms)
                    for ok, count, ms in TRAFFIC[side]
                ]
                _write(exporter, case, pod, share, n)
        for decoy in case.decoys:
            _write(exporter, case, decoy, DECOY, n)
    model = CASES["modelcanary-model"]
    for side, (ok, fraud) in {"champion": (80, 20), "challenger": (30, 10)}.items():
        for label, count in (("ok", ok), ("fraud", fraud)):
            pod = model.sides[side]
            exporter.count(
                "modelcanary_model_predictions_total", {**pod, "label": label}, count * n
            )
    decoy = model.decoys[0]
    exporter.count("modelcanary_model_predictions_total", {**decoy, "label": "ok"}, 5000 * n)
    exporter.count(MARKER, {"suite": "schemes"}, n)


@pytest.fixture(scope="module")
def scenario(prometheus: Prometheus, exporter: Exporter) -> Scenario:
    return seeded_scenario(prometheus, exporter, _seed, MARKER, "schemes")


BOUNDS_MS = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0]
CUMULATIVE = {
    "champion": [60, 60, 90, 90, 90, 90, 100, 100],  # 60 @4 ms, 30 @20 ms, 10 @300 ms
    "challenger": [0, 36, 36, 36, 40, 40, 40, 40],  # 36 @8 ms, 4 @70 ms
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_counts_and_latency_per_scheme(scenario: Scenario, name: str) -> None:
    case = CASES[name]
    assert scheme_for(case.rollout).name == name  # selected automatically
    metric = case.requests or f'{case.latency}_bucket{{le="+Inf"}}'
    everything = scenario.prometheus.query(f"sum({metric})", scenario.window.end)
    assert float(everything[0]["value"][1]) >= 140 + 1000  # the decoys are there to exclude
    data = PrometheusProvider(scenario.prometheus.url).collect(case.rollout, scenario.window)
    assert data.champion.counts == Counts(100, 10, "champion")  # decoys excluded
    assert data.challenger.counts == Counts(40, 4, "challenger")
    assert sli_value(MetricSpec(name="error-rate"), data, data.challenger) == pytest.approx(0.1)
    rate = sli_value(MetricSpec(name="request-success-rate"), data, data.champion)
    assert rate == pytest.approx(90.0)
    throughput = sli_value(MetricSpec(name="throughput"), data, data.challenger)
    assert throughput == pytest.approx(40 / scenario.window.seconds)
    for side in ("champion", "challenger"):
        version = data.champion if side == "champion" else data.challenger
        hist = version.latencies
        assert isinstance(hist, LatencyHistogram)  # bounds in ms whatever the unit
        assert hist.bounds[:3] == (5.0, 10.0, 25.0) and hist.total == (
            100 if side == "champion" else 40
        )
        for metric, q in (("latency-p50", 0.5), ("latency-p90", 0.9), ("request-duration", 0.99)):
            hand = hand_quantile(q, BOUNDS_MS, CUMULATIVE[side])
            assert sli_value(MetricSpec(name=metric), data, version) == pytest.approx(hand)
    assert data.mirrored is None  # no mirrored label outside the local router
    if name != "modelcanary-model":
        for version in (data.champion, data.challenger):
            assert isinstance(version.predictions, NoData)
            assert "mesh metrics" in version.predictions.reason
            assert "modelcanary-model" in version.predictions.reason


def test_hand_quantiles() -> None:
    """The expected values above, by hand: p50 inside the first bucket, p99 in (250, 500]."""
    assert hand_quantile(0.5, BOUNDS_MS, CUMULATIVE["champion"]) == pytest.approx(50 / 60 * 5)
    assert hand_quantile(0.99, BOUNDS_MS, CUMULATIVE["champion"]) == pytest.approx(475.0)
    assert hand_quantile(0.99, BOUNDS_MS, CUMULATIVE["challenger"]) == pytest.approx(95.0)


def test_model_servers_give_predictions_and_drift(scenario: Scenario) -> None:
    case = CASES["modelcanary-model"]
    data = PrometheusProvider(scenario.prometheus.url).collect(case.rollout, scenario.window)
    assert data.champion.predictions == PredictionHistogram(
        (20.0, 80.0), labels=("fraud", "ok"), side="champion"
    )
    assert data.challenger.predictions == PredictionHistogram((10.0, 30.0), labels=("fraud", "ok"))
    drift = sli_value(MetricSpec(name="prediction-drift", method="ks"), data, data.challenger)
    assert drift == pytest.approx(0.05)  # |0.25 - 0.2|


def test_missing_series_say_which_selector_was_read(scenario: Scenario) -> None:
    nothing = rollout("scm-nothing", "istio", target=False)
    data = PrometheusProvider(scenario.prometheus.url).collect(nothing, scenario.window)
    counts = data.challenger.counts
    assert isinstance(counts, NoData)
    assert "series scheme modelcanary-model" in counts.reason
    assert 'pod=~"scm-nothing-canary-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"' in counts.reason
    assert isinstance(data.champion.latencies, NoData)
    assert "scm-nothing-primary" in data.champion.latencies.reason


def test_forced_scheme_reads_the_same_series_for_another_router(scenario: Scenario) -> None:
    gateway = rollout(
        "scm-istio",
        "gatewayapi",
        service={"gatewayRefs": [{"name": "gw"}]},
    )
    auto = PrometheusProvider(scenario.prometheus.url).collect(gateway, scenario.window)
    assert isinstance(auto.challenger.counts, NoData)  # gatewayapi: model servers' series
    forced = PrometheusProvider(scenario.prometheus.url, scheme="istio")
    assert forced.collect(gateway, scenario.window).challenger.counts == Counts(40, 4)
    annotated = gateway.model_copy(
        update={
            "metadata": gateway.metadata.model_copy(
                update={"annotations": {"modelcanary.io/metrics-scheme": "istio"}}
            )
        }
    )
    data = PrometheusProvider(scenario.prometheus.url).collect(annotated, scenario.window)
    assert data.champion.counts == Counts(100, 10, "champion")


def test_series_per_step_for_a_mesh_scheme(scenario: Scenario) -> None:
    w = scenario.window
    window = Window(w.end - 12.0, w.end)
    p = PrometheusProvider(scenario.prometheus.url, series_points=6, min_series_step=2.0)
    data = p.collect(CASES["istio"].rollout, window)
    chal = data.challenger.series
    rate = chal["error-rate"].values
    assert len(rate) == 6 and rate[-1] == pytest.approx(0.1)  # the last step saw the traffic
    assert chal["throughput"].values[-1] == pytest.approx(40 / 2.0)
    p50 = chal["latency-p50"].values  # milliseconds: Istio's unit kept
    assert np.nanmax(p50) == pytest.approx(hand_quantile(0.5, BOUNDS_MS, CUMULATIVE["challenger"]))
    linkerd = p.collect(CASES["linkerd"].rollout, window).champion.series
    assert linkerd["error-rate"].values[-1] == pytest.approx(0.1)  # classification="failure"
