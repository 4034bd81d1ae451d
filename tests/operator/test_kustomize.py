"""The kustomize bundle builds with real kustomize, validates, and is least privilege."""

from __future__ import annotations

from pathlib import Path

import pytest
from bundle_objects import (
    CLUSTER_SCOPED,
    OPERATOR,
    Obj,
    assert_hardened,
    assert_least_privilege,
    assert_no_cluster_wide_writes,
    by_kind,
    cluster_wide_writes,
    documents,
    grants,
    kustomize,
    one,
    operator_container,
    own_binding_grants,
    own_binding_names,
    rbac_source,
    validate,
)

KUSTOMIZE = OPERATOR / "kustomize"
OVERLAYS = {
    "cluster": KUSTOMIZE / "overlays" / "cluster",
    "namespaced": KUSTOMIZE / "overlays" / "namespaced",
}
NAMESPACE = "modelcanary-system"


@pytest.fixture(scope="module")
def built() -> dict[str, list[Obj]]:
    return {name: kustomize(path) for name, path in OVERLAYS.items()} | {
        "base": kustomize(KUSTOMIZE / "base")
    }


@pytest.mark.parametrize("name", ["base", "cluster", "namespaced"])
def test_every_object_validates(built: dict[str, list[Obj]], name: str) -> None:
    objects = built[name]
    assert len(objects) >= 7
    for obj in objects:
        validate(obj)


def test_plain_manifest_files_validate_one_by_one() -> None:
    files = sorted(KUSTOMIZE.rglob("*.yaml")) + sorted((OPERATOR / "crds").glob("*.yaml"))
    checked = 0
    for file in files:
        if file.name == "kustomization.yaml":
            continue
        for obj in documents(file.read_text()):
            validate(obj)
            checked += 1
    assert checked >= 12


@pytest.mark.parametrize("name", ["cluster", "namespaced"])
def test_namespaces_are_set_where_they_belong(built: dict[str, list[Obj]], name: str) -> None:
    for obj in built[name]:
        namespace = obj["metadata"].get("namespace")
        if obj["kind"] in CLUSTER_SCOPED:
            assert namespace is None, f"{obj['kind']} is cluster-scoped but has {namespace}"
        else:
            assert namespace == NAMESPACE, f"{obj['kind']}/{obj['metadata']['name']}"
    for binding in by_kind(built[name], "ClusterRoleBinding") + by_kind(built[name], "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "modelcanary-operator", "namespace": NAMESPACE}
        ]


def test_bundle_holds_the_crds(built: dict[str, list[Obj]]) -> None:
    names = {c["metadata"]["name"] for c in by_kind(built["cluster"], "CustomResourceDefinition")}
    assert names == {
        "modelrollouts.modelcanary.io",
        "kopfpeerings.kopf.dev",
        "clusterkopfpeerings.kopf.dev",
    }


def test_scope_arguments(built: dict[str, list[Obj]]) -> None:
    cluster = operator_container(built["cluster"])["args"]
    namespaced = operator_container(built["namespaced"])["args"]
    assert cluster[:3] == ["operator", "run", "--all-namespaces"]
    assert namespaced[:3] == ["operator", "run", "--namespace=$(POD_NAMESPACE)"]
    for args in (cluster, namespaced):
        assert "--liveness=http://0.0.0.0:8080/healthz" in args
        assert "--peering=modelcanary" in args
    env = {e["name"]: e for e in operator_container(built["namespaced"])["env"]}
    # $(POD_NAMESPACE) is expanded by the kubelet from the downward API
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert one(built["cluster"], "ClusterKopfPeering")["metadata"]["name"] == "modelcanary"
    assert one(built["namespaced"], "KopfPeering")["metadata"]["namespace"] == NAMESPACE


def _expected_rules(peering: str) -> set[tuple[str, str, str]]:
    source = rbac_source()
    rules = source["core"] + source["secretCopies"]
    rules += [rule for router in source["routers"].values() for rule in router]
    rules.append(
        {"apiGroups": ["kopf.dev"], "resources": [peering], "verbs": source["peering"]["verbs"]}
    )
    own = own_binding_grants() if peering == "kopfpeerings" else set()
    return grants(rules) | own


def test_cluster_rbac_equals_the_rules_source(built: dict[str, list[Obj]]) -> None:
    role = one(built["cluster"], "ClusterRole", "modelcanary-operator")
    assert grants(role["rules"]) == _expected_rules("clusterkopfpeerings")
    assert not by_kind(built["cluster"], "Role")


def test_namespaced_rbac_binds_a_cluster_role_with_the_same_rules(
    built: dict[str, list[Obj]],
) -> None:
    """The rules are a ClusterRole (it grants nothing by itself) bound by one RoleBinding in
    the operator's namespace: no Role there, which the namespace's deletion could remove
    before the operator released its rollouts (only the binding is held, by name)."""
    assert not by_kind(built["namespaced"], "Role")
    role = one(built["namespaced"], "ClusterRole", "modelcanary-operator-namespaced")
    assert grants(role["rules"]) == _expected_rules("kopfpeerings")
    binding = one(built["namespaced"], "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "modelcanary-operator-namespaced",
    }
    env = {e["name"]: e.get("value") for e in operator_container(built["namespaced"])["env"]}
    assert env["MODELCANARY_RBAC_BINDING"] == binding["metadata"]["name"]
    assert own_binding_names(role) == [binding["metadata"]["name"]]
    env = {e["name"] for e in operator_container(built["cluster"])["env"]}
    assert "MODELCANARY_RBAC_BINDING" not in env
    # the only cluster-wide grant of a namespaced operator: kopf's read-only discovery
    assert_no_cluster_wide_writes(built["namespaced"])
    discovery = one(built["namespaced"], "ClusterRole", "modelcanary-operator-namespaced-discovery")
    assert grants(discovery["rules"]) == {
        ("apiextensions.k8s.io", "customresourcedefinitions", verb)
        for verb in ("get", "list", "watch")
    } | {("", "namespaces", verb) for verb in ("get", "list", "watch")}


def test_the_base_grants_nothing(built: dict[str, list[Obj]]) -> None:
    """RBAC lives in the overlays, each with names of its own."""
    kinds = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    assert not [o for o in built["base"] if o["kind"] in kinds]


def test_the_overlays_share_no_binding(built: dict[str, list[Obj]]) -> None:
    """Both overlays installed (the namespaced one put in another namespace, as
    docs/operator.md shows) never overwrite each other's cluster-scoped RBAC: ClusterRoles and
    ClusterRoleBindings of the same name would."""
    kinds = ("ClusterRole", "ClusterRoleBinding")

    def names(objects: list[Obj]) -> set[tuple[str, str]]:
        return {(o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] in kinds}

    cluster, namespaced = names(built["cluster"]), names(built["namespaced"])
    assert len(cluster) == 4 and len(namespaced) == 3
    assert not cluster & namespaced, cluster & namespaced
    # the cluster overlay is the opt-in to cluster-wide writes; the namespaced one has none
    assert ("", "secrets", "create") in cluster_wide_writes(built["cluster"])


def test_base_and_overlays_reference_existing_files() -> None:
    import yaml

    for kustomization in KUSTOMIZE.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        for resource in spec.get("resources", []):
            assert (kustomization.parent / resource).exists(), f"{kustomization}: {resource}"


def test_kustomize_failure_is_reported(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(AssertionError, match="kustomize build"):
        kustomize(tmp_path)


@pytest.mark.parametrize("name", ["cluster", "namespaced"])
def test_least_privilege_and_hardened_pod(built: dict[str, list[Obj]], name: str) -> None:
    assert_least_privilege(built[name])
    assert_hardened(built[name])
