"""Deleting a ModelRollout leaves a serving, analysed version (issue 14, items 3.3 and 3.6).

Against a real API server the garbage collector deleted everything the rollout owned: the
``-primary`` Deployment, the three Services and the routing objects, leaving the target at 0
replicas (nothing served); with ``revertOnDeletion`` traffic was reverted, then the apex Service
was collected anyway and the target was left running an unanalysed challenger. The kmock
harness now collects dependents by ownerReferences as the garbage collector does, so these
tests see what a cluster would keep.
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

from modelcanary.controller._handlers import FINALIZER

ISTIO = "networking.istio.io/v1"


@pytest.fixture(autouse=True)
def clean(kube: KubeApi) -> Iterator[None]:
    kube.reset()
    yield


def _deployment(kube: KubeApi, name: str) -> dict[str, Any] | None:
    return kube.get("apps/v1", "Deployment", "default", name)


def _canary_weight(kube: KubeApi, name: str) -> int:
    vs = kube.get(ISTIO, "VirtualService", "default", name) or {"spec": {"http": []}}
    for route in vs["spec"]["http"]:
        for dest in route.get("route") or []:
            if dest["destination"]["host"] == f"{name}-canary":
                return int(dest.get("weight", 0))
    return 0


def _new_revision(kube: KubeApi, name: str, tag: str) -> None:
    target = _deployment(kube, name)
    assert target is not None
    containers = target["spec"]["template"]["spec"]["containers"]
    containers[0]["image"] = f"ghcr.io/stefanprodan/podinfo:{tag}"
    kube.patch(
        "apps/v1",
        "Deployment",
        "default",
        name,
        {"spec": {"template": {"spec": {"containers": containers}}}},
    )


def _start(
    kube: KubeApi, prom: PromAPI, name: str, *, revert: bool, weights: tuple[int, ...]
) -> None:
    prom.values[f"rollout='{name}'"] = 0.0
    doc = rollout_doc(
        name, prometheus=prom.url, weights=weights, interval="30s" if len(weights) == 1 else "500ms"
    )
    doc["spec"]["revertOnDeletion"] = revert
    kube.create(deployment(name))
    kube.create(doc)


def _released(kube: KubeApi, name: str) -> bool:
    return kube.get(ROLLOUT_API, "ModelRollout", "default", name) is None


def _events(kube: KubeApi, name: str) -> dict[str, str]:
    return {
        str(e.get("reason")): str(e.get("message"))
        for e in kube.list("v1", "Event", "default")
        if (e.get("involvedObject") or {}).get("name") == name
    }


def test_deletion_keeps_the_champion_serving(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    """Without revertOnDeletion: no finalizer, the champion and the apex Service remain, the
    objects made for the analysis are collected."""
    _start(kube, prom, "keep", revert=False, weights=(50,))
    with OperatorThread(kube.api_client):
        wait_for(lambda: rollout_status(kube, "keep").get("phase") == "Initialized", "Initialized")
        _new_revision(kube, "keep", "6.0.1")
        wait_for(lambda: _canary_weight(kube, "keep") == 50, "traffic at 50 %")
        kube.delete(ROLLOUT_API, "ModelRollout", "default", "keep")
        wait_for(lambda: _released(kube, "keep"), "the rollout gone at once")
        wait_for(lambda: kube.get(ISTIO, "VirtualService", "default", "keep") is None, "GC")
    primary = _deployment(kube, "keep-primary")
    assert primary is not None, "the champion was collected: nothing serves"
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.0")
    assert primary["spec"]["replicas"] == 2
    apex = kube.get("v1", "Service", "default", "keep")
    assert apex is not None, "the apex Service was collected: clients reach nothing"
    assert apex["spec"]["selector"] == {"app": "keep-primary"}
    for name in ("keep-primary", "keep-canary"):  # made for the analysis: collected
        assert kube.get("v1", "Service", "default", name) is None, name
    assert kube.names(ISTIO, "DestinationRule", "default") == []
    assert _deployment(kube, "keep") is not None  # the user's target is never deleted


def test_revert_scales_the_analysed_target_up_before_the_routing_goes(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    """revertOnDeletion after a promotion: the target runs the promoted revision; it is scaled
    back to the champion's replicas and ready before the routing objects are deleted, then the
    apex Service selects it and the champion's copies are collected."""
    _start(kube, prom, "back", revert=True, weights=(50,))
    with OperatorThread(kube.api_client):
        wait_for(lambda: rollout_status(kube, "back").get("phase") == "Initialized", "Initialized")
        wait_for(
            lambda: (
                (kube.get(ROLLOUT_API, "ModelRollout", "default", "back") or {})["metadata"].get(
                    "finalizers"
                )
                == [FINALIZER]
            ),
            "the finalizer (revertOnDeletion only)",
        )
        wait_for(  # the idle target is scaled down after the status write
            lambda: (_deployment(kube, "back") or {"spec": {}})["spec"].get("replicas") == 0,
            "the idle target at 0 replicas",
        )
        before = len(kube.writes())
        kube.delete(ROLLOUT_API, "ModelRollout", "default", "back")
        wait_for(lambda: _released(kube, "back"), "the finalizer released the rollout", 60)
    writes = kube.writes()[before:]
    target_path = "/apis/apps/v1/namespaces/default/deployments/back"
    scaled_up = next(
        i
        for i, (method, path, body) in enumerate(writes)
        if method == "PATCH"
        and path == target_path
        and isinstance(body, dict)
        and (body.get("spec") or {}).get("replicas", 0) > 0
    )
    vs_deleted = next(
        i
        for i, (method, path, _) in enumerate(writes)
        if method == "DELETE" and path.endswith("/virtualservices/back")
    )
    assert scaled_up < vs_deleted, "the routing objects went before the target could serve"
    target = _deployment(kube, "back")
    assert target is not None and target["spec"]["replicas"] == 2
    apex = kube.get("v1", "Service", "default", "back")
    assert apex is not None and apex["spec"]["selector"] == {"app": "back"}
    assert _deployment(kube, "back-primary") is None  # collected with the rollout
    assert kube.get(ISTIO, "VirtualService", "default", "back") is None
    assert "reverted" in _events(kube, "back").get("Released", "")


def test_revert_mid_analysis_keeps_the_champion(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    """revertOnDeletion while a challenger is analysed: the target runs an unanalysed
    revision, so the champion keeps serving and the challenger is stopped."""
    _start(kube, prom, "mid", revert=True, weights=(50,))
    with OperatorThread(kube.api_client):
        wait_for(lambda: rollout_status(kube, "mid").get("phase") == "Initialized", "Initialized")
        _new_revision(kube, "mid", "6.0.7")
        wait_for(lambda: _canary_weight(kube, "mid") == 50, "traffic at 50 %")
        kube.delete(ROLLOUT_API, "ModelRollout", "default", "mid")
        wait_for(lambda: _released(kube, "mid"), "the finalizer released the rollout", 60)
    primary = _deployment(kube, "mid-primary")
    assert primary is not None
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.0")
    apex = kube.get("v1", "Service", "default", "mid")
    assert apex is not None and apex["spec"]["selector"] == {"app": "mid-primary"}
    assert _deployment(kube, "mid")["spec"]["replicas"] == 0  # type: ignore[index]
    assert kube.get(ISTIO, "VirtualService", "default", "mid") is None
    assert "not promoted" in _events(kube, "mid").get("Released", "")
