"""The kopf operator rolls out Knative revisions: a Knative Service and a ModelRollout applied
to the kmock API, Knative Serving emulated by tests/kube_knative.py in a background thread,
the analysis answered by the Prometheus-API fake. To promotion, and to rollback."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from controller_fixtures import ROLLOUT_API, OperatorThread, rollout_doc, rollout_status, wait_for
from kube_fixtures import KubeApi
from kube_knative import API, KIND, KnativeController, knative_service, new_image
from prom_api_fake import PromAPI


@contextlib.contextmanager
def knative_serving(kube: KubeApi) -> Iterator[KnativeController]:
    """The emulated Knative controller, reconciling every 0.2 s until the block ends."""
    controller = KnativeController(kube)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):  # the API may be between tests: retry
                controller.reconcile()
            stop.wait(0.2)

    thread = threading.Thread(target=loop, name="knative-serving", daemon=True)
    thread.start()
    try:
        yield controller
    finally:
        stop.set()
        thread.join(10)


def knative_rollout(name: str, prom: PromAPI) -> dict[str, Any]:
    doc = rollout_doc(name, prometheus=prom.url)
    doc["spec"]["targetRef"] = {"apiVersion": API, "kind": KIND, "name": name}
    doc["spec"]["router"] = {"provider": "knative"}
    return doc


def traffic(kube: KubeApi, name: str) -> list[tuple[str | None, bool, int]]:
    svc = kube.get(API, KIND, "default", name) or {}
    return [
        (t.get("revisionName"), bool(t.get("latestRevision")), t.get("percent", 0))
        for t in svc.get("spec", {}).get("traffic") or []
    ]


def served(kube: KubeApi, name: str) -> dict[str, int]:
    svc = kube.get(API, KIND, "default", name) or {}
    out: dict[str, int] = {}
    for target in (svc.get("status") or {}).get("traffic") or []:
        out[target["revisionName"]] = out.get(target["revisionName"], 0) + target["percent"]
    return out


def _phase(kube: KubeApi, name: str) -> str | None:
    return rollout_status(kube, name).get("phase")


def pinned(kube: KubeApi, name: str, revision: str) -> bool:
    """Whether the router's two targets pin ``revision`` (100 %, the latest at 0 %) in
    ``spec.traffic`` and Knative serves that very spec: ``status.traffic`` of the current
    generation, all of it on ``revision``. Neither the phase nor ``served`` alone says so:
    the engine stores a tick's status (Initialized, Succeeded) before it writes the routes,
    and a Service without a traffic block already serves 100 % on its only revision."""
    svc = kube.get(API, KIND, "default", name) or {}
    status = svc.get("status") or {}
    spec = [
        (t.get("revisionName"), bool(t.get("latestRevision")), t.get("percent", 0))
        for t in svc.get("spec", {}).get("traffic") or []
    ]
    routed = [t for t in status.get("traffic") or [] if t.get("revisionName") == revision]
    return (
        spec == [(revision, False, 100), (None, True, 0)]
        and status.get("observedGeneration") == (svc.get("metadata") or {}).get("generation")
        and sum(t["percent"] for t in routed) == 100
    )


def test_the_operator_promotes_a_healthy_knative_revision(kube: KubeApi, prom: PromAPI) -> None:
    prom.values["rollout='kgood'"] = 0.01
    kube.create(knative_service("kgood"))
    kube.create(knative_rollout("kgood", prom))
    with knative_serving(kube), OperatorThread(kube.api_client):
        wait_for(lambda: _phase(kube, "kgood") == "Initialized", "Initialized")
        wait_for(lambda: pinned(kube, "kgood", "kgood-00001"), "champion pinned and served")
        new_image(kube, "ghcr.io/stefanprodan/podinfo:6.0.1", name="kgood")
        wait_for(lambda: _phase(kube, "kgood") == "Succeeded", "Succeeded", timeout=60)
        wait_for(lambda: pinned(kube, "kgood", "kgood-00002"), "promoted revision pinned")
    status = rollout_status(kube, "kgood")
    assert status["outcome"] == "promoted"
    assert [h["canaryWeight"] for h in status["history"] if h["verdict"] == "pass"][:2] == [30, 60]
    assert status["lastPromotedSpec"] == "kgood-00002"
    assert traffic(kube, "kgood") == [("kgood-00002", False, 100), (None, True, 0)]
    assert kube.get(ROLLOUT_API, "ModelRollout", "default", "kgood") is not None


def test_the_operator_rolls_a_failing_knative_revision_back(kube: KubeApi, prom: PromAPI) -> None:
    prom.values["rollout='kbad'"] = 0.5
    kube.create(knative_service("kbad"))
    kube.create(knative_rollout("kbad", prom))
    with knative_serving(kube), OperatorThread(kube.api_client):
        wait_for(lambda: _phase(kube, "kbad") == "Initialized", "Initialized")
        wait_for(lambda: pinned(kube, "kbad", "kbad-00001"), "champion pinned and served")
        new_image(kube, "ghcr.io/stefanprodan/podinfo:6.0.2", name="kbad")
        wait_for(lambda: _phase(kube, "kbad") == "Failed", "Failed", timeout=60)
        wait_for(lambda: pinned(kube, "kbad", "kbad-00001"), "champion serves all again")
    status = rollout_status(kube, "kbad")
    assert status["outcome"] == "rolled_back"
    assert status["lastPromotedSpec"] == "kbad-00001"
    assert traffic(kube, "kbad") == [("kbad-00001", False, 100), (None, True, 0)]
