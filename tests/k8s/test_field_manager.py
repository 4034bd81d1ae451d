"""Field manager ``modelcanary`` on every write, and server-side apply (issue 14, item 3.5).

Against a real API server a write without ``?fieldManager=`` is filed in ``managedFields``
under the client's User-Agent (``OpenAPI-Generator``), so nobody can tell which fields the
operator owns, and a GitOps tool's server-side apply conflicts with an anonymous manager. The
kmock harness records managedFields per manager as the server does (tests/kube_managed_fields.py).
"""

from __future__ import annotations

import kubernetes.client
import pytest
from k8s_objects import ANALYSIS
from kube_fixtures import KubeApi
from kube_managed_fields import managers

from modelcanary.errors import ConflictError
from modelcanary.k8s import KubeClient, KubeEvents, KubeStatusStore, Ref, rollout_from_object
from modelcanary.k8s._client import FIELD_MANAGER
from modelcanary.spec import RolloutStatus

DEPLOY = Ref("apps/v1", "Deployment", "default", "podinfo")


def deployment(replicas: int = 3) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "podinfo", "namespace": "default", "labels": {"app": "podinfo"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "podinfo"}},
            "template": {"metadata": {"labels": {"app": "podinfo"}}},
        },
    }


def test_harness_files_an_anonymous_write_under_the_user_agent(kube: KubeApi) -> None:
    """What the real server showed: the Python client without fieldManager = OpenAPI-Generator."""
    apps = kubernetes.client.AppsV1Api(kube.api_client)
    apps.create_namespaced_deployment("default", deployment())
    stored = kube.get("apps/v1", "Deployment", "default", "podinfo")
    assert stored is not None
    entry = stored["metadata"]["managedFields"][0]
    assert entry["manager"] == "OpenAPI-Generator"
    assert entry["operation"] == "Update"
    assert entry["apiVersion"] == "apps/v1"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"]["f:spec"]["f:replicas"] == {}
    kube.reset()


def test_every_write_names_the_modelcanary_field_manager(kube: KubeApi, client: KubeClient) -> None:
    rollout = {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "fm", "namespace": "default"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "router": {"provider": "istio"},
            "service": {"port": 80},
            "analysis": ANALYSIS,
        },
    }
    before = len(kube.queries())
    client.create(deployment())
    client.patch(DEPLOY, {"spec": {"replicas": 0}})
    client.patch(DEPLOY, [{"op": "replace", "path": "/spec/replicas", "value": 1}])
    client.apply_server_side(
        {**deployment(), "metadata": {"name": "other", "namespace": "default"}}
    )
    stored = client.create(rollout)
    status_store = KubeStatusStore(client)
    found = status_store.get("fm", "default")
    assert found is not None
    status_store.save_status("fm", "default", RolloutStatus(message="hello"), found.version)
    KubeEvents(client).emit(rollout_from_object(stored), "Test", "an event")
    client.delete(DEPLOY)
    writes = [q for q in kube.queries()[before:] if q[0] in ("POST", "PATCH", "DELETE")]
    assert len(writes) == 8
    for method, path, params in writes:
        if method == "DELETE":
            assert "fieldManager" not in params, path  # the API takes none on DELETE
        else:
            assert params.get("fieldManager") == FIELD_MANAGER == "modelcanary", (method, path)
    owners = managers(kube.get("modelcanary.io/v1alpha1", "ModelRollout", "default", "fm") or {})
    assert set(owners) == {"modelcanary"}
    assert ".status.message" in owners["modelcanary"]


def test_apply_server_side_creates_then_merges(kube: KubeApi, client: KubeClient) -> None:
    created = client.apply_server_side(deployment(2))
    assert created["metadata"]["uid"]
    assert created["metadata"]["managedFields"][0]["operation"] == "Apply"
    assert managers(created) == {
        "modelcanary": {
            ".metadata.labels.app",
            ".spec.replicas",
            ".spec.selector.matchLabels.app",
            ".spec.template.metadata.labels.app",
        }
    }
    merged = client.apply_server_side(
        {**deployment(2), "metadata": {**deployment()["metadata"], "annotations": {"a": "b"}}}  # type: ignore[dict-item]
    )
    assert merged["metadata"]["annotations"] == {"a": "b"}
    assert merged["metadata"]["uid"] == created["metadata"]["uid"]
    assert merged["spec"]["replicas"] == 2


def test_apply_conflicts_only_with_a_field_another_manager_set(
    kube: KubeApi, client: KubeClient
) -> None:
    """A GitOps tool owns the Deployment; the operator owns only .spec.replicas it changed."""
    kube.apply(deployment(3), manager="argocd")
    client.patch(DEPLOY, {"spec": {"replicas": 0}})
    owners = managers(kube.get("apps/v1", "Deployment", "default", "podinfo") or {})
    assert owners["modelcanary"] == {".spec.replicas"}
    assert ".spec.replicas" not in owners["argocd"]
    # re-applying the same manifest without replicas never conflicts with the operator
    no_replicas = deployment()
    del no_replicas["spec"]["replicas"]  # type: ignore[attr-defined]
    kube.apply(no_replicas, manager="argocd")
    # the operator's own apply of a field argocd owns with another value is refused ...
    with pytest.raises(ConflictError, match=r'conflict with "argocd" .*\.metadata\.labels\.app'):
        client.apply_server_side(
            {**deployment(), "metadata": {"name": "podinfo", "labels": {"app": "x"}}},
            force=False,
        )
    # ... and taken over with force
    forced = client.apply_server_side(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "podinfo", "namespace": "default", "labels": {"app": "x"}},
        },
        force=True,
    )
    assert forced["metadata"]["labels"]["app"] == "x"
    assert ".metadata.labels.app" not in managers(forced)["argocd"]
