"""The operator next to a GitOps tool (issue 14, items 3.5 and 3.6).

A real API server showed every operator write filed under ``OpenAPI-Generator`` in
``managedFields``, and a GitOps re-apply of the target's manifest setting ``replicas`` again
left the idle target running. Here a GitOps tool (manager ``argocd``) owns the target through
server-side apply, as Argo CD and Flux do; the harness keeps managedFields and answers apply
conflicts as the API server does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import kubernetes.client
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
from kube_managed_fields import managers

ISTIO = "networking.istio.io/v1"


@pytest.fixture(autouse=True)
def clean(kube: KubeApi) -> Iterator[None]:
    kube.reset()
    yield


def _phase(kube: KubeApi, name: str) -> str:
    return str(rollout_status(kube, name).get("phase", ""))


def _target(kube: KubeApi, name: str) -> dict[str, Any]:
    found = kube.get("apps/v1", "Deployment", "default", name)
    assert found is not None
    return found


def _without_replicas(manifest: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(manifest)
    del out["spec"]["replicas"]
    return out


def test_the_operator_writes_as_modelcanary_and_owns_only_the_target_replicas(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    manifest = deployment("gitops")
    kube.apply(manifest, manager="argocd")
    kube.create(rollout_doc("gitops", prometheus=prom.url), manager="kubectl")
    with OperatorThread(kube.api_client):
        wait_for(lambda: _phase(kube, "gitops") == "Initialized", "Initialized")
        wait_for(lambda: _target(kube, "gitops")["spec"]["replicas"] == 0, "target idle")
    owners = managers(_target(kube, "gitops"))
    assert owners["modelcanary"] == {".spec.replicas"}  # nothing else of the user's object
    assert ".spec.replicas" not in owners["argocd"]
    assert ".spec.template.spec.containers" in owners["argocd"]
    # every object the operator made is filed under its field manager, none anonymously
    made = [
        kube.get("apps/v1", "Deployment", "default", "gitops-primary"),
        kube.get("v1", "Service", "default", "gitops"),
        kube.get("v1", "Service", "default", "gitops-canary"),
        kube.get(ISTIO, "VirtualService", "default", "gitops"),
        kube.get(ROLLOUT_API, "ModelRollout", "default", "gitops"),
    ]
    for obj in made:
        assert obj is not None
        names = set(managers(obj))
        assert "OpenAPI-Generator" not in names, (obj["kind"], names)
        assert "modelcanary" in names, (obj["kind"], names)
    # a re-apply of the manifest without replicas never conflicts with the operator, and a
    # label the tool changes stays changed (the operator does not own it)
    relabelled = _without_replicas(manifest)
    relabelled["metadata"]["labels"]["team"] = "fraud"
    kube.apply(relabelled, manager="argocd")
    assert _target(kube, "gitops")["metadata"]["labels"]["team"] == "fraud"
    # a manifest that sets replicas conflicts with the operator, named as the owner
    with pytest.raises(kubernetes.client.ApiException) as refused:
        kube.apply(manifest, manager="argocd")
    assert refused.value.status == 409
    assert 'conflict with \\"modelcanary\\"' in str(refused.value.body)


def test_a_reapplied_idle_target_is_scaled_back_to_zero(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    manifest = deployment("idle")
    kube.apply(manifest, manager="argocd")
    kube.create(rollout_doc("idle", prometheus=prom.url, interval="500ms"))
    with OperatorThread(kube.api_client):
        wait_for(lambda: _phase(kube, "idle") == "Initialized", "Initialized")
        wait_for(lambda: _target(kube, "idle")["spec"]["replicas"] == 0, "target idle")
        forced = kube.apply(manifest, manager="argocd", force=True)  # a sync: replicas 2
        # what the sync stored (a read after it races the operator scaling it back down)
        assert forced["spec"]["replicas"] == 2
        wait_for(lambda: _target(kube, "idle")["spec"]["replicas"] == 0, "target idle again")
        assert _phase(kube, "idle") == "Initialized"  # no rollout started: same revision

        def reasons() -> set[str]:
            return {
                e["reason"]
                for e in kube.list("v1", "Event", "default")
                if (e.get("involvedObject") or {}).get("name") == "idle"
            }

        wait_for(lambda: "TargetScaledDown" in reasons(), "a TargetScaledDown Event")
