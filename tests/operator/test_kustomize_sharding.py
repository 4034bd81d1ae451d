"""The kustomize sharding component (operator/kustomize/components/sharding, and the
overlays/sharded overlay that adds it to the namespaced one) renders what the chart renders
with ``sharding.enabled: true``: the replicas, the operator's arguments (no kopf peering) and
environment, and the Lease RBAC in the operator's namespace only.

Rendered with the real kustomize (``kubectl kustomize``) and Helm's engine, as the other
bundle tests (bundle_objects.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bundle_objects import (
    OPERATOR,
    Obj,
    assert_hardened,
    assert_least_privilege,
    assert_no_cluster_wide_writes,
    by_kind,
    grants,
    helm_render,
    kustomize,
    one,
    operator_container,
    validate,
)
from rbac_authz import Call, operator_authorizer

from modelcanary.controller._operator import OperatorOptions, options_from_env

KUSTOMIZE = OPERATOR / "kustomize"
NAMESPACE = "modelcanary-system"
SHARDING_ENV = (
    "MODELCANARY_SHARDING",
    "MODELCANARY_LEASE_SECONDS",
    "MODELCANARY_TICK_WORKERS",
)


@pytest.fixture(scope="module")
def sharded() -> list[Obj]:
    return kustomize(KUSTOMIZE / "overlays" / "sharded")


@pytest.fixture(scope="module")
def helm_sharded() -> list[Obj]:
    return helm_render(
        {"sharding": {"enabled": True}, "replicaCount": 3}, name="modelcanary", namespace=NAMESPACE
    )


def _env(objects: list[Obj]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in operator_container(objects)["env"]}


def _lease_roles(objects: list[Obj]) -> list[Obj]:
    return [
        role
        for role in by_kind(objects, "Role")
        if any("leases" in rule.get("resources", []) for rule in role["rules"])
    ]


def test_the_overlay_validates_and_stays_least_privilege(sharded: list[Obj]) -> None:
    for obj in sharded:
        validate(obj)
    assert_least_privilege(sharded)
    assert_hardened(sharded)
    assert_no_cluster_wide_writes(sharded)
    for obj in sharded:
        if obj["kind"] in ("Role", "RoleBinding", "Deployment"):
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]["name"]
            assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "modelcanary"


def test_replicas_and_arguments_equal_the_chart(
    sharded: list[Obj], helm_sharded: list[Obj]
) -> None:
    assert one(sharded, "Deployment")["spec"]["replicas"] == 3
    assert one(helm_sharded, "Deployment")["spec"]["replicas"] == 3

    def args(objects: list[Obj]) -> list[str]:
        # the scope argument is spelled differently ($(POD_NAMESPACE) vs the release's)
        return [a for a in operator_container(objects)["args"] if not a.startswith("--namespace")]

    assert args(sharded) == args(helm_sharded)
    assert not [a for a in args(sharded) if a.startswith("--peering")]
    assert "--namespace=$(POD_NAMESPACE)" in operator_container(sharded)["args"]


def test_environment_equals_the_chart(sharded: list[Obj], helm_sharded: list[Obj]) -> None:
    mine, chart = _env(sharded), _env(helm_sharded)
    for name in SHARDING_ENV:
        assert mine[name] == chart[name], name
    # one shard group per install, named after its Deployment in both
    assert mine["MODELCANARY_SHARD_GROUP"] == one(sharded, "Deployment")["metadata"]["name"]
    assert chart["MODELCANARY_SHARD_GROUP"] == one(helm_sharded, "Deployment")["metadata"]["name"]
    # what the operator makes of it (the pod's environment, as `operator run` reads it)
    options = options_from_env(OperatorOptions(), mine)
    assert options.sharding is True
    assert options.lease_seconds == 15.0 and options.workers == 16
    assert options.shard_group == "modelcanary-operator"


def test_lease_rbac_equals_the_chart(sharded: list[Obj], helm_sharded: list[Obj]) -> None:
    (mine,) = _lease_roles(sharded)
    (chart,) = _lease_roles(helm_sharded)
    assert grants(mine["rules"]) == grants(chart["rules"])
    assert mine["metadata"]["namespace"] == one(sharded, "Deployment")["metadata"]["namespace"]
    binding = one(sharded, "RoleBinding", "modelcanary-operator-shards")
    assert binding["roleRef"]["name"] == mine["metadata"]["name"]
    # enforced as the API server would: Leases in the operator's namespace, nowhere else
    authorizer = operator_authorizer(sharded)
    for verb in ("get", "list", "watch", "create", "patch", "delete"):
        assert authorizer.allows(Call(verb, "coordination.k8s.io", "leases", NAMESPACE, "x"))
    for namespace in (None, "default", "kube-system"):
        assert not authorizer.allows(Call("create", "coordination.k8s.io", "leases", namespace))
    # without the component: no Lease right, kopf peering on
    plain = kustomize(KUSTOMIZE / "overlays" / "namespaced")
    assert not _lease_roles(plain)
    assert "--peering=modelcanary" in operator_container(plain)["args"]
    assert "MODELCANARY_SHARDING" not in _env(plain)


def test_the_component_fits_the_cluster_overlay(tmp_path: Path) -> None:
    """The component on the cluster overlay too (a user's overlay next to the repository)."""
    (tmp_path / "operator").symlink_to(OPERATOR)
    overlay = tmp_path / "mine"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "resources: [../operator/kustomize/overlays/cluster]\n"
        "components: [../operator/kustomize/components/sharding]\n"
    )
    objects = kustomize(overlay)
    container = operator_container(objects)
    assert container["args"][:3] == ["operator", "run", "--all-namespaces"]
    assert not [a for a in container["args"] if a.startswith("--peering")]
    assert _env(objects)["MODELCANARY_SHARDING"] == "true"
    (role,) = _lease_roles(objects)
    assert role["metadata"]["namespace"] == NAMESPACE
