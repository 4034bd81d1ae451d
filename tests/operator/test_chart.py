"""The Helm chart, rendered and linted by Helm's own engine (helm-python-sdk, Helm v4 SDK)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from bundle_objects import (
    CHART,
    OPERATOR,
    Obj,
    assert_hardened,
    assert_least_privilege,
    assert_no_cluster_wide_writes,
    by_kind,
    cluster_wide_writes,
    documents,
    grants,
    helm,
    helm_crds,
    helm_render,
    kustomize,
    one,
    operator_container,
    own_binding_grants,
    own_binding_names,
    rbac_source,
    validate,
)

from modelcanary.spec._service import ROUTER_PROVIDERS

NON_DEFAULT: dict[str, Any] = {
    "scope": "namespace",
    "watchNamespaces": ["ml", "fraud"],
    "replicaCount": 2,
    "image": {"repository": "registry.example/mc/operator", "tag": "0.1.1", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "regcred"}],
    "rbac": {"routers": ["istio", "nginx", "skipper"], "secretCopies": False},
    "serviceAccount": {"name": "mc-op", "annotations": {"eks.amazonaws.com/role-arn": "arn:x"}},
    "providers": {
        "prometheus": {"address": "http://thanos-query.monitoring:9090"},
        "env": {"AWS_REGION": "eu-west-1"},
        "envFromSecrets": ["datadog-keys", "aws-credentials"],
    },
    "selfMetrics": {"port": 9100, "service": {"type": "NodePort", "annotations": {"team": "ml"}}},
    "health": {"port": 9090},
    "resources": {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    },
    "extraArgs": ["--verbose"],
    "podAnnotations": {"sidecar.istio.io/inject": "false"},
    "podLabels": {"team": "ml-platform"},
    "priorityClassName": "system-cluster-critical",
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
    ],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["system"]}]}
                ]
            }
        }
    },
}


@pytest.fixture(scope="module")
def default() -> list[Obj]:
    return helm_render()


@pytest.fixture(scope="module")
def custom() -> list[Obj]:
    return helm_render(NON_DEFAULT)


def test_lint_strict_passes_for_default_and_custom_values() -> None:
    for values in ({}, NON_DEFAULT):
        report = helm().lint(CHART, values, strict=True, kube_version="v1.37.0")
        assert report["errors"] == [], report
        severe = [m for m in report["messages"] if m["severity"] >= 2]
        assert severe == [], severe


@pytest.mark.parametrize("values", ["default", "custom"])
def test_every_rendered_object_validates(values: str, request: pytest.FixtureRequest) -> None:
    objects: list[Obj] = request.getfixturevalue(values)
    assert {o["kind"] for o in objects} >= {"ServiceAccount", "Deployment", "ClusterRole"}
    for obj in objects + helm_crds():
        validate(obj)
    assert_least_privilege(objects)
    assert_hardened(objects)


def test_chart_crds_equal_the_generated_ones() -> None:
    for name in ("modelrollouts.yaml", "kopf-peerings.yaml"):
        chart_copy = (CHART / "crds" / name).read_text()
        assert chart_copy == (OPERATOR / "crds" / name).read_text(), (
            f"operator/chart/crds/{name} drifted: run .venv/bin/python scripts/gen_docs.py"
        )
    assert {c["metadata"]["name"] for c in helm_crds()} == {
        "modelrollouts.modelcanary.io",
        "kopfpeerings.kopf.dev",
        "clusterkopfpeerings.kopf.dev",
    }


def _expected_rules(peering: str) -> set[tuple[str, str, str]]:
    """files/rbac.yaml with every router, Secret copies and the scope's peering resource (and,
    with scope: namespace, the operator's own RoleBinding by name)."""
    source = rbac_source()
    every_router = [rule for rules in source["routers"].values() for rule in rules]
    peering_rule = {
        "apiGroups": ["kopf.dev"],
        "resources": [peering],
        "verbs": source["peering"]["verbs"],
    }
    own = own_binding_grants() if peering == "kopfpeerings" else set()
    return grants(source["core"] + source["secretCopies"] + every_router + [peering_rule]) | own


SA = {"kind": "ServiceAccount", "name": "mc-modelcanary", "namespace": "modelcanary-system"}
DISCOVERY = {
    ("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("get", "list", "watch")
}
READ_NAMESPACE = {("", "namespaces", "get")}
"""Is a deleted rollout's namespace terminating (then its revert is moot): both scopes."""
NAMESPACES = {("", "namespaces", "list"), ("", "namespaces", "watch")} | READ_NAMESPACE
ROLE = "mc-modelcanary-modelcanary-system"
"""The release's ClusterRole: <fullname>-<release namespace> (cluster-scoped names are unique
per release, so no other install overwrites them)."""


def test_default_is_namespace_scope(default: list[Obj]) -> None:
    """The default install watches the release namespace and writes there only: the rules'
    ClusterRole is bound by a RoleBinding in it; cluster-wide, read-only discovery."""
    args = operator_container(default)["args"]
    assert args == [
        "operator",
        "run",
        "--namespace=modelcanary-system",
        "--liveness=http://0.0.0.0:8080/healthz",
        "--peering=modelcanary",
    ]
    assert_no_cluster_wide_writes(default)
    assert not by_kind(default, "Role")
    role = one(default, "ClusterRole", ROLE)
    assert grants(role["rules"]) == _expected_rules("kopfpeerings")
    binding = one(default, "RoleBinding", "mc-modelcanary")
    assert binding["metadata"]["namespace"] == "modelcanary-system"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": ROLE,
    }
    assert binding["subjects"] == [SA]
    (cluster_binding,) = by_kind(default, "ClusterRoleBinding")
    assert cluster_binding["roleRef"]["name"] == f"{ROLE}-discovery"
    assert cluster_binding["subjects"] == [SA]
    discovery = one(default, "ClusterRole", f"{ROLE}-discovery")
    assert grants(discovery["rules"]) == DISCOVERY | NAMESPACES
    peering = one(default, "KopfPeering")
    assert peering["metadata"]["name"] == "modelcanary"
    assert peering["metadata"]["namespace"] == "modelcanary-system"
    assert not by_kind(default, "ClusterKopfPeering")
    env = {e["name"]: e.get("value") for e in operator_container(default)["env"]}
    assert env["MODELCANARY_METRICS_SERVER"] == "http://prometheus.monitoring:9090"
    assert env["MODELCANARY_METRICS_PORT"] == "8081"
    service = one(default, "Service")
    assert service["spec"]["ports"][0]["port"] == 8081
    assert service["metadata"]["annotations"]["prometheus.io/port"] == "8081"


def test_cluster_scope_is_the_opt_in() -> None:
    """scope: cluster binds the same rules cluster-wide (the documented opt-in), with the
    ClusterKopfPeering and kopf --all-namespaces; no Namespace watch (kopf needs none)."""
    objects = helm_render({"scope": "cluster"})
    assert operator_container(objects)["args"][2] == "--all-namespaces"
    assert not by_kind(objects, "Role") and not by_kind(objects, "RoleBinding")
    role = one(objects, "ClusterRole", ROLE)
    assert grants(role["rules"]) == _expected_rules("clusterkopfpeerings")
    binding = one(objects, "ClusterRoleBinding", ROLE)
    assert binding["roleRef"]["name"] == ROLE and binding["subjects"] == [SA]
    assert grants(one(objects, "ClusterRole", f"{ROLE}-discovery")["rules"]) == (
        DISCOVERY | READ_NAMESPACE
    )
    assert "MODELCANARY_RBAC_BINDING" not in {e["name"] for e in operator_container(objects)["env"]}
    assert ("", "secrets", "create") in cluster_wide_writes(objects)
    assert one(objects, "ClusterKopfPeering")["metadata"]["name"] == "modelcanary"
    assert not by_kind(objects, "KopfPeering")
    with pytest.raises(AssertionError, match="cluster-wide writes"):
        assert_no_cluster_wide_writes(objects)


def test_kustomize_and_helm_grant_the_same(default: list[Obj]) -> None:
    overlays = OPERATOR / "kustomize" / "overlays"
    namespaced = documents((overlays / "namespaced" / "rbac.yaml").read_text())
    namespaced += documents((overlays / "namespaced" / "discovery-rbac.yaml").read_text())
    cluster = documents((overlays / "cluster" / "rbac.yaml").read_text())
    cluster += documents((overlays / "cluster" / "discovery-rbac.yaml").read_text())
    helm_cluster = helm_render({"scope": "cluster"})
    pairs = [
        (
            one(namespaced, "ClusterRole", "modelcanary-operator-namespaced"),
            one(default, "ClusterRole", ROLE),
        ),
        (
            one(namespaced, "ClusterRole", "modelcanary-operator-namespaced-discovery"),
            one(default, "ClusterRole", f"{ROLE}-discovery"),
        ),
        (
            one(cluster, "ClusterRole", "modelcanary-operator"),
            one(helm_cluster, "ClusterRole", ROLE),
        ),
        (
            one(cluster, "ClusterRole", "modelcanary-operator-discovery"),
            one(helm_cluster, "ClusterRole", f"{ROLE}-discovery"),
        ),
    ]
    for kustomized, helm_role in pairs:
        assert grants(kustomized["rules"]) == grants(helm_role["rules"]), kustomized["metadata"]


@pytest.mark.parametrize("values", [{}, {"watchNamespaces": ["ml", "fraud"]}])
def test_the_operator_holds_exactly_its_own_binding(values: Obj) -> None:
    """scope: namespace: the RoleBinding the operator keeps (MODELCANARY_RBAC_BINDING) is the
    chart's binding in every watched namespace, and its rules may get and patch that name
    only; with rbac.create false (RBAC made elsewhere) nothing is held."""
    objects = helm_render(values)
    env = {e["name"]: e.get("value") for e in operator_container(objects)["env"]}
    bindings = by_kind(objects, "RoleBinding")
    assert {b["metadata"]["name"] for b in bindings} == {env["MODELCANARY_RBAC_BINDING"]}
    assert own_binding_names(one(objects, "ClusterRole", ROLE)) == [env["MODELCANARY_RBAC_BINDING"]]
    unmanaged = helm_render({**values, "rbac": {"create": False}})
    names = {e["name"] for e in operator_container(unmanaged)["env"]}
    assert "MODELCANARY_RBAC_BINDING" not in names


def test_namespace_scope_with_two_namespaces(custom: list[Obj]) -> None:
    assert_no_cluster_wide_writes(custom)
    assert not by_kind(custom, "Role")
    bindings = by_kind(custom, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["fraud", "ml"]
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "ClusterRole"
        assert binding["roleRef"]["name"] == ROLE
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "mc-op", "namespace": "modelcanary-system"}
        ]
    peerings = by_kind(custom, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["fraud", "ml"]
    args = operator_container(custom)["args"]
    assert args[:4] == ["operator", "run", "--namespace=ml", "--namespace=fraud"]
    assert "--liveness=http://0.0.0.0:9090/healthz" in args and args[-1] == "--verbose"


def test_router_selection_and_read_only_secrets(custom: list[Obj]) -> None:
    allowed = grants(one(custom, "ClusterRole", ROLE)["rules"])
    groups = {group for group, _, _ in allowed}
    assert "networking.istio.io" in groups and "networking.k8s.io" in groups
    assert not groups & {"gateway.networking.k8s.io", "split.smi-spec.io", "serving.kserve.io"}
    assert {verb for _, resource, verb in allowed if resource == "secrets"} == {"get"}
    assert ("kopf.dev", "kopfpeerings", "patch") in allowed
    assert not any(r == "clusterkopfpeerings" for _, r, _ in allowed)


def test_custom_values_reach_the_pod(custom: list[Obj]) -> None:
    deployment = one(custom, "Deployment")
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert spec["serviceAccountName"] == "mc-op"
    assert spec["nodeSelector"] == NON_DEFAULT["nodeSelector"]
    assert spec["tolerations"] == NON_DEFAULT["tolerations"]
    assert spec["affinity"] == NON_DEFAULT["affinity"]
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["metadata"]["labels"]["team"] == "ml-platform"
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    container = operator_container(custom)
    assert container["image"] == "registry.example/mc/operator:0.1.1"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == NON_DEFAULT["resources"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MODELCANARY_METRICS_SERVER"] == "http://thanos-query.monitoring:9090"
    assert env["AWS_REGION"] == "eu-west-1"
    assert container["envFrom"] == [
        {"secretRef": {"name": "datadog-keys"}},
        {"secretRef": {"name": "aws-credentials"}},
    ]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "health": 9090,
        "metrics": 9100,
    }
    service = one(custom, "Service")
    assert service["spec"]["type"] == "NodePort"
    assert service["metadata"]["annotations"] == {  # Helm merges maps with the defaults
        "team": "ml",
        "prometheus.io/scrape": "true",
        "prometheus.io/path": "/metrics",
        "prometheus.io/port": "9100",
    }
    account = one(custom, "ServiceAccount")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:x"}


def test_toggles_remove_objects() -> None:
    objects = helm_render(
        {
            "rbac": {"create": False},
            "serviceAccount": {"create": False, "name": "existing"},
            "peering": {"enabled": False},
            "selfMetrics": {"enabled": False},
            "grafanaDashboard": {"enabled": False},
        }
    )
    kinds = {o["kind"] for o in objects}
    assert kinds == {"Deployment"}, kinds
    container = operator_container(objects)
    assert not any(a.startswith("--peering") for a in container["args"])
    assert {p["name"] for p in container["ports"]} == {"health"}
    assert (
        one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "existing"
    )
    for obj in objects:
        validate(obj)


def test_every_router_provider_has_rbac_rules() -> None:
    routers = rbac_source()["routers"]
    cluster_routers = set(ROUTER_PROVIDERS) - {"local"}
    assert set(routers) == cluster_routers
    for name, rules in routers.items():  # none: core's rules cover it (kubernetes: Services)
        assert rules == [] or {"get", "create", "patch", "delete"} == {
            v for r in rules for v in r["verbs"]
        }, name
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["rbac"]["routers"]) == cluster_routers
    schema_enum = helm().Chart.load(CHART).schema["properties"]["rbac"]["properties"]["routers"]
    assert set(schema_enum["items"]["enum"]) == cluster_routers


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"scope": "cluster-wide"}, "scope"),
        ({"rbac": {"routers": ["envoy"]}}, "routers"),
        ({"replicaCount": 0}, "replicaCount"),
        ({"image": {"tag": 1}}, "tag"),
        ({"selfMetrics": {"port": 70000}}, "port"),
    ],
)
def test_schema_rejects_bad_values(values: dict[str, Any], message: str) -> None:
    helm_module = helm()
    with helm_module.Chart.load(CHART) as chart, pytest.raises(helm_module.HelmError) as err:
        chart.render(copy.deepcopy(values), name="mc", namespace="x")
    assert message in str(err.value)


def test_namespace_scope_defaults_to_the_release_namespace() -> None:
    objects = helm_render({"scope": "namespace"}, namespace="ml-ops")
    (binding,) = by_kind(objects, "RoleBinding")
    assert binding["metadata"]["namespace"] == "ml-ops"
    assert one(objects, "KopfPeering")["metadata"]["namespace"] == "ml-ops"
    assert operator_container(objects)["args"][2] == "--namespace=ml-ops"
    assert_least_privilege(objects)
    assert_no_cluster_wide_writes(objects)


def test_two_releases_share_no_cluster_scoped_object() -> None:
    """Two installs (e.g. one per team) never overwrite each other's cluster-scoped RBAC."""
    first = helm_render({"watchNamespaces": ["fraud"]}, name="team-a", namespace="a")
    second = helm_render({"scope": "cluster"}, name="team-b", namespace="b")
    kinds = ("ClusterRole", "ClusterRoleBinding")
    names = [
        {(o["kind"], o["metadata"]["name"]) for o in objs if o["kind"] in kinds}
        for objs in (first, second)
    ]
    assert names[0] and names[1] and not names[0] & names[1]


def test_no_two_installs_share_a_cluster_scoped_object() -> None:
    """Issue 14, 3.1: installing the cluster and the namespaced bundle (kustomize overlays,
    Helm releases of either scope, one named like the kustomize objects, or one name in two
    namespaces) never overwrites one's ClusterRole or ClusterRoleBinding with the other's."""
    overlays = OPERATOR / "kustomize" / "overlays"
    bundles = {
        "kustomize cluster": kustomize(overlays / "cluster"),
        "kustomize namespaced": kustomize(overlays / "namespaced"),
        "helm cluster": helm_render({"scope": "cluster"}, name="modelcanary-operator"),
        "helm namespace": helm_render({}, name="modelcanary-operator", namespace="ml-platform"),
        "helm namespace, other ns": helm_render({}, name="modelcanary-operator", namespace="ml"),
    }
    seen: dict[tuple[str, str], str] = {}
    for bundle, objects in bundles.items():
        for obj in objects:
            if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                key = (obj["kind"], obj["metadata"]["name"])
                assert key not in seen, f"{bundle} and {seen.get(key)} both create {key}"
                seen[key] = bundle
