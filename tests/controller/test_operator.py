"""The kopf operator against a Kubernetes API (kmock): rollouts driven by the real handlers.

Each test runs the operator (``modelcanary.controller._operator.operator``: kopf, our
registry, the engine on the ``modelcanary.k8s`` adapters and the Istio router) in a thread
against the kmock API; a "kubelet" thread marks Deployments ready; the metric comes from a
Prometheus-API server whose values the test sets. Assertions are on what a cluster user sees:
the resource's status and history, Deployments, Services, VirtualService weights, Events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from controller_fixtures import (
    ROLLOUT_API,
    Kubelet,
    OperatorThread,
    PromAPI,
    deployment,
    rollout_doc,
    rollout_status,
    wait_for,
)
from kube_fixtures import KubeApi

ISTIO = "networking.istio.io/v1"


@pytest.fixture(autouse=True)
def clean(kube: KubeApi) -> Iterator[None]:
    """Each test starts from an empty cluster (the rollouts of the previous one are gone)."""
    kube.reset()
    if kube.get("v1", "Namespace", None, "default") is None:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    yield


def _phase(kube: KubeApi, name: str) -> str:
    return str(rollout_status(kube, name).get("phase", ""))


def _weights(kube: KubeApi, name: str) -> dict[str, int]:
    """host -> weight of the VirtualService's split route."""
    vs = kube.get(ISTIO, "VirtualService", "default", name)
    assert vs is not None, f"no VirtualService {name}"
    for route in vs["spec"]["http"]:
        hosts = {d["destination"]["host"]: d.get("weight", 0) for d in route["route"]}
        if len(hosts) == 2:
            return hosts
    raise AssertionError(f"no split route in {vs['spec']['http']}")


def _image(kube: KubeApi, name: str) -> str:
    obj = kube.get("apps/v1", "Deployment", "default", name)
    assert obj is not None, f"no Deployment {name}"
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def _replicas(kube: KubeApi, name: str) -> int:
    obj = kube.get("apps/v1", "Deployment", "default", name)
    assert obj is not None
    return int(obj["spec"].get("replicas", 1))


def _events(kube: KubeApi, name: str) -> list[tuple[str, str]]:
    out = []
    for api in ("v1", "events.k8s.io/v1"):
        for event in kube.list(api, "Event", "default"):
            regarding = event.get("involvedObject") or event.get("regarding") or {}
            if regarding.get("name") == name and regarding.get("kind") == "ModelRollout":
                out.append((str(event.get("reason")), str(event.get("type"))))
    return out


def _start(kube: KubeApi, prom: PromAPI, name: str, **kw: Any) -> dict[str, Any]:
    """The user's Deployment and ModelRollout, as `kubectl apply` would create them."""
    kube.create(deployment(name))
    doc = rollout_doc(name, prometheus=prom.url, **kw)
    kube.create(doc)
    return doc


def _new_revision(kube: KubeApi, name: str, image: str) -> None:
    kube.patch(
        "apps/v1",
        "Deployment",
        "default",
        name,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "podinfo", "image": image, "ports": [{"containerPort": 9898}]}
                        ]
                    }
                }
            }
        },
    )


def test_healthy_challenger_is_promoted(kube: KubeApi, prom: PromAPI, kubelet: Kubelet) -> None:
    prom.values["rollout='good'"] = 0.01
    _start(kube, prom, "good")
    with OperatorThread(kube.api_client):
        # first revision: the primary is created from the target, the target is scaled to 0
        wait_for(lambda: _phase(kube, "good") == "Initialized", "Initialized")
        assert _image(kube, "good-primary").endswith(":6.0.0")
        # ticked without a finalizer (only revertOnDeletion asks for one: see test_operator_
        # finalizers.py); a namespace deletion never waits on this operator
        assert kube.get(ROLLOUT_API, "ModelRollout", "default", "good")["metadata"].get(
            "finalizers"
        ) in (None, [])
        for svc in ("good", "good-primary", "good-canary"):
            assert kube.get("v1", "Service", "default", svc) is not None, svc
        assert _weights(kube, "good") == {"good-primary": 100, "good-canary": 0}

        _new_revision(kube, "good", "ghcr.io/stefanprodan/podinfo:6.0.1")
        wait_for(lambda: _phase(kube, "good") == "Succeeded", "Succeeded", timeout=60)

    status = rollout_status(kube, "good")
    assert status["outcome"] == "promoted"
    assert [h["canaryWeight"] for h in status["history"] if h["verdict"] == "pass"][:2] == [30, 60]
    assert _image(kube, "good-primary").endswith(":6.0.1")  # the challenger's template promoted
    assert _weights(kube, "good") == {"good-primary": 100, "good-canary": 0}
    assert _replicas(kube, "good") == 0
    reasons = {reason for reason, _ in _events(kube, "good")}
    assert {"Progressing", "Promoting", "Succeeded"} <= reasons
    assert any("errors_query{rollout='good'}" in q for q in prom.queries)


def test_failing_challenger_is_rolled_back(kube: KubeApi, prom: PromAPI, kubelet: Kubelet) -> None:
    prom.values["rollout='bad'"] = 0.5
    _start(kube, prom, "bad")
    with OperatorThread(kube.api_client):
        wait_for(lambda: _phase(kube, "bad") == "Initialized", "Initialized")
        _new_revision(kube, "bad", "ghcr.io/stefanprodan/podinfo:6.0.2")
        wait_for(lambda: _phase(kube, "bad") == "Failed", "Failed", timeout=60)

    status = rollout_status(kube, "bad")
    assert status["outcome"] == "rolled_back"
    failed = [h for h in status["history"] if h["verdict"] == "fail"]
    assert failed and failed[0]["checks"][0]["metric"] == "errors"
    assert failed[0]["checks"][0]["value"] == pytest.approx(0.5)
    assert _image(kube, "bad-primary").endswith(":6.0.0")  # the champion stays
    assert _weights(kube, "bad") == {"bad-primary": 100, "bad-canary": 0}
    assert _replicas(kube, "bad") == 0
    assert ("Failed", "Warning") in _events(kube, "bad")


def test_a_restarted_operator_continues_from_the_status(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    prom.values["rollout='restart'"] = 0.0
    # 2 s intervals: after its first interval the rollout stays Progressing for three more
    # (6 s), so the first operator stops before it moves on to Promoting even on a loaded
    # machine (500 ms intervals left 1.5 s for the check below to see it and stop it)
    _start(kube, prom, "restart", weights=(20, 40, 60, 80), interval="2s")
    first = OperatorThread(kube.api_client).start()
    try:
        wait_for(lambda: _phase(kube, "restart") == "Initialized", "Initialized")
        _new_revision(kube, "restart", "ghcr.io/stefanprodan/podinfo:6.0.3")
        wait_for(
            lambda: len(rollout_status(kube, "restart").get("history") or []) >= 1, "one interval"
        )
    finally:
        first.stop()
    before = rollout_status(kube, "restart")
    assert before["phase"] == "Progressing"

    with OperatorThread(kube.api_client):
        wait_for(lambda: _phase(kube, "restart") == "Succeeded", "Succeeded", timeout=90)
    after = rollout_status(kube, "restart")
    # the new operator went on from the stored status: the old records are kept as they were
    assert after["history"][: len(before["history"])] == before["history"]
    weights = [h["canaryWeight"] for h in after["history"] if h["verdict"] == "pass"]
    assert weights[:4] == [20, 40, 60, 80]
    assert _image(kube, "restart-primary").endswith(":6.0.3")


def test_deletion_reverts_traffic_through_the_finalizer(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    prom.values["rollout='gone'"] = 0.0
    doc = rollout_doc("gone", prometheus=prom.url, weights=(50,), interval="30s")
    doc["spec"]["revertOnDeletion"] = True
    kube.create(deployment("gone"))
    kube.create(doc)
    with OperatorThread(kube.api_client):
        wait_for(lambda: _phase(kube, "gone") == "Initialized", "Initialized")
        _new_revision(kube, "gone", "ghcr.io/stefanprodan/podinfo:6.0.4")
        wait_for(lambda: _weights(kube, "gone")["gone-canary"] == 50, "traffic at 50 %")
        kube.delete(ROLLOUT_API, "ModelRollout", "default", "gone")
        wait_for(
            lambda: kube.get(ROLLOUT_API, "ModelRollout", "default", "gone") is None,
            "the finalizer released the rollout",
        )
    # traffic back to the champion: the routing objects the router created are gone
    assert kube.get(ISTIO, "VirtualService", "default", "gone") is None
    assert kube.get(ISTIO, "DestinationRule", "default", "gone-canary") is None
    assert _image(kube, "gone-primary").endswith(":6.0.0")


def test_a_spec_the_operator_cannot_use_gets_a_condition(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    doc = rollout_doc("broken", prometheus=prom.url)
    doc["spec"]["analysis"]["stepWeights"] = [60, 30]  # not increasing: no API validation here
    kube.create(deployment("broken"))
    kube.create(doc)

    def spec_condition() -> dict[str, Any] | None:
        conditions = rollout_status(kube, "broken").get("conditions") or []
        return next((c for c in conditions if c["type"] == "SpecValid"), None)

    with OperatorThread(kube.api_client):
        condition = wait_for(spec_condition, "the SpecValid condition")
        assert condition["status"] == "False" and condition["reason"] == "InvalidSpec"
        assert "spec.analysis.stepWeights" in condition["message"]
        assert "fix:" in condition["message"]
        assert kube.get("apps/v1", "Deployment", "default", "broken-primary") is None

        # fixed by the user: the rollout starts and the condition goes away
        kube.patch(
            ROLLOUT_API,
            "ModelRollout",
            "default",
            "broken",
            {"spec": {"analysis": {"stepWeights": [30, 60]}}},
        )
        wait_for(lambda: _phase(kube, "broken") == "Initialized", "Initialized after the fix")
        wait_for(lambda: spec_condition() is None, "the condition removed")
    assert kube.get("apps/v1", "Deployment", "default", "broken-primary") is not None


def test_peering_keeps_one_operator_active(kube: KubeApi, prom: PromAPI, kubelet: Kubelet) -> None:
    kube.create(
        {
            "apiVersion": "kopf.dev/v1",
            "kind": "KopfPeering",
            "metadata": {"name": "modelcanary", "namespace": "default"},
        }
    )
    prom.values["rollout='ha'"] = 0.0
    _start(kube, prom, "ha")

    def ticks(op: OperatorThread) -> float:
        return op.runtime.engine.self_metrics.value("modelcanary_tick_seconds_count") or 0.0

    high = OperatorThread(kube.api_client, peering="modelcanary", priority=20).start()
    low = None
    try:
        wait_for(lambda: _phase(kube, "ha") == "Initialized", "Initialized")
        low = OperatorThread(kube.api_client, peering="modelcanary", priority=10).start()
        _new_revision(kube, "ha", "ghcr.io/stefanprodan/podinfo:6.0.5")
        wait_for(lambda: _phase(kube, "ha") == "Succeeded", "Succeeded", timeout=60)
        peering = kube.get("kopf.dev/v1", "KopfPeering", "default", "modelcanary") or {}
        assert sorted(p["priority"] for p in (peering.get("status") or {}).values()) == [10, 20]
        assert ticks(high) > 0 and ticks(low) == 0  # the lower priority one only waited
    finally:
        if low is not None:
            low.stop()
        high.stop()
    assert rollout_status(kube, "ha")["outcome"] == "promoted"
