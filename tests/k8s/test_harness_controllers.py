"""The kmock harness behaves as a cluster where issue 14's defects live: the garbage collector
(cascading deletion by ownerReferences) and the namespace controller (tests/kube_controllers.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import kubernetes.client
import pytest
from kube_fixtures import KubeApi

RBAC = "rbac.authorization.k8s.io/v1"


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``check`` (the controller runs in the API's loop); a generous bound, no timing."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def cm(name: str, namespace: str = "default", **meta: object) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, **meta},
    }


def owned_by(owner: dict[str, object]) -> list[dict[str, object]]:
    meta = owner["metadata"]
    assert isinstance(meta, dict)
    return [{"apiVersion": "v1", "kind": "ConfigMap", "name": meta["name"], "uid": meta["uid"]}]


def test_deleting_an_owner_collects_its_dependents(kube: KubeApi) -> None:
    owner = kube.create(cm("owner"))
    child = kube.create(cm("child", ownerReferences=owned_by(owner)))
    kube.create(cm("grandchild", ownerReferences=owned_by(child)))
    kube.create(cm("held", ownerReferences=owned_by(owner), finalizers=["example.com/hold"]))
    made_up = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "never-stored"}]
    kube.create(cm("orphan", ownerReferences=made_up))
    kube.create(cm("bystander"))
    kube.delete("v1", "ConfigMap", "default", "owner")
    assert kube.names("v1", "ConfigMap", "default") == ["bystander", "held", "orphan"]
    held = kube.get("v1", "ConfigMap", "default", "held")
    assert held is not None and held["metadata"]["deletionTimestamp"]  # marked, not removed
    kube.patch("v1", "ConfigMap", "default", "held", {"metadata": {"finalizers": None}})
    assert kube.names("v1", "ConfigMap", "default") == ["bystander", "orphan"]
    kube.reset()


def test_a_deleted_namespace_terminates_rbac_first_and_refuses_new_content(kube: KubeApi) -> None:
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}})
    kube.create(
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": "operator", "namespace": "doomed"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
            "subjects": [],
        }
    )
    kube.create(cm("held", "doomed", finalizers=["example.com/hold"]))
    kube.delete("v1", "Namespace", None, "doomed")
    namespace = kube.get("v1", "Namespace", None, "doomed")
    assert namespace is not None and namespace["status"]["phase"] == "Terminating"
    wait_until(lambda: kube.names(RBAC, "RoleBinding", "doomed") == [], "RBAC removed")
    with pytest.raises(kubernetes.client.ApiException) as refused:
        kube.create(cm("late", "doomed"))
    assert refused.value.status == 403 and "being terminated" in str(refused.value.body)
    # held by the finalizer: the namespace waits for it, as a real one does
    assert kube.get("v1", "Namespace", None, "doomed") is not None
    kube.patch("v1", "ConfigMap", "doomed", "held", {"metadata": {"finalizers": None}})
    wait_until(lambda: kube.get("v1", "Namespace", None, "doomed") is None, "namespace gone")
