"""``controller._rbac_hold``: the operator's RoleBinding held while a rollout needs it, against
the kmock API (its namespace controller honours finalizers on RBAC objects, and the RBAC
enforcement reads the bindings as stored: a binding marked for deletion still authorizes).

The decisions, one API state each: held while a rollout carries ``modelcanary.io/finalizer``;
released when none does; released at once when the binding is deleted outside a namespace
deletion (an uninstall); kept through a namespace deletion until the last rollout is released.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kube_fixtures import KubeApi, kube_api
from polling import until as poll_until
from rbac_authz import Guard

from modelcanary.controller._rbac_hold import HOLD, RbacHold, namespace_terminating
from modelcanary.k8s._client import KubeClient

NS, OTHER = "ml", "other"
RBAC_API, ROLLOUT_API = "rbac.authorization.k8s.io/v1", "modelcanary.io/v1alpha1"
BINDING = "modelcanary-operator"
FINALIZER = "modelcanary.io/finalizer"
TOKEN = "hold-test-token"
OPERATOR_SA = {"kind": "ServiceAccount", "name": "op", "namespace": "sys"}


@pytest.fixture()
def kube() -> Iterator[KubeApi]:
    with kube_api(namespaces=("sys", NS, OTHER), crds=()) as api:
        yield api


def until(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    return poll_until(check, what, timeout, interval=0.05)


def rbac_objects() -> list[dict[str, Any]]:
    """A namespaced install's RBAC as the chart makes it: the rules in a ClusterRole (here:
    rollouts, and its own binding by name), bound by one RoleBinding in ``NS``."""
    rules = [
        {
            "apiGroups": ["modelcanary.io"],
            "resources": ["modelrollouts"],
            "verbs": ["get", "list", "patch"],
        },
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["rolebindings"],
            "resourceNames": [BINDING],
            "verbs": ["get", "patch"],
        },
    ]
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "op", "namespace": "sys"},
            "spec": {"template": {"spec": {"serviceAccountName": "op"}}},
        },
        {
            "apiVersion": RBAC_API,
            "kind": "ClusterRole",
            "metadata": {"name": "op-rules"},
            "rules": rules,
        },
        {
            "apiVersion": RBAC_API,
            "kind": "ClusterRole",
            "metadata": {"name": "op-discovery"},
            "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}],
        },
        {
            "apiVersion": RBAC_API,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "op-discovery"},
            "subjects": [OPERATOR_SA],
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "op-discovery",
            },
        },
        {
            "apiVersion": RBAC_API,
            "kind": "RoleBinding",
            "metadata": {"name": BINDING, "namespace": NS, "finalizers": ["example.com/keep"]},
            "subjects": [OPERATOR_SA],
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "op-rules",
            },
        },
    ]


def operator_client(kube: KubeApi) -> KubeClient:
    """A KubeClient sending the operator's token (its requests go through the Guard)."""
    import kubernetes.client

    config = kubernetes.client.Configuration()
    config.host = kube.url
    config.api_key = {"authorization": TOKEN}
    config.api_key_prefix = {"authorization": "Bearer"}
    return KubeClient(kubernetes.client.ApiClient(config))


def rollout(kube: KubeApi, name: str, *, reverts: bool) -> None:
    kube.create(
        {
            "apiVersion": ROLLOUT_API,
            "kind": "ModelRollout",
            "metadata": {
                "name": name,
                "namespace": NS,
                **({"finalizers": [FINALIZER]} if reverts else {}),
            },
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}},
        }
    )


def finalizers(kube: KubeApi) -> list[str] | None:
    """The binding's finalizers (None: the binding is gone)."""
    found = kube.get(RBAC_API, "RoleBinding", NS, BINDING)
    return None if found is None else list(found["metadata"].get("finalizers") or [])


def release_rollout(kube: KubeApi, name: str) -> None:
    kube.patch(ROLLOUT_API, "ModelRollout", NS, name, {"metadata": {"finalizers": None}})


@pytest.fixture()
def setup(kube: KubeApi) -> Iterator[tuple[KubeApi, RbacHold, Guard]]:
    objects = rbac_objects()
    guard = Guard(kube, objects, TOKEN, live=True)
    client = operator_client(kube)
    try:
        yield kube, RbacHold(client, BINDING), guard
    finally:
        guard.close()
        client.api.close()


def test_held_while_a_rollout_needs_it_then_released(
    setup: tuple[KubeApi, RbacHold, Guard],
) -> None:
    kube, hold, guard = setup
    rollout(kube, "plain", reverts=False)
    assert hold.sync(NS) == "kept"  # no rollout with revertOnDeletion: nothing to hold
    assert finalizers(kube) == ["example.com/keep"]
    rollout(kube, "fraud", reverts=True)
    assert hold.sync(NS) == "held"
    assert finalizers(kube) == ["example.com/keep", HOLD]  # another owner's finalizer kept
    assert hold.sync(NS) == "kept"
    release_rollout(kube, "fraud")
    assert hold.sync(NS) == "released"
    assert finalizers(kube) == ["example.com/keep"]
    assert guard.refused() == []


def test_an_uninstall_is_not_held(setup: tuple[KubeApi, RbacHold, Guard]) -> None:
    """The binding deleted while its namespace lives (helm uninstall, a revocation): let go
    at once, although a rollout still carries its finalizer."""
    kube, hold, _ = setup
    rollout(kube, "fraud", reverts=True)
    assert hold.sync(NS) == "held"
    kube.patch(RBAC_API, "RoleBinding", NS, BINDING, {"metadata": {"finalizers": [HOLD]}})
    kube.delete(RBAC_API, "RoleBinding", NS, BINDING)
    assert finalizers(kube) == [HOLD]  # marked, held
    assert hold.sync(NS) == "released"
    assert finalizers(kube) is None  # gone


def test_a_namespace_deletion_waits_for_the_release(
    setup: tuple[KubeApi, RbacHold, Guard],
) -> None:
    """The namespace controller marks the binding first: it still authorizes (marked, not
    gone), is kept while a rollout carries its finalizer, and is released after; then the
    namespace goes, and only then are the operator's requests there refused."""
    kube, hold, guard = setup
    kube.patch(RBAC_API, "RoleBinding", NS, BINDING, {"metadata": {"finalizers": None}})
    rollout(kube, "fraud", reverts=True)
    assert hold.sync(NS) == "held"
    assert not namespace_terminating(hold.client, NS)
    kube.delete("v1", "Namespace", None, NS)
    until(
        lambda: (kube.get("v1", "Namespace", None, NS) or {}).get("status", {}).get("conditions"),
        "the namespace controller's conditions",
    )
    assert namespace_terminating(hold.client, NS)
    journal = kube.namespace_deletions()
    assert journal[0] == ("rolebindings", NS, BINDING, "marked")
    assert hold.sync(NS) == "kept"  # the rollout still needs it
    # the operator releases its rollout: allowed, the marked binding still authorizes
    hold.client.patch(_rollout_ref("fraud"), {"metadata": {"finalizers": None}})
    namespace = kube.get("v1", "Namespace", None, NS)
    assert namespace is not None
    conditions = {c["type"]: c["status"] for c in namespace["status"]["conditions"]}
    assert conditions["NamespaceContentRemaining"] == "True"
    assert conditions["NamespaceFinalizersRemaining"] == "True"
    assert hold.sync(NS) == "released"
    until(lambda: kube.get("v1", "Namespace", None, NS) is None, "the namespace gone")
    assert namespace_terminating(hold.client, NS)  # gone counts as terminating
    assert guard.refused() == []
    # now the binding is really gone: refused
    with pytest.raises(Exception, match="403"):
        hold.client.list(_rollout_ref(""))


def _rollout_ref(name: str) -> Any:
    from modelcanary.k8s._client import Ref

    return Ref(ROLLOUT_API, "ModelRollout", NS, name)


def test_a_namespace_not_watched_is_quiet(setup: tuple[KubeApi, RbacHold, Guard]) -> None:
    """A terminating namespace the operator has no binding in: a refused read, no change."""
    _, hold, guard = setup
    result = hold.sync(OTHER, quiet=True)
    assert result.startswith("failed") and "403" in result
    assert [c.namespace for c in guard.refused()] == [OTHER]
