"""Gateway API Inference Extension routers: HTTPRoute weights between InferencePools and the
llm-d InferenceModelRewrite, rendered against the vendored CRDs and driven by the real engine
through a rollout to promotion and to rollback on the kmock API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_fixtures import KubeApi, kube
from kube_rollout_fixtures import client
from llm_router_kube import llm_rollout_doc, run_rollout, stored
from router_cases import MATCH, rollout
from router_schemas import assert_valid, problems

from modelcanary.errors import RouterError, SpecError
from modelcanary.k8s._client import KubeClient
from modelcanary.rollout._commands import Routes
from modelcanary.routers import ROUTERS, MemoryObjectStore
from modelcanary.spec import parse_rollout

__all__ = ["client", "kube"]

POOL = {"group": "inference.networking.k8s.io", "kind": "InferencePool"}
REWRITE = ("llm-d.ai/v1alpha2", "InferenceModelRewrite")
X_K8S = "inference.networking.x-k8s.io/v1alpha2"
"""The Inference Extension's InferenceModelRewrite API (its releases up to v1.5)."""


def _with_inference(provider: str, **inference: Any) -> Any:
    doc = rollout(provider).to_dict()
    doc["spec"]["router"]["inference"] = inference
    return parse_rollout(doc)


def test_http_route_weights_two_inference_pools() -> None:
    ro = rollout("inference-pool")
    routes = Routes(champion_weight=70, challenger_weight=30, match=MATCH)
    (route,) = ROUTERS["inference-pool"](MemoryObjectStore()).render(ro, routes)
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1" and route["kind"] == "HTTPRoute"
    ab, split = route["spec"]["rules"]
    assert split["backendRefs"] == [
        {**POOL, "name": "fraud-primary", "weight": 70},
        {**POOL, "name": "fraud-canary", "weight": 30},
    ]
    assert ab["backendRefs"] == [{**POOL, "name": "fraud-canary", "weight": 100}]
    assert route["spec"]["parentRefs"] == [
        {"name": "public", "namespace": "infra", "sectionName": "http"}
    ]
    assert_valid([route])


def test_pool_names_come_from_router_inference() -> None:
    ro = _with_inference("inference-pool", champion="llama-3-1-pool", challenger="llama-3-3-pool")
    router = ROUTERS["inference-pool"](MemoryObjectStore())
    (route,) = router.render(ro, Routes(champion_weight=90, challenger_weight=10))
    assert [(r["name"], r["weight"]) for r in route["spec"]["rules"][-1]["backendRefs"]] == [
        ("llama-3-1-pool", 90),
        ("llama-3-3-pool", 10),
    ]


def test_a_service_of_the_same_name_is_not_a_pool() -> None:
    """Parsing reads InferencePool backendRefs only: a Service named like a pool is ignored."""
    store = MemoryObjectStore()
    router = ROUTERS["inference-pool"](store)
    ro = rollout("inference-pool")
    router.set_routes(ro, Routes(champion_weight=60, challenger_weight=40))
    (route,) = list(store)
    route["metadata"]["annotations"].clear()
    for ref in route["spec"]["rules"][-1]["backendRefs"]:
        if ref["name"] == "fraud-canary":
            del ref["group"], ref["kind"]  # now a Service backend
    store.edit(route)
    assert router.get_routes(ro) == Routes()


def test_inference_pool_refuses_mirroring_and_needs_gateways() -> None:
    router = ROUTERS["inference-pool"](MemoryObjectStore())
    with pytest.raises(RouterError, match="inference-pool cannot mirror"):
        router.render(rollout("inference-pool"), Routes(mirror_weight=50))
    ro = rollout("inference-pool")  # the spec rules refuse it; an unvalidated spec too
    assert ro.spec.service is not None
    service = ro.spec.service.model_copy(update={"gateway_refs": None})
    ro = ro.model_copy(update={"spec": ro.spec.model_copy(update={"service": service})})
    with pytest.raises(RouterError, match=r"inference-pool needs spec.service.gatewayRefs"):
        router.render(ro, Routes())


def test_model_rewrite_weights_two_model_names() -> None:
    ro = _with_inference(
        "inference-model-rewrite",
        pool="llama-3-8b",
        model="support-assistant",
        championModel="support-lora-v1",
        challengerModel="support-lora-v2",
    )
    router = ROUTERS["inference-model-rewrite"](MemoryObjectStore())
    (rewrite,) = router.render(ro, Routes(champion_weight=80, challenger_weight=20))
    assert (rewrite["apiVersion"], rewrite["kind"]) == REWRITE
    assert rewrite["metadata"]["name"] == "fraud"
    assert rewrite["spec"] == {
        "poolRef": {**POOL, "name": "llama-3-8b"},
        "rules": [
            {
                "matches": [{"model": {"type": "Exact", "value": "support-assistant"}}],
                "targets": [
                    {"modelRewrite": "support-lora-v1", "weight": 80},
                    {"modelRewrite": "support-lora-v2", "weight": 20},
                ],
            }
        ],
    }
    assert_valid([rewrite])


def test_model_rewrite_leaves_a_version_at_zero_out() -> None:
    """The CRD's weights start at 1: a 0 % version is no target, and parsing reads it back."""
    store = MemoryObjectStore()
    router = ROUTERS["inference-model-rewrite"](store)
    ro = rollout("inference-model-rewrite")
    router.set_routes(ro, Routes())
    (rewrite,) = list(store)
    assert rewrite["spec"]["rules"][0]["targets"] == [
        {"modelRewrite": "fraud-primary", "weight": 100}
    ]
    assert_valid([rewrite])
    bad = {**rewrite, "spec": {**rewrite["spec"], "rules": [{"targets": [{"weight": 0}]}]}}
    assert problems(bad)  # the schema really checks weights and modelRewrite
    router.set_routes(ro, Routes(champion_weight=0, challenger_weight=100))
    (rewrite,) = list(store)
    assert rewrite["spec"]["rules"][0]["targets"] == [
        {"modelRewrite": "fraud-canary", "weight": 100}
    ]
    rewrite["metadata"]["annotations"].clear()  # what the object alone says
    store.edit(rewrite)
    assert router.get_routes(ro) == Routes(champion_weight=0, challenger_weight=100)


def test_model_rewrite_needs_two_model_names() -> None:
    """Defaults can collide too (model ``m-primary`` named as the challenger)."""
    ro = _with_inference("inference-model-rewrite", model="m", challengerModel="m-primary")
    with pytest.raises(RouterError, match=r"championModel and challengerModel"):
        ROUTERS["inference-model-rewrite"](MemoryObjectStore()).render(ro, Routes())


def _pool_weight(kube: KubeApi) -> int | None:
    routes = stored(kube, "gateway.networking.k8s.io/v1", "HTTPRoute")
    if not routes:
        return None
    refs = routes[0]["spec"]["rules"][-1]["backendRefs"]
    assert all(r["kind"] == "InferencePool" for r in refs)
    return next(int(r["weight"]) for r in refs if r["name"] == "assistant-canary")


def test_model_rewrite_in_the_inference_extensions_api() -> None:
    """rewriteApiVersion picks the Inference Extension's API; the object validates against
    its own CRD and reads back the same."""
    ro = _with_inference("inference-model-rewrite", rewriteApiVersion=X_K8S)
    store = MemoryObjectStore()
    router = ROUTERS["inference-model-rewrite"](store)
    routes = Routes(champion_weight=70, challenger_weight=30)
    router.set_routes(ro, routes)
    (rewrite,) = list(store)
    assert rewrite["apiVersion"] == X_K8S and rewrite["kind"] == "InferenceModelRewrite"
    assert_valid([rewrite])
    assert router.get_routes(ro) == routes
    router.finalize(ro)
    assert not list(store)


def _rewrite_weight(kube: KubeApi) -> int | None:
    rewrites = stored(kube, *REWRITE) + stored(kube, X_K8S, "InferenceModelRewrite")
    if not rewrites:
        return None
    targets = rewrites[0]["spec"]["rules"][0]["targets"]
    return next((int(t["weight"]) for t in targets if t["modelRewrite"] == "assistant-v2"), 0)


REWRITE_CONFIG = {
    "inference": {
        "pool": "llama-3-8b",
        "championModel": "assistant-v1",
        "challengerModel": "assistant-v2",
    }
}


@pytest.mark.parametrize(
    ("provider", "router", "observe"),
    [
        ("inference-pool", {}, _pool_weight),
        ("inference-model-rewrite", REWRITE_CONFIG, _rewrite_weight),
        (
            "inference-model-rewrite",
            {"inference": {**REWRITE_CONFIG["inference"], "rewriteApiVersion": X_K8S}},
            _rewrite_weight,
        ),
    ],
)
@pytest.mark.parametrize(
    ("error_rate", "phase", "weights"),
    [(0.0, "Succeeded", [0, 10, 50, 0]), (0.5, "Failed", [0, 10, 0])],
)
def test_rollout_on_kube(
    kube: KubeApi,
    client: KubeClient,
    provider: str,
    router: dict[str, Any],
    observe: Any,
    error_rate: float,
    phase: str,
    weights: list[int],
) -> None:
    """Promotion walks the weights 10 -> 50 -> champion; a faulty challenger is rolled back
    at 10 %. The objects end with everything on the champion, the new revision promoted or not."""
    doc = llm_rollout_doc(provider, **router)
    seen = run_rollout(kube, client, doc, error_rate=error_rate, observe=observe, until=phase)
    assert seen == weights
    status = kube.get("modelcanary.io/v1alpha1", "ModelRollout", "default", "assistant")
    assert status["status"]["phase"] == phase
    primary = kube.get("apps/v1", "Deployment", "default", "assistant-primary")
    image = primary["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == (
        "vllm/vllm-openai:v0.9.1" if phase == "Succeeded" else "vllm/vllm-openai:v0.9.0"
    )


@pytest.mark.parametrize(
    ("provider", "inference", "drop_gateways", "path", "message"),
    [
        ("inference-pool", None, True, "spec.service.gatewayRefs", "required with provider"),
        ("istio", {"pool": "p"}, False, "spec.router.inference", "not used by provider istio"),
        ("inference-pool", {"group": "g"}, False, "spec.router.inference.group", "not used"),
        ("kserve-llm", {"championModel": "a"}, False, "inference.championModel", "not used"),
        ("kserve-llm", {"rewriteApiVersion": X_K8S}, False, "rewriteApiVersion", "not used"),
        (
            "inference-model-rewrite",
            {"championModel": "m", "challengerModel": "m"},
            False,
            "spec.router.inference.challengerModel",
            "the champion's model too",
        ),
    ],
)
def test_inference_fields_are_checked_with_the_field_path(
    provider: str, inference: dict[str, str] | None, drop_gateways: bool, path: str, message: str
) -> None:
    """Bad input is a SpecError naming the field and the fix (before any object is written)."""
    doc = rollout(provider).to_dict()
    if inference is not None:
        doc["spec"]["router"]["inference"] = inference
    if drop_gateways:
        del doc["spec"]["service"]["gatewayRefs"]
    with pytest.raises(SpecError) as caught:
        parse_rollout(doc)
    (issue,) = [i for i in caught.value.issues if path in i.path]
    assert message in issue.message and issue.hint


def test_cli_render_rejects_a_bad_inference_field(tmp_path: Path) -> None:
    """The command line prints the problem and exits 2, no traceback."""
    doc = rollout("istio").to_dict()
    doc["spec"]["router"]["inference"] = {"pool": "p"}
    spec = tmp_path / "rollout.yaml"
    spec.write_text(yaml.safe_dump(doc))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "modelcanary"), "validate", str(spec)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "spec.router.inference: is not used by provider istio" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_the_llm_page_cluster_example_is_a_valid_rollout() -> None:
    """docs/llm.md's Cluster example parses and renders the rewrite the page describes."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "llm.md").read_text()
    section = page.split("\n## Cluster\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    doc = {"kind": "ModelRollout", "metadata": {"name": "assistant", "namespace": "ml"}}
    ro = parse_rollout({**doc, **yaml.safe_load(block)})
    router = ROUTERS["inference-model-rewrite"](MemoryObjectStore())
    (rewrite,) = router.render(ro, Routes(champion_weight=90, challenger_weight=10))
    assert rewrite["spec"]["poolRef"]["name"] == "llama-3-8b"
    assert [t["modelRewrite"] for t in rewrite["spec"]["rules"][0]["targets"]] == [
        "support-lora-v1",
        "support-lora-v2",
    ]
    assert_valid([rewrite])
