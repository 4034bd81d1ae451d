"""KubeObjectStore: create, drift correction (3-way like kubectl apply), delete, owners."""

from __future__ import annotations

from typing import Any

import pytest
from k8s_objects import target_rollout, validate
from kube_fixtures import KubeApi

from modelcanary.errors import ConflictError
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._objects import LAST_APPLIED, KubeObjectStore, contains, removals
from modelcanary.ports import ObjectStore

VS = ("networking.istio.io/v1beta1", "VirtualService", "default", "podinfo")


def virtual_service(weight: int, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": "podinfo", "namespace": "default", "labels": {"team": "ml"}},
        "spec": {
            "hosts": ["podinfo"],
            "http": [
                {
                    "route": [
                        {"destination": {"host": "podinfo-primary"}, "weight": 100 - weight},
                        {"destination": {"host": "podinfo-canary"}, "weight": weight},
                    ]
                }
            ],
            **extra,
        },
    }


def service(name: str = "web", port: int = 80) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"app": name}, "ports": [{"port": port, "targetPort": 8080}]},
    }


def test_it_is_an_object_store(client: KubeClient) -> None:
    assert isinstance(KubeObjectStore(client), ObjectStore)


def test_apply_creates_then_is_idempotent(kube: KubeApi, client: KubeClient) -> None:
    store = KubeObjectStore(client)
    created = store.apply(virtual_service(10))
    assert created["spec"]["http"][0]["route"][1]["weight"] == 10
    assert created["metadata"]["labels"] == {"team": "ml"}  # labels as given
    writes = len([r for r in kube.requests() if r[0] in ("POST", "PATCH")])
    again = store.apply(virtual_service(10))
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert len([r for r in kube.requests() if r[0] in ("POST", "PATCH")]) == writes
    assert store.get(*VS) == kube.get(*VS)


def test_apply_patches_a_change_and_corrects_drift(kube: KubeApi, client: KubeClient) -> None:
    store = KubeObjectStore(client)
    store.apply(virtual_service(10))
    store.apply(virtual_service(50))
    assert kube.get(*VS)["spec"]["http"][0]["route"][1]["weight"] == 50
    # someone edits the object by hand: weights and a label
    kube.patch(*VS, {"metadata": {"labels": {"team": "other"}}, "spec": {"hosts": ["evil"]}})
    store.apply(virtual_service(50))
    stored = kube.get(*VS)
    assert stored["spec"]["hosts"] == ["podinfo"]
    assert stored["metadata"]["labels"]["team"] == "ml"


def test_fields_removed_from_the_desired_object_are_removed(
    kube: KubeApi, client: KubeClient
) -> None:
    store = KubeObjectStore(client)
    store.apply(virtual_service(10, gateways=["mesh"], exportTo=["."]))
    kube.patch(*VS, {"spec": {"tcp": [{"route": []}]}})  # someone else's field: kept
    store.apply(virtual_service(10, exportTo=["."]))
    spec = kube.get(*VS)["spec"]
    assert "gateways" not in spec and spec["exportTo"] == ["."] and spec["tcp"] == [{"route": []}]


def test_server_defaults_are_not_drift(kube: KubeApi, client: KubeClient) -> None:
    store = KubeObjectStore(client)
    store.apply(service())
    # the API server defaults fields we never set (type, clusterIP, protocol...)
    kube.patch(
        "v1",
        "Service",
        "default",
        "web",
        {"spec": {"type": "ClusterIP", "clusterIP": "10.0.0.7", "sessionAffinity": "None"}},
    )
    before = kube.get("v1", "Service", "default", "web")
    after = store.apply(service())
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    validate(after)


def test_unmanaged_labels_stay_and_dropped_ones_go(kube: KubeApi, client: KubeClient) -> None:
    store = KubeObjectStore(client)
    first = service()
    first["metadata"]["labels"] = {"a": "1", "b": "2"}
    store.apply(first)
    kube.patch("v1", "Service", "default", "web", {"metadata": {"labels": {"other": "x"}}})
    first["metadata"]["labels"] = {"a": "1"}
    store.apply(first)
    labels = kube.get("v1", "Service", "default", "web")["metadata"]["labels"]
    assert labels == {"a": "1", "other": "x"}


def test_delete_is_idempotent(kube: KubeApi, client: KubeClient) -> None:
    store = KubeObjectStore(client)
    store.apply(virtual_service(0))
    store.delete(*VS)
    store.delete(*VS)
    assert kube.get(*VS) is None and store.get(*VS) is None


def test_owner_references_from_the_rollout_or_the_object(kube: KubeApi, client: KubeClient) -> None:
    store = KubeObjectStore(client)
    rollout = target_rollout(uid="1234")
    owned = store.apply(service("explicit"), owner=rollout)
    assert owned["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "modelcanary"}
    assert owned["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "modelcanary.io/v1alpha1",
            "kind": "ModelRollout",
            "name": "podinfo",
            "uid": "1234",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    rendered = service("rendered")  # a router renders its own ownerReferences
    rendered["metadata"]["ownerReferences"] = [{**owned["metadata"]["ownerReferences"][0]}]
    rendered["metadata"]["labels"] = {"modelcanary.io/rollout": "podinfo"}
    assert store.apply(rendered)["metadata"]["ownerReferences"][0]["uid"] == "1234"
    adopted = service("adopted")  # labelled but without owner: stays unowned
    adopted["metadata"]["labels"] = {"modelcanary.io/rollout": "podinfo"}
    assert "ownerReferences" not in store.apply(adopted)["metadata"]
    validate(kube.get("v1", "Service", "default", "rendered"))


def test_a_concurrent_create_becomes_a_patch(kube: KubeApi, client: KubeClient) -> None:
    class Racing(KubeClient):
        """Another writer creates the object between our get and our create."""

        def create(self, obj: dict[str, Any]) -> dict[str, Any]:
            other = virtual_service(99)
            kube.create(other)
            return super().create(obj)

    store = KubeObjectStore(Racing(client.api))
    result = store.apply(virtual_service(20))
    assert result["spec"]["http"][0]["route"][1]["weight"] == 20
    with pytest.raises(ConflictError):
        client.create(virtual_service(1))


def test_last_applied_is_recorded(kube: KubeApi, client: KubeClient) -> None:
    KubeObjectStore(client).apply(virtual_service(5))
    assert '"weight":5' in kube.get(*VS)["metadata"]["annotations"][LAST_APPLIED]


def test_contains_and_removals() -> None:
    assert contains({"a": 1, "b": [{"c": 1, "d": 2}]}, {"b": [{"c": 1}]})
    assert not contains({"b": [{"c": 1}, {"c": 2}]}, {"b": [{"c": 1}]})
    assert not contains({"a": {"b": 1}}, {"a": {"b": 2}})
    assert removals({"a": 1, "b": {"c": 1, "d": 2}}, {"b": {"c": 1}}) == {
        "a": None,
        "b": {"d": None},
    }
