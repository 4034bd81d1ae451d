"""The bundle's policy checks catch what they are for (so a green bundle test means something)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from bundle_objects import (
    OPERATOR,
    Obj,
    assert_hardened,
    assert_least_privilege,
    assert_no_cluster_wide_writes,
    kustomize,
    one,
    operator_container,
    validate,
)


@pytest.fixture(scope="module")
def bundle() -> list[Obj]:
    return kustomize(OPERATOR / "kustomize" / "overlays" / "cluster")


def _role(objects: list[Obj]) -> Obj:
    return one(objects, "ClusterRole", "modelcanary-operator")


def _pod(objects: list[Obj]) -> Obj:
    spec: Obj = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


RBAC_BREAKS: dict[str, Callable[[list[Obj]], Any]] = {
    "wildcard verb": lambda o: _role(o)["rules"][0]["verbs"].append("*"),
    "wildcard resource": lambda o: _role(o)["rules"][0]["resources"].append("*"),
    "wildcard group": lambda o: _role(o)["rules"][0]["apiGroups"].append("*"),
    "update verb": lambda o: _role(o)["rules"][0]["verbs"].append("update"),
    "escalate": lambda o: _role(o)["rules"].append(
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "verbs": ["escalate"],
        }
    ),
    "list secrets": lambda o: _role(o)["rules"].append(
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}
    ),
    "delete deployments": lambda o: _role(o)["rules"].append(
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["delete"]}
    ),
    "patch any rolebinding": lambda o: _role(o)["rules"].append(
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["rolebindings"],
            "verbs": ["get", "patch"],
        }
    ),
    "delete own rolebinding": lambda o: _role(o)["rules"].append(
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["rolebindings"],
            "resourceNames": ["modelcanary-operator"],
            "verbs": ["delete"],
        }
    ),
    "patch roles by name": lambda o: _role(o)["rules"].append(
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["roles"],
            "resourceNames": ["modelcanary-operator"],
            "verbs": ["patch"],
        }
    ),
    "named secrets": lambda o: _role(o)["rules"].append(
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["get"]}
    ),
    "non-resource URLs": lambda o: _role(o)["rules"].append(
        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}
    ),
}

POD_BREAKS: dict[str, Callable[[list[Obj]], Any]] = {
    "root user": lambda o: operator_container(o)["securityContext"].update(runAsUser=0),
    "writable root": lambda o: operator_container(o)["securityContext"].update(
        readOnlyRootFilesystem=False
    ),
    "escalation": lambda o: operator_container(o)["securityContext"].update(
        allowPrivilegeEscalation=True
    ),
    "capability": lambda o: operator_container(o)["securityContext"]["capabilities"].update(
        add=["NET_ADMIN"]
    ),
    "unconfined seccomp": lambda o: _pod(o)["securityContext"].update(
        seccompProfile={"type": "Unconfined"}
    ),
    "no limits": lambda o: operator_container(o)["resources"].pop("limits"),
    "no readiness": lambda o: operator_container(o).pop("readinessProbe"),
    "latest image": lambda o: operator_container(o).update(image="modelcanary/operator:latest"),
    "host network": lambda o: _pod(o).update(hostNetwork=True),
    "rolling update": lambda o: one(o, "Deployment")["spec"].update(
        strategy={"type": "RollingUpdate"}
    ),
}


def test_the_bundle_passes(bundle: list[Obj]) -> None:
    assert_least_privilege(bundle)
    assert_hardened(bundle)


@pytest.mark.parametrize("name", sorted(RBAC_BREAKS))
def test_least_privilege_catches(bundle: list[Obj], name: str) -> None:
    broken = copy.deepcopy(bundle)
    RBAC_BREAKS[name](broken)
    with pytest.raises((AssertionError, KeyError)):
        assert_least_privilege(broken)


@pytest.mark.parametrize("name", sorted(POD_BREAKS))
def test_hardening_catches(bundle: list[Obj], name: str) -> None:
    broken = copy.deepcopy(bundle)
    POD_BREAKS[name](broken)
    with pytest.raises((AssertionError, KeyError)):
        assert_hardened(broken)


def _namespaced() -> list[Obj]:
    return kustomize(OPERATOR / "kustomize" / "overlays" / "namespaced")


def _bind_cluster_wide(objects: list[Obj]) -> None:
    """The old default: the rules bound in every namespace."""
    role = one(objects, "ClusterRole", "modelcanary-operator-namespaced")
    objects.append({"kind": "ClusterRole", "metadata": {"name": "w"}, "rules": role["rules"]})
    objects.append(
        {
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "w"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "w",
            },
            "subjects": one(objects, "RoleBinding")["subjects"],
        }
    )


def _discovery(objects: list[Obj]) -> Obj:
    return one(objects, "ClusterRole", "modelcanary-operator-namespaced-discovery")


SCOPE_BREAKS: dict[str, Callable[[list[Obj]], Any]] = {
    "rules bound cluster-wide": _bind_cluster_wide,
    "secret write in discovery": lambda o: _discovery(o)["rules"].append(
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "patch"]}
    ),
    "deployment patch in discovery": lambda o: _discovery(o)["rules"].append(
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}
    ),
}


@pytest.mark.parametrize("name", sorted(SCOPE_BREAKS))
def test_namespace_scoping_catches(name: str) -> None:
    objects = _namespaced()
    assert_no_cluster_wide_writes(objects)
    SCOPE_BREAKS[name](objects)
    with pytest.raises(AssertionError, match="cluster-wide writes"):
        assert_no_cluster_wide_writes(objects)


def test_validation_catches_a_typo(bundle: list[Obj]) -> None:
    broken = copy.deepcopy(one(bundle, "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(AssertionError, match="invalid"):
        validate(broken)
    peering = copy.deepcopy(one(bundle, "ClusterKopfPeering"))
    peering["status"] = "up"
    with pytest.raises(AssertionError, match="status"):
        validate(peering)
