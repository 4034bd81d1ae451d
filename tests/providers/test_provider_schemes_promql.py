"""Series schemes without a server: which scheme a rollout gets, and the PromQL it sends."""

from __future__ import annotations

import re
from typing import Any

import pytest

from modelcanary.analysis._measurements import Window
from modelcanary.errors import PermanentProviderError, SpecError
from modelcanary.providers import PrometheusProvider
from modelcanary.providers import _promql as promql
from modelcanary.providers import _vectors as vectors
from modelcanary.providers._schemes import (
    FALLBACK_ROUTERS,
    MESH_SCHEMES,
    SCHEME_ANNOTATION,
    SCHEME_NAMES,
    scheme_for,
    scheme_named,
)
from modelcanary.spec import ModelRollout, parse_rollout
from modelcanary.spec._service import ROUTER_PROVIDERS
from modelcanary.spec._traffic import capabilities

KNATIVE_REF = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "fraud"}
NEEDS = {
    "nginx": {"service": {"ingressRef": {"name": "fraud-web"}}},
    "gatewayapi": {"service": {"gatewayRefs": [{"name": "gw"}]}},
    "inference-pool": {"service": {"gatewayRefs": [{"name": "gw"}]}},
}


def rollout(
    router: str = "istio",
    *,
    target: bool = True,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> ModelRollout:
    versions: dict[str, Any] = (
        {"targetRef": KNATIVE_REF if router == "knative" else {"name": "fraud"}}
        if target
        else {
            "champion": {"modelUri": "models:/fraud/6"},
            "challenger": {"modelUri": "models:/fraud/7"},
        }
    )
    metadata: dict[str, Any] = {"name": "fraud-rollout", "namespace": "ml"}
    if annotations:
        metadata["annotations"] = annotations
    return parse_rollout(
        {
            "metadata": metadata,
            "spec": {
                **versions,
                "router": {"provider": router},
                **NEEDS.get(router, {}),
                **spec,
                "analysis": {
                    "interval": "1m",
                    "threshold": 2,
                    # a router that cannot split (kubernetes) runs blue/green
                    **({"stepWeights": [10]} if capabilities(router).split else {"iterations": 2}),
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
                },
            },
        }
    )


def test_local_router_keeps_the_router_scheme() -> None:
    scheme = scheme_for(rollout("local", target=False))
    assert scheme.name == "router" and scheme.sides is None
    assert scheme.requests == "modelcanary_router_requests_total"


def test_explicit_versions_in_a_cluster_read_the_model_servers() -> None:
    for router in ROUTER_PROVIDERS:
        if router not in ("local", "knative"):  # knative rolls out revisions, not versions
            assert scheme_for(rollout(router, target=False)).name == "modelcanary-model"


@pytest.mark.parametrize("router", [r for r in ROUTER_PROVIDERS if r != "local"])
def test_target_ref_reads_the_routers_mesh_metrics(router: str) -> None:
    llm = dict.fromkeys(("inference-pool", "inference-model-rewrite", "kserve-llm"), "vllm")
    expected = {"smi": "linkerd", **llm}.get(router, router)
    if router in FALLBACK_ROUTERS:
        expected = "modelcanary-model"
    assert scheme_for(rollout(router)).name == expected


def test_every_router_is_covered_and_names_are_known() -> None:
    assert set(ROUTER_PROVIDERS) - {"local"} == set(MESH_SCHEMES) | FALLBACK_ROUTERS
    for name in SCHEME_NAMES:
        scheme = scheme_named(name)
        assert scheme is not None and scheme.name == name
    assert scheme_named("consul") is None


def test_annotation_overrides_and_unknown_names_are_errors() -> None:
    forced = rollout("gatewayapi", annotations={SCHEME_ANNOTATION: "istio"})
    assert scheme_for(forced).name == "istio"
    bad = rollout("istio", annotations={SCHEME_ANNOTATION: "consul"})
    with pytest.raises(PermanentProviderError, match=r"metrics-scheme.*'consul'.*istio"):
        scheme_for(bad)
    with pytest.raises(SpecError, match=r"provider\.scheme"):
        PrometheusProvider("http://127.0.0.1:9", scheme="consul")


def test_matchers_per_scheme() -> None:
    def text(router: str, side: str, **kw: Any) -> str:
        scheme = scheme_for(rollout(router, **kw))
        ms = scheme.matchers(rollout(router, **kw))[side]  # type: ignore[index]
        return promql.matchers((m.label, m.op, m.value) for m in ms)

    pods = "-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
    assert text("istio", "champion", target=False) == (
        f'{{namespace="ml",pod=~"fraud-rollout-primary{pods}"}}'
    )
    assert text("istio", "challenger", target=False) == (
        f'{{namespace="ml",pod=~"fraud-rollout-canary{pods}"}}'
    )
    assert text("istio", "champion") == (
        '{reporter="destination",destination_workload_namespace="ml",'
        'destination_workload="fraud-primary"}'
    )
    assert text("linkerd", "challenger") == (
        '{direction="inbound",namespace="ml",deployment="fraud"}'
    )
    assert text("nginx", "challenger") == '{namespace="ml",ingress="fraud-web-canary"}'
    assert text("contour", "champion") == '{envoy_cluster_name=~"ml_fraud-primary_[0-9a-zA-Z-]+"}'
    assert text("kuma", "challenger") == '{service=~"fraud-canary_ml_svc_[0-9a-zA-Z-]+"}'
    assert text("appmesh", "challenger") == (
        f'{{kubernetes_namespace="ml",kubernetes_pod_name=~"fraud{pods}"}}'
    )
    # the service name, not the target, names Services and Envoy clusters
    named = {"service": {"name": "scoring"}}
    assert text("traefik", "champion", **named) == (
        '{service=~"ml-scoring-primary-[0-9a-zA-Z-]+@kubernetescrd"}'
    )
    assert text("gloo", "challenger", **named) == (
        '{envoy_cluster_name=~"ml-scoring-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+"}'
    )


def test_regex_pod_matchers_exclude_the_other_workload() -> None:
    """Anchored as Prometheus anchors regex matchers: ``fraud`` never matches
    ``fraud-primary`` pods, nor ``fraud-primary`` another Deployment's."""
    scheme = scheme_for(rollout("appmesh"))
    regex = {
        side: next(m.value for m in ms if m.op == "=~")
        for side, ms in scheme.matchers(rollout("appmesh")).items()
    }
    assert re.fullmatch(regex["challenger"], "fraud-7d9f8b6c4-x2x9z")
    assert not re.fullmatch(regex["challenger"], "fraud-primary-7d9f8b6c4-x2x9z")
    assert re.fullmatch(regex["champion"], "fraud-primary-7d9f8b6c4-x2x9z")
    assert not re.fullmatch(regex["champion"], "fraud-primary-old-7d9f8b6c4-x2x9z")


class Recorder(PrometheusProvider):
    """A provider whose queries are recorded, with empty answers (no server)."""

    def __init__(self, **options: Any) -> None:
        super().__init__("http://127.0.0.1:9", **options)
        self.sent: list[str] = []
        self.api.vector = self._vector  # type: ignore[method-assign]
        self.api.matrix = self._matrix  # type: ignore[method-assign]

    def _vector(self, query: str, at: float) -> list[vectors.Row]:
        self.sent.append(query)
        return []

    def _matrix(self, query: str, *_: float) -> list[vectors.MatrixRow]:
        self.sent.append(query)
        return []


def test_istio_promql_text() -> None:
    p = Recorder(series_points=0)
    data = p.collect(rollout("istio"), Window(0.0, 60.0))
    sel = '{reporter="destination",destination_workload_namespace="ml",destination_workload="%s"}'

    def side(metric: str, by: str, workload: str, label: str) -> str:
        s = f"{metric}{sel % workload}"
        # requests and latency buckets: exact counter changes (promql.delta_by)
        last, before = f"last_over_time({s}[5m])", f"last_over_time({s}[5m] offset 1m)"
        reset = f"resets({s}[1m]) > 0"
        count = (
            f"sum by ({by}) ((({last} - {before}) >= 0 unless {reset}) "
            f"or (({last} + clamp_min(max_over_time({s}[1m]) - {before}, 0)) and {reset}) "
            f"or {last})"
        )
        return f'label_replace({count}, "version", "{label}", "", "")'

    assert p.sent == [
        side("istio_requests_total", "response_code", "fraud-primary", "champion")
        + " or "
        + side("istio_requests_total", "response_code", "fraud", "challenger"),
        side("istio_request_duration_milliseconds_bucket", "le", "fraud-primary", "champion")
        + " or "
        + side("istio_request_duration_milliseconds_bucket", "le", "fraud", "challenger"),
    ]  # no prediction queries: mesh metrics have none
    assert data.mirrored is None


def test_router_promql_is_unchanged_and_traefik_counts_the_inf_bucket() -> None:
    p = Recorder(series_points=0)
    p.collect(rollout("local", target=False), Window(0.0, 30.0))
    assert p.sent[0] == promql.delta_by(
        "modelcanary_router_requests_total",
        {"rollout": "fraud-rollout"},
        ("version", "status", "mirrored"),
        "30s",
    )
    assert len(p.sent) == 4  # requests, latency, prediction labels, prediction buckets
    p = Recorder(series_points=3, min_series_step=10)
    p.collect(rollout("traefik"), Window(0.0, 30.0))
    requests, latency, series_requests, series_latency = p.sent
    # delta_by names the selector 8 times per side, count_by (the per-step series) 4
    assert requests.count('le="+Inf"') == 16 and 'le="+Inf"' not in latency
    assert "sum by (code)" in requests and "[30s]" in requests
    assert series_requests.count('le="+Inf"') == 8 and "[10s]" in series_requests
    assert 'le="+Inf"' not in series_latency


def test_model_scheme_queries_predictions() -> None:
    p = Recorder(series_points=0)
    p.collect(rollout("istio", target=False), Window(0.0, 30.0))
    assert [q.split("{")[0].split("(")[-1] for q in p.sent] == [
        "modelcanary_model_requests_total",
        "modelcanary_model_request_duration_seconds_bucket",
        "modelcanary_model_predictions_total",
        "modelcanary_model_prediction_bucket",
    ]
