"""What the tests that drive the real engine against the kmock API share: a client per test on
the module's mock (``client``), a kubelet that marks Deployments ready, webhooks that pass,
metrics whose challenger traffic follows the routes the router reads back, and the engine wired
to the Kubernetes adapters.

Used by tests/routers (LLM routers, knative, kubernetes blue/green, the mesh engine test) and
tests/k8s/test_engine_on_kube.py; import the fixture with ``from kube_rollout_fixtures import
client`` and re-export it through ``__all__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import pytest
from kube_fixtures import KubeApi

from modelcanary.analysis import IntervalData, NoData, Scalar, Window, version_data
from modelcanary.engine import Engine, ManualClock
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._status import KubeStatusStore
from modelcanary.k8s._workloads import KubeWorkloads
from modelcanary.ports import MetricProvider, TrafficRouter, WebhookPayload, WebhookResult
from modelcanary.rollout import Routes
from modelcanary.spec import MetricSpec, ModelRollout, Webhook

APPS = "apps/v1"


@pytest.fixture()
def client(kube: KubeApi) -> Iterator[KubeClient]:
    """A KubeClient on the module's mock; the objects are forgotten after each test."""
    yield KubeClient(kube.api_client, timeout=10)
    kube.reset()


def http_container(name: str, image: str, port: int) -> dict[str, Any]:
    """A container serving HTTP on ``port`` (named ``http``)."""
    return {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
    }


def app_deployment(name: str, pod_spec: dict[str, Any], replicas: int) -> dict[str, Any]:
    """A Deployment of ``pod_spec`` selecting ``app: <name>``."""
    return {
        "apiVersion": APPS,
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": 60,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
        },
    }


def stored_rollout(
    name: str,
    router: dict[str, Any],
    service: dict[str, Any],
    target: tuple[str, str] = (APPS, "Deployment"),
    **analysis: Any,
) -> dict[str, Any]:
    """ModelRollout ``name`` in ``default`` as stored, targeting the ``target`` (apiVersion,
    kind) of the same name: 30 s intervals, threshold 2, error rate at most 5%, and
    ``analysis`` (steps, iterations, webhooks)."""
    api_version, kind = target
    return {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "targetRef": {"apiVersion": api_version, "kind": kind, "name": name},
            "router": router,
            "service": service,
            "analysis": {
                "interval": "30s",
                "threshold": 2,
                **analysis,
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
            },
        },
    }


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


class Hooks:
    """Every webhook passes; the names of those run, in order, are in ``ran``."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, hook: Webhook, payload: WebhookPayload) -> WebhookResult:
        self.ran.append(hook.name)
        return WebhookResult(hook.name, hook.type, True, 200)


class ReadsRoutes(Protocol):
    def get_routes(self, rollout: ModelRollout) -> Routes: ...


class RouteMetrics:
    """Challenger requests in proportion to the challenger weight ``routes`` reads back (600
    champion requests an interval, latencies around ``latency_ms``), challenger errors at
    ``error_rate``. Subclasses change the volumes through ``requests``."""

    def __init__(
        self,
        routes: ReadsRoutes,
        error_rate: float,
        *,
        name: str = "fake",
        latency_ms: float = 50,
    ) -> None:
        self.routes, self.error_rate = routes, error_rate
        self.name, self.latency_ms = name, latency_ms

    def is_online(self) -> bool:
        return True

    def backends(self, rollout: ModelRollout) -> list[RouteMetrics]:
        return [self]

    def requests(self, routes: Routes, window: Window) -> tuple[int, int]:
        """(challenger, champion) requests in ``window`` under ``routes``."""
        return int(600 * routes.challenger_weight / 100), 600

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        n, total = self.requests(self.routes.get_routes(rollout), window)
        rng = np.random.default_rng(int(window.end))
        latency = self.latency_ms
        challenger = version_data(
            "challenger",
            latencies_ms=rng.normal(latency, 5, n),
            errors=rng.random(n) < self.error_rate,
        )
        champion = version_data(
            "champion", latencies_ms=rng.normal(latency, 5, total), errors=np.zeros(total, bool)
        )
        return IntervalData(window, challenger, champion)

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        return NoData("no custom metrics here")


def kube_engine(
    client: KubeClient,
    router: TrafficRouter,
    metrics: MetricProvider,
    *,
    hooks: Hooks | None = None,
    clock: ManualClock | None = None,
) -> Engine:
    """The engine on the Kubernetes status store and workloads, with ``router`` and ``metrics``."""
    return Engine(
        store=KubeStatusStore(client),
        workloads=KubeWorkloads(client),
        router=router,
        metrics=metrics,
        webhooks=hooks or Hooks(),
        clock=clock or ManualClock(),
    )
