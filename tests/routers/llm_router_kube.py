"""A rollout of an LLM router against the kmock API: the real engine, the Kubernetes adapters
(status on the CR, Deployments, the router's objects through ``KubeObjectStore``), a kubelet
that marks Deployments ready, and metrics whose challenger traffic follows the weights the
router really stored in the cluster (parsed back from the objects, not remembered).

Shared by test_inference_gateway.py and test_kserve_llm.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kube_fixtures import KubeApi
from kube_rollout_fixtures import (
    APPS,
    RouteMetrics,
    app_deployment,
    http_container,
    kube_engine,
    kubelet,
    stored_rollout,
)
from router_schemas import assert_valid

from modelcanary.engine import ManualClock
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._objects import KubeObjectStore
from modelcanary.routers import RouterSet

NAME = "assistant"


def vllm_deployment(name: str, image: str = "vllm/vllm-openai:v0.9.0") -> dict[str, Any]:
    """A vLLM server Deployment selecting ``app: <name>``."""
    return app_deployment(name, {"containers": [http_container("vllm", image, 8000)]}, 1)


def llm_rollout_doc(provider: str, **router: Any) -> dict[str, Any]:
    """The ModelRollout (as stored) of Deployment ``assistant`` routed by ``provider``."""
    return stored_rollout(
        NAME,
        {"provider": provider, **router},
        {"port": 8000, "gatewayRefs": [{"name": "inference-gateway"}]},
        stepWeights=[10, 50],
    )


def new_image(kube: KubeApi, image: str) -> None:
    """A new revision of the target Deployment: a rollout starts."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "vllm", "image": image}]}}}}
    kube.patch(APPS, "Deployment", "default", NAME, patch)


def run_rollout(
    kube: KubeApi,
    client: KubeClient,
    doc: dict[str, Any],
    *,
    error_rate: float,
    observe: Callable[[KubeApi], int | None],
    until: str,
) -> list[int]:
    """Initialise ``doc``, deploy a new image, tick until phase ``until``; the challenger weight
    ``observe`` reads from the cluster after every tick, each change once. Every object the
    router stored validates against its vendored CRD after every tick."""
    kube.create(vllm_deployment(NAME))
    kube.create(doc)
    routers = RouterSet(KubeObjectStore(client))
    clock = ManualClock()
    metrics = RouteMetrics(routers, error_rate, name="cluster-routes", latency_ms=80)
    engine = kube_engine(client, routers, metrics, clock=clock)
    seen: list[int] = []
    started = False
    for _ in range(80):
        result = engine.tick(NAME, "default")
        if result.phase == "Initialized" and not started:
            new_image(kube, "vllm/vllm-openai:v0.9.1")
            started = True
        weight = observe(kube)
        if weight is not None and (not seen or seen[-1] != weight):
            seen.append(weight)
        if started and result.phase == until:
            return seen
        kubelet(kube)
        clock.advance(30)
    raise AssertionError(f"never reached {until}: weights {seen}")


def stored(kube: KubeApi, api_version: str, kind: str) -> list[dict[str, Any]]:
    """Every object of a kind in ``default``, checked against its vendored CRD."""
    objs = kube.list(api_version, kind, "default")
    if objs:
        assert_valid(objs)
    return objs
