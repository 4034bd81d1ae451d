"""The real engine driving a targetRef rollout through the Kubernetes adapters (status on the
CR, Deployments, Services, Events) against kmock, tick by tick; a fake kubelet marks scaled
Deployments ready and fake metrics answer (routes are recorded, not applied)."""

from __future__ import annotations

from typing import Any

import numpy as np
from k8s_objects import deployment, ready_status, target_rollout, template_patch, validate
from kube_fixtures import KubeApi

from modelcanary.analysis import IntervalData, NoData, Scalar, Window, version_data
from modelcanary.engine import Engine, ManualClock
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._events import KubeEvents
from modelcanary.k8s._status import KubeStatusStore
from modelcanary.k8s._workloads import KubeWorkloads
from modelcanary.ports import WebhookPayload, WebhookResult
from modelcanary.rollout import Routes
from modelcanary.spec import MetricSpec, ModelRollout, Webhook

APPS = "apps/v1"


class Router:
    def __init__(self) -> None:
        self.routes = Routes()
        self.log: list[int] = []

    def reconcile(self, rollout: ModelRollout) -> None:
        pass

    def set_routes(self, rollout: ModelRollout, routes: Routes) -> None:
        self.routes = routes
        self.log.append(routes.challenger_weight)

    def get_routes(self, rollout: ModelRollout) -> Routes:
        return self.routes

    def finalize(self, rollout: ModelRollout) -> None:
        self.routes = Routes()


class Metrics:
    name = "fake"

    def __init__(self, router: Router, error_rate: float) -> None:
        self.router = router
        self.error_rate = error_rate

    def is_online(self) -> bool:
        return True

    def backends(self, rollout: ModelRollout) -> list[Metrics]:
        return [self]

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        rng = np.random.default_rng(int(window.end))
        n = max(1, int(600 * self.router.routes.challenger_weight / 100))
        chal = version_data(
            "challenger", latencies_ms=rng.normal(50, 5, n), errors=rng.random(n) < self.error_rate
        )
        champ = version_data(
            "champion", latencies_ms=rng.normal(50, 5, 600), errors=np.zeros(600, bool)
        )
        return IntervalData(window, chal, champ)

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        return NoData("no custom metrics here")


class Hooks:
    def run(self, hook: Webhook, payload: WebhookPayload) -> WebhookResult:
        return WebhookResult(hook.name, hook.type, True, 200)


def kubelet(kube: KubeApi) -> None:
    """Every Deployment's status catches up with its spec (all replicas ready)."""
    for obj in kube.list(APPS, "Deployment", "default"):
        replicas = obj["spec"].get("replicas", 1)
        kube.patch(
            APPS,
            "Deployment",
            "default",
            obj["metadata"]["name"],
            ready_status(replicas, generation=obj["metadata"]["generation"]),
        )


def drive(kube: KubeApi, engine: Engine, clock: ManualClock, until: set[str]) -> list[str]:
    phases: list[str] = []
    for _ in range(40):
        result = engine.tick("podinfo", "default")
        if not phases or phases[-1] != result.phase:
            phases.append(result.phase)
        if result.phase in until:
            return phases
        kubelet(kube)
        clock.advance(30)
    raise AssertionError(f"never reached {until}: {phases}")


def setup(
    kube: KubeApi, client: KubeClient, error_rate: float
) -> tuple[Engine, Router, ManualClock]:
    kube.create(deployment("podinfo"))
    doc: dict[str, Any] = target_rollout().to_dict()
    kube.create(doc)
    router, clock = Router(), ManualClock()
    engine = Engine(
        store=KubeStatusStore(client),
        workloads=KubeWorkloads(client),
        router=router,
        metrics=Metrics(router, error_rate),
        webhooks=Hooks(),
        clock=clock,
    )
    return engine, router, clock


def new_image(kube: KubeApi, tag: str) -> None:
    container = {
        "name": "podinfod",
        "image": f"ghcr.io/stefanprodan/podinfo:{tag}",
        "ports": [{"name": "http", "containerPort": 9898}],
    }
    kube.patch(APPS, "Deployment", "default", "podinfo", template_patch(container))


def replicas(kube: KubeApi, name: str) -> int:
    return int(kube.get(APPS, "Deployment", "default", name)["spec"]["replicas"])


def image(kube: KubeApi, name: str) -> str:
    obj = kube.get(APPS, "Deployment", "default", name)
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def test_a_new_revision_is_analysed_and_promoted(kube: KubeApi, client: KubeClient) -> None:
    engine, router, clock = setup(kube, client, error_rate=0.0)
    assert drive(kube, engine, clock, {"Initialized"}) == ["Initializing", "Initialized"]
    assert replicas(kube, "podinfo-primary") == 2
    engine.tick("podinfo", "default")  # idle tick: nothing to do
    assert replicas(kube, "podinfo") == 0

    new_image(kube, "6.0.1")
    phases = drive(kube, engine, clock, {"Succeeded"})
    assert phases[0] == "Progressing" and phases[-1] == "Succeeded"
    assert 10 in router.log and 50 in router.log and router.routes.challenger_weight == 0
    assert image(kube, "podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.1"
    assert replicas(kube, "podinfo") == 0
    status = kube.get("modelcanary.io/v1alpha1", "ModelRollout", "default", "podinfo")["status"]
    assert status["phase"] == "Succeeded"
    assert status["lastPromotedSpec"] == status["lastAppliedSpec"]
    for obj in kube.list(APPS, "Deployment", "default") + kube.list("v1", "Service", "default"):
        validate(obj)


def test_a_bad_revision_is_rolled_back(kube: KubeApi, client: KubeClient) -> None:
    engine, router, clock = setup(kube, client, error_rate=0.5)
    drive(kube, engine, clock, {"Initialized"})
    new_image(kube, "6.0.2-broken")
    assert drive(kube, engine, clock, {"Failed"})[-1] == "Failed"
    assert image(kube, "podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.0"
    assert replicas(kube, "podinfo") == 0
    assert router.routes.challenger_weight == 0
    rollout = KubeStatusStore(client).get("podinfo", "default")
    assert rollout is not None and rollout.rollout.status is not None
    KubeEvents(client).emit(
        rollout.rollout, "RolloutFailed", rollout.rollout.status.message, warning=True
    )
    assert kube.list("v1", "Event", "default")[0]["type"] == "Warning"
