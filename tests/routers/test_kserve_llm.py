"""KServe LLMInferenceService router: two adopted services in one weighted route group, rendered
against the vendored CRD and driven by the real engine to promotion and rollback on kmock."""

from __future__ import annotations

from typing import Any

import pytest
from kube_fixtures import KubeApi, kube
from kube_rollout_fixtures import client
from llm_router_kube import llm_rollout_doc, run_rollout, stored
from router_cases import llm_inference_service, rollout, store_for
from router_schemas import assert_valid, problems

from modelcanary.errors import RouterError
from modelcanary.k8s._client import KubeClient
from modelcanary.rollout._commands import Routes
from modelcanary.routers import ROUTERS, MemoryObjectStore
from modelcanary.routers._base import ADOPTED_ANNOTATION
from modelcanary.spec import parse_rollout

__all__ = ["client", "kube"]

API = "serving.kserve.io/v1alpha2"
KIND = "LLMInferenceService"


def _route(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["router"]["route"])


def test_both_services_join_one_weighted_group() -> None:
    router = ROUTERS["kserve-llm"](store_for("kserve-llm"))
    objs = router.render(rollout("kserve-llm"), Routes(champion_weight=75, challenger_weight=25))
    assert [(o["metadata"]["name"], _route(o)) for o in objs] == [
        ("fraud-primary", {"http": {}, "group": "fraud", "weight": 75}),
        ("fraud-canary", {"http": {}, "group": "fraud", "weight": 25}),
    ]
    for obj in objs:
        assert obj["spec"]["model"]["uri"].startswith("hf://acme/")  # the user's spec is kept
        assert "ownerReferences" not in obj["metadata"]
    assert_valid(objs)
    wrong = {**objs[0], "spec": {**objs[0]["spec"], "router": {"route": {"weight": -1}}}}
    assert problems(wrong)  # the schema really checks the weight


def test_names_and_group_come_from_router_inference() -> None:
    store = MemoryObjectStore(
        [llm_inference_service("llama-3-1"), llm_inference_service("llama-3-3")]
    )
    doc = rollout("kserve-llm").to_dict()
    doc["spec"]["router"]["inference"] = {
        "champion": "llama-3-1",
        "challenger": "llama-3-3",
        "group": "assistant",
    }
    ro = parse_rollout(doc)
    router = ROUTERS["kserve-llm"](store)
    router.set_routes(ro, Routes(champion_weight=40, challenger_weight=60))
    for name, weight in (("llama-3-1", 40), ("llama-3-3", 60)):
        obj = store.get(API, KIND, "ml", name)
        assert obj is not None and _route(obj)["group"] == "assistant"
        assert _route(obj)["weight"] == weight
        assert obj["metadata"]["annotations"][ADOPTED_ANNOTATION] == "true"
    router.finalize(ro)
    assert len(store) == 2  # adopted: never deleted
    assert router.get_routes(ro) == Routes()


def test_the_member_losing_weight_is_written_first() -> None:
    store = store_for("kserve-llm")
    router = ROUTERS["kserve-llm"](store)
    ro = rollout("kserve-llm")
    up = router.render(ro, Routes(champion_weight=50, challenger_weight=50))
    assert [o["metadata"]["name"] for o in up] == ["fraud-primary", "fraud-canary"]
    router.set_routes(ro, Routes(champion_weight=50, challenger_weight=50))
    down = router.render(ro, Routes())
    assert [o["metadata"]["name"] for o in down] == ["fraud-canary", "fraud-primary"]


def test_a_member_outside_the_group_counts_zero() -> None:
    store = store_for("kserve-llm")
    router = ROUTERS["kserve-llm"](store)
    ro = rollout("kserve-llm")
    router.set_routes(ro, Routes(champion_weight=50, challenger_weight=50))
    canary = store.get(API, KIND, "ml", "fraud-canary")
    assert canary is not None
    canary["metadata"]["annotations"].pop("modelcanary.io/routes")
    canary["spec"]["router"]["route"]["group"] = "other"
    store.edit(canary)
    primary = store.get(API, KIND, "ml", "fraud-primary")
    assert primary is not None
    primary["metadata"]["annotations"].pop("modelcanary.io/routes")
    store.edit(primary)
    assert router.get_routes(ro) == Routes()


@pytest.mark.parametrize(
    ("router_part", "message"),
    [
        ({"route": {"http": {"refs": [{"name": "mine"}]}}}, r"route.http.refs"),
        ({"ingress": {}, "route": {}}, r"spec.router.ingress"),
    ],
)
def test_kserve_llm_refuses_routes_it_cannot_weight(
    router_part: dict[str, Any], message: str
) -> None:
    primary = llm_inference_service("fraud-primary")
    primary["spec"]["router"] = router_part
    store = MemoryObjectStore([primary, llm_inference_service("fraud-canary")])
    with pytest.raises(RouterError, match=message):
        ROUTERS["kserve-llm"](store).set_routes(rollout("kserve-llm"), Routes())
    canary = store.get(API, KIND, "ml", "fraud-canary")
    assert canary is not None and canary["spec"] == llm_inference_service("fraud-canary")["spec"]


def test_kserve_llm_needs_both_services() -> None:
    store = MemoryObjectStore([llm_inference_service("fraud-primary")])
    with pytest.raises(RouterError, match=r"LLMInferenceService ml/fraud-canary .* does not exist"):
        ROUTERS["kserve-llm"](store).set_routes(rollout("kserve-llm"), Routes())


def _challenger_weight(kube: KubeApi) -> int | None:
    weights = {
        o["metadata"]["name"]: (o["spec"]["router"].get("route") or {}).get("weight")
        for o in stored(kube, API, KIND)
    }
    if weights.get("assistant-canary") is None:
        return None
    assert weights["assistant-canary"] + weights["assistant-primary"] == 100
    return int(weights["assistant-canary"])


@pytest.mark.parametrize(
    ("error_rate", "phase", "weights"),
    [(0.0, "Succeeded", [0, 10, 50, 0]), (0.5, "Failed", [0, 10, 0])],
)
def test_kserve_llm_rollout_on_kube(
    kube: KubeApi, client: KubeClient, error_rate: float, phase: str, weights: list[int]
) -> None:
    for name in ("assistant-primary", "assistant-canary"):
        service = llm_inference_service(name)
        service["metadata"]["namespace"] = "default"
        kube.create(service)
    doc = llm_rollout_doc("kserve-llm")
    seen = run_rollout(
        kube, client, doc, error_rate=error_rate, observe=_challenger_weight, until=phase
    )
    assert seen == weights
    for name in ("assistant-primary", "assistant-canary"):  # adopted: both still there
        obj = kube.get(API, KIND, "default", name)
        assert obj["spec"]["model"]["uri"] == f"hf://acme/{name}"
        assert _route(obj)["group"] == "assistant"
    rollout_obj = kube.get("modelcanary.io/v1alpha1", "ModelRollout", "default", "assistant")
    assert rollout_obj["status"]["phase"] == phase
