"""The knative router pins the champion revision the rollout's status records, never one it
reads from the Service when it writes.

The engine writes a tick's status first (its intent: which revision is the champion), then
the router writes ``spec.traffic``. A user's new revision that Knative makes ready between
those two writes, or while a crashed operator restarts, is the challenger: it must never be
pinned as the champion (it would take all the traffic unanalysed). The race is made
deterministic with a status store that runs Knative's reconciler right after the write that
records the champion (tests/kube_knative.py, on the kmock API server): no sleeps, no timing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
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

from modelcanary.engine import Engine, ManualClock
from modelcanary.errors import RouterError
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._objects import KubeObjectStore
from modelcanary.k8s._status import KubeStatusStore
from modelcanary.rollout import Routes
from modelcanary.routers import MemoryObjectStore, RouterSet
from modelcanary.spec import ModelRollout, RolloutStatus, parse_rollout

__all__ = ["client", "kube"]

NEW_IMAGE = "ghcr.io/stefanprodan/podinfo:6.0.1"


class Crash(BaseException):
    """The operator process dies (not an error the engine could handle)."""


class RaceAfterRecord(KubeStatusStore):
    """A status store that runs ``race`` once, right after the first status write recording a
    champion (``lastPromotedSpec``) is stored, before the engine executes that tick."""

    def __init__(self, client: KubeClient, race: Callable[[], None]) -> None:
        super().__init__(client)
        self.race, self.raced = race, False

    def save_status(
        self, name: str, namespace: str, status: RolloutStatus, expected_version: str | None
    ) -> str | None:
        version = super().save_status(name, namespace, status, expected_version)
        if not self.raced and status.last_promoted_spec:
            self.raced = True
            self.race()
        return version


class Cluster(PodinfoView):
    """Knative Service ``podinfo`` with revision podinfo-00001 ready, a knative rollout of it,
    and engines on the kmock API server (each with its own caches, as a restarted operator)."""

    def __init__(self, kube: KubeApi, client: KubeClient) -> None:
        self.kube, self.client = kube, client
        self.knative = KnativeController(kube)
        kube.create(knative_service())
        self.knative.reconcile()  # podinfo-00001 created
        self.knative.reconcile()  # ... and ready
        self.clock = ManualClock()
        self.served: list[dict[str, int]] = []

    def start_rollout(self) -> None:
        self.kube.create(knative_rollout(None).to_dict())

    def engine(self, race: Callable[[], None] | None = None) -> Engine:
        routers = RouterSet(KubeObjectStore(self.client))
        metrics = RouteMetrics(routers, 0.0, name="knative-fake")
        engine = kube_engine(self.client, routers, metrics, clock=self.clock)
        if race is not None:
            engine.store = RaceAfterRecord(self.client, race)
        return engine

    def new_revision_ready(self) -> None:
        """The user's new image becomes revision podinfo-00002, and Knative makes it ready."""
        new_image(self.kube, NEW_IMAGE)
        self.knative.reconcile()  # created
        self.knative.reconcile()  # ready: latestReadyRevisionName is podinfo-00002

    def drive(self, engine: Engine, until: str) -> list[str]:
        phases: list[str] = []
        for _ in range(60):
            phase = str(engine.tick("podinfo", "default").phase)
            if not phases or phases[-1] != phase:
                phases.append(phase)
            self.knative.reconcile()
            self.served.append(served(self.svc()))
            if phase == until:
                return phases
            self.clock.advance(30)
        raise AssertionError(f"never reached {until}: {phases}")

    def pinned(self) -> str:
        """The revision the champion target of ``spec.traffic`` pins (and the annotation)."""
        svc = self.svc()
        champion = svc["spec"]["traffic"][0]
        assert champion["tag"] == "primary" and champion["latestRevision"] is False
        assert (
            svc["metadata"]["annotations"]["modelcanary.io/champion-revision"]
            == (champion["revisionName"])
        )
        return str(champion["revisionName"])


def assert_rolled_out_as_challenger(cluster: Cluster, engine: Engine) -> None:
    """podinfo-00002 gets the steps' shares beside the pinned podinfo-00001, then is promoted."""
    phases = cluster.drive(engine, "Succeeded")
    assert "Progressing" in phases
    assert {"podinfo-00001": 90, "podinfo-00002": 10} in cluster.served
    assert {"podinfo-00001": 50, "podinfo-00002": 50} in cluster.served
    assert cluster.served[-1] == {"podinfo-00002": 100}
    assert cluster.pinned() == "podinfo-00002"
    assert cluster.status()["lastPromotedSpec"] == "podinfo-00002"


def test_a_revision_ready_between_the_status_write_and_the_route_write_is_not_pinned(
    kube: KubeApi, client: KubeClient
) -> None:
    cluster = Cluster(kube, client)
    cluster.start_rollout()
    engine = cluster.engine(race=cluster.new_revision_ready)
    assert engine.tick("podinfo", "default").phase == "Initialized"
    assert isinstance(engine.store, RaceAfterRecord) and engine.store.raced
    assert cluster.status()["lastPromotedSpec"] == "podinfo-00001"
    # Knative reported podinfo-00002 as its latest ready revision when the router wrote
    assert cluster.svc()["status"]["latestReadyRevisionName"] == "podinfo-00002"
    assert cluster.pinned() == "podinfo-00001"
    cluster.knative.reconcile()
    assert served(cluster.svc()) == {"podinfo-00001": 100, "podinfo-00002": 0}
    assert_rolled_out_as_challenger(cluster, engine)


def test_a_revision_still_starting_at_initialisation_is_the_challenger_not_the_champion(
    kube: KubeApi, client: KubeClient
) -> None:
    cluster = Cluster(kube, client)
    new_image(kube, NEW_IMAGE)
    cluster.knative.reconcile()  # podinfo-00002 created, starting; podinfo-00001 serves
    cluster.start_rollout()
    engine = cluster.engine(race=cluster.knative.reconcile)  # ... ready right after the write
    result = engine.tick("podinfo", "default")
    assert isinstance(engine.store, RaceAfterRecord) and engine.store.raced
    status = cluster.status()
    assert status["lastPromotedSpec"] == "podinfo-00001"  # the revision serving, not 00002
    assert result.phase == "Progressing" and status["lastAppliedSpec"] == "podinfo-00002"
    assert cluster.pinned() == "podinfo-00001"
    assert_rolled_out_as_challenger(cluster, engine)


def test_an_operator_that_dies_after_recording_the_champion_resumes_with_that_pin(
    kube: KubeApi, client: KubeClient
) -> None:
    cluster = Cluster(kube, client)
    cluster.start_rollout()

    def die() -> None:
        cluster.new_revision_ready()  # while the operator is down
        raise Crash

    with pytest.raises(Crash):
        cluster.engine(race=die).tick("podinfo", "default")
    assert "traffic" not in cluster.svc()["spec"]  # it died before any route write
    assert cluster.status()["lastPromotedSpec"] == "podinfo-00001"
    restarted = cluster.engine()
    result = restarted.tick("podinfo", "default")
    assert cluster.pinned() == "podinfo-00001"
    assert result.phase == "Progressing"
    assert cluster.status()["lastAppliedSpec"] == "podinfo-00002"
    assert_rolled_out_as_challenger(cluster, restarted)


def ksvc() -> dict[str, Any]:
    """Service ``podinfo`` whose latest ready revision is podinfo-00002, no traffic block."""
    svc = knative_service()
    svc["metadata"]["generation"] = 2
    svc["status"] = {
        "observedGeneration": 2,
        "latestCreatedRevisionName": "podinfo-00002",
        "latestReadyRevisionName": "podinfo-00002",
    }
    return svc


def knative_rollout(status: dict[str, Any] | None) -> ModelRollout:
    """The knative rollout of Service ``podinfo`` (steps 10 %, 50 %), with ``status``."""
    router, service = {"provider": "knative"}, {"port": 80}
    doc = stored_rollout("podinfo", router, service, (API, KIND), stepWeights=[10, 50])
    if status is not None:
        doc["status"] = status
    return parse_rollout(doc)


def test_the_recorded_champion_wins_over_what_the_service_says_now() -> None:
    svc = ksvc()  # ready podinfo-00002, and a pin annotation someone edited to name it
    svc["metadata"]["annotations"] = {"modelcanary.io/champion-revision": "podinfo-00002"}
    store = MemoryObjectStore([svc])
    recorded = knative_rollout(
        {
            "phase": "Progressing",
            "lastPromotedSpec": "podinfo-00001",
            "lastAppliedSpec": "podinfo-00002",
        }
    )
    RouterSet(store).set_routes(recorded, Routes(champion_weight=90, challenger_weight=10))
    written = store.get(API, KIND, "default", "podinfo") or {}
    assert written["spec"]["traffic"][0]["revisionName"] == "podinfo-00001"
    assert written["metadata"]["annotations"]["modelcanary.io/champion-revision"] == (
        "podinfo-00001"
    )


def test_before_a_champion_is_recorded_the_service_traffic_is_left_alone() -> None:
    store = MemoryObjectStore([ksvc()])
    initialising = knative_rollout({"phase": "Initializing"})
    routers = RouterSet(store)
    routers.reconcile(initialising)
    routers.set_routes(initialising, Routes())
    routers.finalize(initialising)
    svc = store.get(API, KIND, "default", "podinfo")
    assert svc is not None  # never removed: the user's Service
    assert "traffic" not in svc["spec"]  # Knative keeps routing as its owner said
    assert "annotations" not in svc["metadata"]
    with pytest.raises(RouterError, match=r"records no champion revision yet"):
        routers.set_routes(initialising, Routes(champion_weight=90, challenger_weight=10))
