"""A Knative rollout end to end against the kmock API server: the real engine, the Kubernetes
workloads and status store, the knative router through RouterSet on a KubeObjectStore, and
tests/kube_knative.py reconciling the Knative Service (Revisions, status.traffic) between
ticks as Knative Serving would. Metrics follow the split Knative reports it serves."""

from __future__ import annotations

from typing import Any

from kube_fixtures import KubeApi, kube
from kube_knative import (
    API,
    KIND,
    KnativeController,
    PodinfoView,
    knative_service,
    new_image,
    served,
)
from kube_rollout_fixtures import RouteMetrics, client, kube_engine, stored_rollout
from router_schemas import assert_valid

from modelcanary.engine import ManualClock
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._objects import KubeObjectStore
from modelcanary.rollout import Routes
from modelcanary.routers import RouterSet
from modelcanary.spec import parse_rollout

__all__ = ["client", "kube"]


def rollout_doc(**spec: Any) -> dict[str, Any]:
    router, service = {"provider": "knative"}, {"port": 80}
    doc = stored_rollout("podinfo", router, service, (API, KIND), stepWeights=[10, 50])
    doc["spec"] |= spec
    return parse_rollout(doc).to_dict()


class Run(PodinfoView):
    """The engine, the emulated Knative controller and a manual clock, tick by tick."""

    def __init__(self, kube: KubeApi, client: KubeClient, error_rate: float, **spec: Any) -> None:
        self.kube = kube
        self.knative = KnativeController(kube, broken_images={"ghcr.io/acme/podinfo:broken"})
        kube.create(knative_service())
        self.knative.reconcile()  # revision podinfo-00001 created
        self.knative.reconcile()  # ... and ready
        kube.create(rollout_doc(**spec))
        self.routers = RouterSet(KubeObjectStore(client))
        self.clock = ManualClock()
        metrics = RouteMetrics(self.routers, error_rate, name="knative-fake")
        self.engine = kube_engine(client, self.routers, metrics, clock=self.clock)
        self.served: list[dict[str, int]] = []
        """status.traffic of every tick: revision -> percent Knative serves."""

    def drive(self, until: set[str]) -> list[str]:
        phases: list[str] = []
        for _ in range(60):
            result = self.engine.tick("podinfo", "default")
            if not phases or phases[-1] != result.phase:
                phases.append(result.phase)
            self.knative.reconcile()
            self.served.append(served(self.svc()))
            if result.phase in until:
                return phases
            self.clock.advance(30)
        raise AssertionError(f"never reached {until}: {phases}")


def pinned(svc: dict[str, Any], champion: str, challenger_weight: int) -> list[dict[str, Any]]:
    """The traffic block the router writes."""
    return [
        {
            "revisionName": champion,
            "latestRevision": False,
            "percent": 100 - challenger_weight,
            "tag": "primary",
        },
        {"latestRevision": True, "percent": challenger_weight, "tag": "canary"},
    ]


def test_a_new_revision_is_analysed_on_its_traffic_share_and_promoted(
    kube: KubeApi, client: KubeClient
) -> None:
    run = Run(kube, client, error_rate=0.0)
    assert run.drive({"Initialized"})[-1] == "Initialized"
    svc = run.svc()
    assert svc["spec"]["traffic"] == pinned(svc, "podinfo-00001", 0)
    assert svc["metadata"]["annotations"]["modelcanary.io/champion-revision"] == "podinfo-00001"
    assert "ownerReferences" not in svc["metadata"]  # the user's Service: adopted, not owned
    assert_valid([svc])

    new_image(kube, "ghcr.io/stefanprodan/podinfo:6.0.1")
    phases = run.drive({"Succeeded"})
    assert "Progressing" in phases and phases[-1] == "Succeeded"
    # Knative really served the steps: 10 % then 50 % on the new revision, the rest pinned
    assert {"podinfo-00001": 90, "podinfo-00002": 10} in run.served
    assert {"podinfo-00001": 50, "podinfo-00002": 50} in run.served
    svc = run.svc()
    assert svc["spec"]["traffic"] == pinned(svc, "podinfo-00002", 0)
    assert svc["metadata"]["annotations"]["modelcanary.io/champion-revision"] == "podinfo-00002"
    assert run.served[-1] == {"podinfo-00002": 100}
    tags = {t.get("tag"): t.get("url") for t in svc["status"]["traffic"]}
    assert tags["canary"] == "http://canary-podinfo.default.example.com"
    status = run.status()
    assert status["lastPromotedSpec"] == status["lastAppliedSpec"] == "podinfo-00002"
    assert_valid([svc])
    # the template the user wrote is untouched: the router writes the traffic block only
    assert svc["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")


def test_a_bad_revision_is_rolled_back_to_the_pinned_champion(
    kube: KubeApi, client: KubeClient
) -> None:
    run = Run(kube, client, error_rate=0.5)
    run.drive({"Initialized"})
    new_image(kube, "ghcr.io/stefanprodan/podinfo:6.0.2-faulty")
    phases = run.drive({"Failed"})
    assert phases[-1] == "Failed"
    assert {"podinfo-00001": 90, "podinfo-00002": 10} in run.served
    svc = run.svc()
    assert svc["spec"]["traffic"] == pinned(svc, "podinfo-00001", 0)
    assert run.served[-1] == {"podinfo-00001": 100, "podinfo-00002": 0}
    status = run.status()
    assert status["lastPromotedSpec"] == "podinfo-00001"
    assert status["lastAppliedSpec"] == "podinfo-00002"
    assert "error-rate" in status["message"] or "rolled back" in status["message"]


def test_a_revision_that_never_gets_ready_gets_no_traffic_and_fails_the_deadline(
    kube: KubeApi, client: KubeClient
) -> None:
    run = Run(kube, client, error_rate=0.0, progressDeadlineSeconds=120)
    run.drive({"Initialized"})
    new_image(kube, "ghcr.io/acme/podinfo:broken")
    phases = run.drive({"Failed"})
    assert phases[-1] == "Failed"
    assert all(s == {"podinfo-00001": 100} for s in run.served)  # not one request to 00002
    status = run.status()
    assert "podinfo-00002 is not ready" in status["message"]
    assert "Container failed to start" in status["message"]  # Knative's own reason, passed on
    assert run.svc()["spec"]["traffic"][0]["revisionName"] == "podinfo-00001"


class RacingStore(KubeObjectStore):
    """A KubeObjectStore on which the user changes the Service's image right after the router
    read it (a GitOps sync landing while the operator shifts traffic)."""

    def __init__(self, client: KubeClient, kube: KubeApi) -> None:
        super().__init__(client)
        self.kube, self.raced = kube, False

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Any:
        found = super().get(api_version, kind, namespace, name)
        if kind == KIND and not self.raced:
            self.raced = True
            new_image(self.kube, "ghcr.io/stefanprodan/podinfo:6.0.9")
        return found


def test_a_template_change_made_while_the_router_writes_is_not_undone(
    kube: KubeApi, client: KubeClient
) -> None:
    kube.create(knative_service())
    knative = KnativeController(kube)
    knative.reconcile()
    knative.reconcile()
    ro = parse_rollout(rollout_doc())
    store = RacingStore(client, kube)
    RouterSet(store).set_routes(ro, Routes(champion_weight=90, challenger_weight=10))
    assert store.raced
    svc = kube.get(API, KIND, "default", "podinfo")
    assert svc is not None
    assert svc["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.9")
    assert [t["percent"] for t in svc["spec"]["traffic"]] == [90, 10]
    knative.reconcile()  # the user's change is a new revision, not yet ready: 00001 serves
    svc = kube.get(API, KIND, "default", "podinfo") or {}
    assert svc["status"]["latestCreatedRevisionName"] == "podinfo-00002"
    assert served(svc) == {"podinfo-00001": 100}
