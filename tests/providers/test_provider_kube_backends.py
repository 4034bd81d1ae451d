"""Metric providers that read Kubernetes APIs: Keptn (KeptnMetric, Analysis) and the External
Metrics API, through the operator's real kubernetes client against the kmock API server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kube_fixtures import KubeApi, kube

from modelcanary.analysis import NoData, Scalar, Window
from modelcanary.errors import PermanentProviderError, SpecError
from modelcanary.k8s import KubeClient, KubeClusterObjects
from modelcanary.providers import provider_for
from modelcanary.providers._externalmetrics import parse_query, quantity
from modelcanary.providers._keptn import KeptnProvider
from modelcanary.providers._keptn import parse_query as keptn_query
from modelcanary.spec import MetricProviderSpec, MetricSpec, ModelRollout

__all__ = ["kube"]
EXTERNAL = "external.metrics.k8s.io/v1beta1"
KEPTN = "metrics.keptn.sh/v1beta1"
NS = "ml"
WINDOW = Window(start=1_000.0, end=1_060.0)


@pytest.fixture
def cluster(kube: KubeApi) -> Iterator[KubeClusterObjects]:
    kube.reset()
    kube.declare(EXTERNAL, "ExternalMetricValue", "queue_depth", subresources=())
    kube.declare(KEPTN, "KeptnMetric", "keptnmetrics")
    kube.declare(KEPTN, "Analysis", "analyses")
    yield KubeClusterObjects(KubeClient(kube.api_client))


def _rollout() -> ModelRollout:
    return ModelRollout.model_validate(
        {
            "apiVersion": "modelcanary.io/v1alpha1",
            "kind": "ModelRollout",
            "metadata": {"name": "fraud", "namespace": NS},
            "spec": {
                "champion": {"modelUri": "models:/fraud/1"},
                "challenger": {"modelUri": "models:/fraud/2"},
                "router": {"provider": "istio"},
                "analysis": {
                    "stepWeights": [50],
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
                },
            },
        }
    )


def _metric(provider: str, query: str) -> MetricSpec:
    return MetricSpec.model_validate(
        {
            "name": "custom",
            "query": query,
            "provider": {"type": provider},
            "thresholdRange": {"max": 1},
        }
    )


def _provider(kind: str, cluster: KubeClusterObjects, **options: Any) -> Any:
    return provider_for(MetricProviderSpec(type=kind), cluster=cluster, **options)  # type: ignore[arg-type]


def _external_value(kube: KubeApi, name: str, value: str, labels: dict[str, str]) -> None:
    kube.create(
        {
            "apiVersion": EXTERNAL,
            "kind": "ExternalMetricValue",
            # the real API selects on metricLabels; the harness selects on metadata.labels
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "metricName": "queue_depth",
            "metricLabels": labels,
            "timestamp": "2026-12-07T12:00:00Z",
            "window": 0,
            "value": value,
        }
    )


def test_external_metrics_value_through_the_api_server(
    kube: KubeApi, cluster: KubeClusterObjects
) -> None:
    provider = _provider("externalmetrics", cluster)
    metric = _metric(
        "externalmetrics", "{{ namespace }}/queue_depth?labelSelector=app%3D{{ target }}"
    )
    assert provider.query(metric, _rollout(), WINDOW) == NoData(
        "external metric ml/queue_depth (app=fraud) has no values"
    )
    _external_value(kube, "q0", "9", {"app": "churn"})  # another app's series
    _external_value(kube, "q1", "250m", {"app": "fraud"})
    assert provider.query(metric, _rollout(), WINDOW) == Scalar(0.25)
    paths = (
        [r for r in kube.requests() if "external.metrics" in r] if hasattr(kube, "requests") else []
    )
    assert all("labelSelector=app%3Dfraud" in p for p in paths)
    with pytest.raises(PermanentProviderError, match="built-in SLIs are not supported"):
        provider.collect(_rollout(), WINDOW)


def test_keptn_metric_value(kube: KubeApi, cluster: KubeClusterObjects) -> None:
    provider = _provider("keptn", cluster)
    metric = _metric("keptn", "keptnmetric/{{ namespace }}/response-time")
    with pytest.raises(PermanentProviderError, match="KeptnMetric ml/response-time does not exist"):
        provider.query(metric, _rollout(), WINDOW)
    kube.create(
        {
            "apiVersion": KEPTN,
            "kind": "KeptnMetric",
            "metadata": {"name": "response-time", "namespace": NS},
            "spec": {"provider": {"name": "prometheus"}, "query": "histogram_quantile(...)"},
        }
    )
    assert provider.query(metric, _rollout(), WINDOW) == NoData(
        "KeptnMetric ml/response-time has no value yet"
    )
    kube.patch(KEPTN, "KeptnMetric", NS, "response-time", {"status": {"value": "12.5"}})
    assert provider.query(metric, _rollout(), WINDOW) == Scalar(12.5)


def _keptn_operator(kube: KubeApi, passed: bool, stop: threading.Event) -> None:
    """What Keptn's metrics operator does: evaluate every new Analysis and complete it."""
    while not stop.is_set():
        for obj in kube.list(KEPTN, "Analysis", NS):
            if not obj.get("status"):
                status = {"state": "Completed", "pass": passed, "raw": "{}"}
                kube.patch(KEPTN, "Analysis", NS, obj["metadata"]["name"], {"status": status})
        time.sleep(0.05)


@pytest.mark.parametrize("passed", [True, False])
def test_keptn_analysis_verdict_and_cleanup(
    kube: KubeApi, cluster: KubeClusterObjects, passed: bool
) -> None:
    provider = KeptnProvider(cluster, wait=60, poll_interval=0.1)
    metric = _metric("keptn", "analysis/{{ namespace }}/slo-gate/5m/service=fraud;env=prod")
    created: list[dict[str, Any]] = []
    stop = threading.Event()
    worker = threading.Thread(target=_keptn_operator, args=(kube, passed, stop), daemon=True)
    worker.start()
    original = cluster.create_object

    def spy(obj: dict[str, Any]) -> dict[str, Any]:
        created.append(obj)
        return original(obj)

    cluster.create_object = spy  # type: ignore[method-assign]
    try:
        assert provider.query(metric, _rollout(), WINDOW) == Scalar(1.0 if passed else 0.0)
    finally:
        stop.set()
        worker.join(5)
    spec = created[0]["spec"]
    assert spec == {
        "analysisDefinition": {"name": "slo-gate"},
        "timeframe": {"recent": "5m"},
        "args": {"service": "fraud", "env": "prod"},
    }
    assert kube.list(KEPTN, "Analysis", NS) == []  # deleted after reading


def test_keptn_analysis_not_completed_in_time_is_no_data_and_deleted(
    kube: KubeApi, cluster: KubeClusterObjects
) -> None:
    provider = KeptnProvider(cluster, wait=0.5, poll_interval=0.1)
    value = provider.query(_metric("keptn", "analysis/ml/slo-gate"), _rollout(), WINDOW)
    assert isinstance(value, NoData) and "not completed within 0.5 s" in value.reason
    assert kube.list(KEPTN, "Analysis", NS) == []


def test_queries_in_the_wrong_format_say_the_format() -> None:
    with pytest.raises(PermanentProviderError, match=r"keptnmetric/NAMESPACE/NAME"):
        keptn_query("keptnmetric/ml")
    with pytest.raises(PermanentProviderError, match="timeframe"):
        keptn_query("analysis/ml/gate/soon")
    assert keptn_query("Analysis/ML/Gate").timeframe == "1m"  # Flagger lower-cases queries
    with pytest.raises(PermanentProviderError, match=r"\[NAMESPACE/\]METRIC"):
        parse_query("a/b/c")
    assert parse_query("queue?labelSelector=a%3Db") == ("default", "queue", "a=b")
    assert [quantity(q) for q in ("250m", "3k", "1Ki", "2e3", "7")] == [0.25, 3000, 1024, 2000, 7]
    with pytest.raises(PermanentProviderError, match="quantity"):
        quantity("12 apples")


def test_without_a_cluster_the_providers_say_they_need_the_operator() -> None:
    for kind in ("keptn", "externalmetrics"):
        with pytest.raises(SpecError, match="only the operator has"):
            provider_for(MetricProviderSpec(type=kind))  # type: ignore[arg-type]


def test_the_operator_reads_keptn_metrics_with_its_own_client(kube: KubeApi) -> None:
    from modelcanary.controller._runtime import build_runtime

    kube.reset()
    kube.declare(KEPTN, "KeptnMetric", "keptnmetrics")
    kube.create(
        {
            "apiVersion": KEPTN,
            "kind": "KeptnMetric",
            "metadata": {"name": "errors", "namespace": NS},
            "spec": {"provider": {"name": "prometheus"}, "query": "x"},
        }
    )
    kube.patch(KEPTN, "KeptnMetric", NS, "errors", {"status": {"value": "0.004"}})
    runtime = build_runtime(kube.api_client, metrics_server="http://127.0.0.1:9")
    metric = _metric("keptn", "keptnmetric/{{ namespace }}/errors")
    assert runtime.engine.metrics.query(metric, _rollout(), WINDOW) == Scalar(0.004)
