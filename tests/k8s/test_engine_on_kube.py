"""The real engine driving a targetRef rollout through the Kubernetes adapters (status on the
CR, Deployments, Services, Events) against kmock, tick by tick; a fake kubelet marks scaled
Deployments ready and fake metrics answer (routes are recorded, not applied)."""

from __future__ import annotations

from typing import Any

from k8s_objects import deployment, target_rollout, template_patch, validate
from kube_fixtures import KubeApi
from kube_rollout_fixtures import APPS, RouteMetrics, kube_engine, kubelet

from modelcanary.analysis import Window
from modelcanary.engine import Engine, ManualClock
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._events import KubeEvents
from modelcanary.k8s._status import KubeStatusStore
from modelcanary.rollout import Routes
from modelcanary.spec import ModelRollout


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


class Metrics(RouteMetrics):
    """At least one challenger request an interval, even at weight 0."""

    def requests(self, routes: Routes, window: Window) -> tuple[int, int]:
        return max(1, int(600 * routes.challenger_weight / 100)), 600


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
    engine = kube_engine(client, router, Metrics(router, error_rate), clock=clock)
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
