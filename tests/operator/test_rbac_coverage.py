"""The RBAC grants what the code does: every router's objects, the adapters' and kopf's calls,
where the operator works, and nothing cluster-wide but kopf's read-only discovery.

A failure here after a router changes means: update its entry in operator/chart/files/rbac.yaml
and the same rule in operator/kustomize/overlays/{cluster,namespaced}/rbac.yaml.

Where: the checks go through ``rbac_authz.Authorizer`` (Kubernetes' RBAC semantics over the
rendered objects: which bindings bind which rules in which namespace), not through the rules
alone, so a rule bound in the wrong place fails too. test_rbac_enforced.py runs the operator
itself under the same authorizer.
"""

from __future__ import annotations

from typing import Any

import pytest
from bundle_objects import (
    OPERATOR,
    Grant,
    Obj,
    grants,
    helm_render,
    kustomize,
    own_binding_grants,
    rbac_source,
)
from rbac_authz import Authorizer, Call, operator_authorizer

from modelcanary.routers import ROUTERS, MemoryObjectStore
from modelcanary.spec import ModelRollout, capabilities, parse_rollout

ADAPTERS: set[Grant] = {
    # kopf: watch the resource, its finalizer and bookkeeping annotations; Events
    *{("modelcanary.io", "modelrollouts", v) for v in ("get", "list", "watch", "patch")},
    ("", "events", "create"),
    # modelcanary.k8s (see docs/operator.md): status store, workloads, services, copies, HPA
    *{("modelcanary.io", "modelrollouts/status", v) for v in ("get", "patch")},
    ("modelcanary.io", "modelrollouts/finalizers", "update"),
    *{("apps", "deployments", v) for v in ("get", "create", "patch")},
    *{("", r, v) for r in ("services", "configmaps") for v in ("get", "create", "patch")},
    *{("autoscaling", "horizontalpodautoscalers", v) for v in ("get", "create", "patch")},
    *{("keda.sh", "scaledobjects", v) for v in ("get", "create", "patch")},
    ("", "secrets", "get"),
}
"""What the Kubernetes adapters and kopf call in a watched namespace (the adapters' list: no
update, no list)."""
KOPF_NAMESPACED: set[Grant] = {
    ("kopf.dev", "kopfpeerings", v) for v in ("get", "list", "watch", "patch")
}
"""kopf's peering lock of a namespaced operator: a KopfPeering in each watched namespace."""
KOPF_CLUSTER: set[Grant] = {
    *{("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("get", "list", "watch")},
    *{("", "namespaces", v) for v in ("get", "list", "watch")},
}
"""kopf's discovery: CRDs appearing; with --namespace, Namespaces created and deleted (the
operator too: a watched one terminating); get: is a deleted rollout's namespace terminating.
Read only, and the only cluster-wide grant of the default install."""
WATCHED = ("ml", "fraud")


def plural(kind: str) -> str:
    """The resource name of a kind, as the API server derives it."""
    lower = kind.lower()
    if lower.endswith(("s", "x")):
        return lower + "es"
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "s"


def _rollout(provider: str) -> ModelRollout:
    service: dict[str, Any] = {"port": 80}
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "m"}
    if provider in ("gatewayapi", "inference-pool"):
        service["gatewayRefs"] = [{"name": "gw"}]
    if provider in ("nginx", "skipper"):
        service["ingressRef"] = {"name": "m"}
    extra: dict[str, Any] = {}
    if provider == "apisix":
        extra["routeRef"] = {"name": "m"}
    if provider == "gloo":
        extra["upstreamRef"] = {"name": "m"}
    if provider == "knative":
        target = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "m"}
    if provider == "kserve":
        target = {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "name": "m",
        }
    return parse_rollout(
        {
            "apiVersion": "modelcanary.io/v1alpha1",
            "kind": "ModelRollout",
            "metadata": {"name": "m", "namespace": "ns"},
            "spec": {
                **extra,
                "targetRef": target,
                "router": {"provider": provider},
                "service": service,
                "analysis": {
                    # A/B where the router can route on headers: the routers that own extra
                    # objects for matches (SMI) list them too; blue/green elsewhere
                    **(
                        {"iterations": 2, "match": [{"headers": {"x-ab": {"exact": "1"}}}]}
                        if "headers" in capabilities(provider).match
                        else {"iterations": 2}  # blue/green: every router can
                    ),
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
                },
            },
        }
    )


def test_plural() -> None:
    assert [plural(k) for k in ("Ingress", "HTTPProxy", "VirtualService", "HTTPRoute")] == [
        "ingresses",
        "httpproxies",
        "virtualservices",
        "httproutes",
    ]


@pytest.mark.parametrize("provider", sorted(ROUTERS))
def test_router_rules_cover_the_router(provider: str) -> None:
    rollout = _rollout(provider)
    router = ROUTERS[provider](MemoryObjectStore([]))
    own_rules = rbac_source()["routers"][provider]
    # no rules of its own (kubernetes): core's cover its objects, which it never deletes
    allowed = grants(own_rules or rbac_source()["core"])
    verbs = ("get", "create", "patch", "delete") if own_rules else ("get", "create", "patch")
    owned = router.owned(rollout)
    if provider == "inference-model-rewrite":  # llm-d's API or the Inference Extension's
        doc = rollout.to_dict()
        x_k8s = "inference.networking.x-k8s.io/v1alpha2"
        doc["spec"]["router"]["inference"] = {"rewriteApiVersion": x_k8s}
        owned = owned + router.owned(parse_rollout(doc))
    assert owned
    for api_version, kind, _, _ in owned:
        group = api_version.split("/")[0] if "/" in api_version else ""
        for verb in verbs:
            assert (group, plural(kind), verb) in allowed, f"{provider}: {verb} {kind}"
    for api_version, kind, _, _ in router.inputs(rollout):
        group = api_version.split("/")[0] if "/" in api_version else ""
        assert (group, plural(kind), "get") in allowed, f"{provider}: get {kind}"
    groups = {g for g, _, _ in allowed}
    used = {k[0].split("/")[0] for k in owned + router.inputs(rollout)}
    assert not own_rules or groups <= used, f"{provider} grants unused groups {groups - used}"


def _allowed(objects: list[Obj], wanted: set[Grant], namespace: str | None) -> set[Grant]:
    authorizer = operator_authorizer(objects)
    return {g for g in wanted if authorizer.allows(Call(g[2], g[0], g[1], namespace))}


def _bundles() -> dict[str, list[Obj]]:
    """The default installs: the chart's defaults (with two watched namespaces, and as they
    are: the release namespace) and the kustomize namespaced overlay."""
    return {
        "helm": helm_render({"watchNamespaces": list(WATCHED)}),
        "helm-defaults": helm_render(),
        "kustomize": kustomize(OPERATOR / "kustomize" / "overlays" / "namespaced"),
    }


@pytest.fixture(scope="module")
def bundles() -> dict[str, list[Obj]]:
    return _bundles()


def _watched(name: str) -> tuple[str, ...]:
    return WATCHED if name == "helm" else ("modelcanary-system",)


def test_adapters_and_kopf_are_covered(bundles: dict[str, list[Obj]]) -> None:
    """Every call of the adapters and kopf is allowed in each watched namespace, every router's
    objects too, and kopf's cluster-scope discovery cluster-wide."""
    source = rbac_source()
    assert grants(source["core"]) == ADAPTERS
    routers = grants([rule for rules in source["routers"].values() for rule in rules])
    for name, objects in bundles.items():
        for namespace in _watched(name):
            wanted = ADAPTERS | KOPF_NAMESPACED | routers | grants(source["secretCopies"])
            assert _allowed(objects, wanted, namespace) == wanted, (name, namespace)
        assert _allowed(objects, KOPF_CLUSTER, None) == KOPF_CLUSTER, name


@pytest.mark.parametrize("name", ["helm", "helm-defaults", "kustomize"])
def test_default_install_grants_nothing_cluster_wide_but_discovery(
    bundles: dict[str, list[Obj]], name: str
) -> None:
    """No create/patch of Secrets or Deployments (nor any write) outside the watched
    namespaces: cluster-wide the operator reads CRDs and lists/watches Namespaces, that is all."""
    authorizer = operator_authorizer(bundles[name])
    assert authorizer.grants(None) == KOPF_CLUSTER
    for verb in ("get", "create", "patch"):
        for group, resource in (("", "secrets"), ("apps", "deployments"), ("", "services")):
            for namespace in (None, "kube-system", "default", "unwatched"):
                call = Call(verb, group, resource, namespace)
                assert not authorizer.allows(call), f"{name}: {call}"
    # outside the watched namespaces, not even the ModelRollouts or the peering
    assert authorizer.grants("kube-system") == KOPF_CLUSTER
    for namespace in _watched(name):
        assert ("", "secrets", "create") in authorizer.grants(namespace)


def test_every_watched_namespace_gets_exactly_the_rules(bundles: dict[str, list[Obj]]) -> None:
    """In a watched namespace: the rules of files/rbac.yaml, nothing more."""
    source = rbac_source()
    every_router = [rule for rules in source["routers"].values() for rule in rules]
    expected = (
        grants(source["core"] + source["secretCopies"] + every_router)
        | KOPF_NAMESPACED
        | KOPF_CLUSTER
        | own_binding_grants()
    )
    authorizer = operator_authorizer(bundles["helm"])
    for namespace in WATCHED:
        assert authorizer.grants(namespace) == expected, namespace


@pytest.mark.parametrize("name", ["helm", "helm-defaults", "kustomize"])
def test_the_own_binding_is_writable_by_name_only(bundles: dict[str, list[Obj]], name: str) -> None:
    """The finalizer the operator keeps on its RoleBinding: get and patch of that one
    binding, in the watched namespaces only; no other RoleBinding, no Role, nowhere else."""
    objects = bundles[name]
    authorizer = operator_authorizer(objects)
    (own,) = {b["metadata"]["name"] for b in objects if b["kind"] == "RoleBinding"}
    group = "rbac.authorization.k8s.io"
    for namespace in _watched(name):
        for verb in ("get", "patch"):
            assert authorizer.allows(Call(verb, group, "rolebindings", namespace, own))
            assert not authorizer.allows(Call(verb, group, "rolebindings", namespace, "admin"))
            assert not authorizer.allows(Call(verb, group, "roles", namespace, own))
        for verb in ("list", "create", "delete", "update"):
            assert not authorizer.allows(Call(verb, group, "rolebindings", namespace, own))
    for namespace in (None, "kube-system", "unwatched"):
        assert not authorizer.allows(Call("patch", group, "rolebindings", namespace, own))


def test_cluster_scope_is_the_opt_in_to_cluster_wide_writes() -> None:
    """scope: cluster (documented opt-in) grants the same rules everywhere (kube-system too),
    the ClusterKopfPeering and no Namespace watch (kopf --all-namespaces needs none)."""
    for objects in (
        helm_render({"scope": "cluster"}),
        kustomize(OPERATOR / "kustomize" / "overlays" / "cluster"),
    ):
        authorizer = operator_authorizer(objects)
        assert authorizer.allows(Call("create", "", "secrets", "kube-system"))
        assert authorizer.allows(Call("patch", "apps", "deployments", "kube-system", "coredns"))
        assert authorizer.allows(Call("patch", "kopf.dev", "clusterkopfpeerings", None, "x"))
        assert not authorizer.allows(Call("list", "", "namespaces"))


def test_the_authorizer_follows_rbac_semantics() -> None:
    """rbac_authz's reading of bindings, as the API server's: a RoleBinding grants only in its
    namespace and never a cluster-scoped resource; a Role of another namespace is not used;
    resourceNames match only named requests."""
    sa = [{"kind": "ServiceAccount", "name": "op", "namespace": "sys"}]
    rules = [
        {"apiGroups": [""], "resources": ["secrets", "namespaces"], "verbs": ["get"]},
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "verbs": ["patch"],
            "resourceNames": ["web"],
        },
    ]
    objects: list[Obj] = [
        {
            "kind": "Deployment",
            "metadata": {"name": "op", "namespace": "sys"},
            "spec": {"template": {"spec": {"serviceAccountName": "op"}}},
        },
        {"kind": "ClusterRole", "metadata": {"name": "rules"}, "rules": rules},
        {"kind": "Role", "metadata": {"name": "r", "namespace": "b"}, "rules": rules},
        {
            "kind": "RoleBinding",
            "metadata": {"name": "x", "namespace": "a"},
            "subjects": sa,
            "roleRef": {"kind": "ClusterRole", "name": "rules"},
        },
        {
            "kind": "RoleBinding",
            "metadata": {"name": "y", "namespace": "c"},
            "subjects": sa,
            "roleRef": {"kind": "Role", "name": "r"},
        },
    ]
    authorizer = operator_authorizer(objects)
    assert authorizer.allows(Call("get", "", "secrets", "a", "s"))
    assert not authorizer.allows(Call("get", "", "secrets", "b", "s"))  # no binding in b
    assert not authorizer.allows(Call("get", "", "secrets", "c", "s"))  # Role r is in b
    assert not authorizer.allows(Call("get", "", "namespaces", None, "a"))  # cluster-scoped
    assert not authorizer.allows(Call("get", "", "secrets", None, "s"))
    assert authorizer.allows(Call("patch", "apps", "deployments", "a", "web"))
    assert not authorizer.allows(Call("patch", "apps", "deployments", "a", "api"))
    assert authorizer.grants(None) == set()
    objects.append(
        {
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "z"},
            "subjects": sa,
            "roleRef": {"kind": "ClusterRole", "name": "rules"},
        }
    )
    assert authorizer.allows(Call("get", "", "namespaces", None, "a"))
    assert authorizer.allows(Call("get", "", "secrets", "kube-system", "s"))
    other = Authorizer(objects, "sys", "someone-else")
    assert not other.allows(Call("get", "", "secrets", "a", "s"))
