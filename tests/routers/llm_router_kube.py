"""A rollout of an LLM router against the kmock API: the real engine, the Kubernetes adapters
(status on the CR, Deployments, the router's objects through ``KubeObjectStore``), a kubelet
that marks Deployments ready, and metrics whose challenger traffic follows the weights the
router really stored in the cluster (parsed back from the objects, not remembered).

Shared by test_inference_gateway.py and test_kserve_llm.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from kube_fixtures import KubeApi
from router_schemas import assert_valid

from modelcanary.analysis import IntervalData, NoData, Scalar, Window, version_data
from modelcanary.engine import Engine, ManualClock
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._objects import KubeObjectStore
from modelcanary.k8s._status import KubeStatusStore
from modelcanary.k8s._workloads import KubeWorkloads
from modelcanary.ports import WebhookPayload, WebhookResult
from modelcanary.routers import RouterSet
from modelcanary.spec import MetricSpec, ModelRollout, Webhook

APPS = "apps/v1"
NAME = "assistant"


def vllm_deployment(name: str, image: str = "vllm/vllm-openai:v0.9.0") -> dict[str, Any]:
    """A vLLM server Deployment selecting ``app: <name>``."""
    container = {
        "name": "vllm",
        "image": image,
        "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
    }
    return {
        "apiVersion": APPS,
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "progressDeadlineSeconds": 60,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container]},
            },
        },
    }


def llm_rollout_doc(provider: str, **router: Any) -> dict[str, Any]:
    """The ModelRollout (as stored) of Deployment ``assistant`` routed by ``provider``."""
    return {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": NAME, "namespace": "default"},
        "spec": {
            "targetRef": {"apiVersion": APPS, "kind": "Deployment", "name": NAME},
            "router": {"provider": provider, **router},
            "service": {"port": 8000, "gatewayRefs": [{"name": "inference-gateway"}]},
            "analysis": {
                "interval": "30s",
                "threshold": 2,
                "stepWeights": [10, 50],
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
            },
        },
    }


class Metrics:
    """Challenger requests in proportion to the weight the routing objects give it."""

    name = "cluster-routes"

    def __init__(self, routers: RouterSet, error_rate: float) -> None:
        self.routers, self.error_rate = routers, error_rate

    def is_online(self) -> bool:
        return True

    def backends(self, rollout: ModelRollout) -> list[Metrics]:
        return [self]

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        weight = self.routers.get_routes(rollout).challenger_weight
        rng = np.random.default_rng(int(window.end))
        n = int(600 * weight / 100)
        challenger = version_data(
            "challenger", latencies_ms=rng.normal(80, 5, n), errors=rng.random(n) < self.error_rate
        )
        champion = version_data(
            "champion", latencies_ms=rng.normal(80, 5, 600), errors=np.zeros(600, bool)
        )
        return IntervalData(window, challenger, champion)

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        return NoData("no custom metrics here")


class Hooks:
    def run(self, hook: Webhook, payload: WebhookPayload) -> WebhookResult:
        return WebhookResult(hook.name, hook.type, True, 200)


def kubelet(kube: KubeApi) -> None:
    """Every Deployment's status catches up with its spec (all replicas ready)."""
    for obj in kube.list(APPS, "Deployment", "default"):
        replicas = obj["spec"].get("replicas", 1)
        status = {
            "observedGeneration": obj["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
        kube.patch(APPS, "Deployment", "default", obj["metadata"]["name"], {"status": status})


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
    engine = Engine(
        store=KubeStatusStore(client),
        workloads=KubeWorkloads(client),
        router=routers,
        metrics=Metrics(routers, error_rate),
        webhooks=Hooks(),
        clock=clock,
    )
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
