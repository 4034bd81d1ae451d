"""The chart's sharding values: off by default (no Lease rights, kopf peering on); on, every
replica gets the sharding environment, no --peering, and a Role for Leases in the release
namespace only."""

from __future__ import annotations

from typing import Any

from bundle_objects import helm_render

Obj = dict[str, Any]


def _container(objects: list[Obj]) -> Obj:
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    return dict(deployment["spec"]["template"]["spec"]["containers"][0])


def _lease_rules(objects: list[Obj]) -> list[Obj]:
    return [
        rule
        for o in objects
        if o["kind"] in ("Role", "ClusterRole")
        for rule in o.get("rules") or []
        if "leases" in rule.get("resources", [])
    ]


def test_sharding_is_off_by_default() -> None:
    objects = helm_render()
    env = {e["name"] for e in _container(objects)["env"]}
    assert "MODELCANARY_SHARDING" not in env
    assert any(a.startswith("--peering=") for a in _container(objects)["args"])
    assert _lease_rules(objects) == []


def test_sharding_on_sets_the_replicas_env_and_lease_rbac() -> None:
    objects = helm_render({"sharding": {"enabled": True, "leaseSeconds": 20}, "replicaCount": 3})
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3
    container = _container(objects)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MODELCANARY_SHARDING"] == "true"
    assert env["MODELCANARY_LEASE_SECONDS"] == "20"
    assert env["MODELCANARY_SHARD_GROUP"]
    assert "POD_NAME" in env and "POD_NAMESPACE" in env
    assert not any(a.startswith("--peering=") for a in container["args"])
    roles = [
        o for o in objects if o["kind"] == "Role" and o["metadata"]["name"].endswith("-shards")
    ]
    assert len(roles) == 1
    assert roles[0]["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert _lease_rules(objects) == roles[0]["rules"]
    assert set(roles[0]["rules"][0]["verbs"]) >= {"get", "list", "create", "patch", "delete"}
    bindings = [
        o
        for o in objects
        if o["kind"] == "RoleBinding" and o["metadata"]["name"].endswith("-shards")
    ]
    assert bindings and bindings[0]["roleRef"]["name"] == roles[0]["metadata"]["name"]
