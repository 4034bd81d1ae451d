"""The RBAC grants what the code does: every router's objects, the adapters' and kopf's calls.

A failure here after a router changes means: update its entry in operator/chart/files/rbac.yaml
and the same rule in operator/kustomize/overlays/{cluster,namespaced}/rbac.yaml.
"""

from __future__ import annotations

from typing import Any

import pytest
from bundle_objects import Grant, grants, helm_render, one, rbac_source

from modelcanary.routers import ROUTERS, MemoryObjectStore
from modelcanary.spec import ModelRollout, parse_rollout

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
"""What the Kubernetes adapters and kopf call (the adapters' list: no update, no list)."""


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
    if provider == "gatewayapi":
        service["gatewayRefs"] = [{"name": "gw"}]
    if provider in ("nginx", "skipper"):
        service["ingressRef"] = {"name": "m"}
    extra: dict[str, Any] = {}
    if provider == "apisix":
        extra["routeRef"] = {"name": "m"}
    if provider == "gloo":
        extra["upstreamRef"] = {"name": "m"}
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
                    # A/B: the routers that own extra objects for matches (SMI) list them too
                    "iterations": 2,
                    "match": [{"headers": {"x-ab": {"exact": "1"}}}],
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
    allowed = grants(rbac_source()["routers"][provider])
    owned = router.owned(rollout)
    assert owned
    for api_version, kind, _, _ in owned:
        group = api_version.split("/")[0] if "/" in api_version else ""
        for verb in ("get", "create", "patch", "delete"):
            assert (group, plural(kind), verb) in allowed, f"{provider}: {verb} {kind}"
    for api_version, kind, _, _ in router.inputs(rollout):
        group = api_version.split("/")[0] if "/" in api_version else ""
        assert (group, plural(kind), "get") in allowed, f"{provider}: get {kind}"
    groups = {g for g, _, _ in allowed}
    used = {k[0].split("/")[0] for k in owned + router.inputs(rollout)}
    assert groups <= used, f"{provider} grants unused groups {groups - used}"


def test_adapters_and_kopf_are_covered() -> None:
    source = rbac_source()
    assert grants(source["core"]) == ADAPTERS
    role = one(helm_render(), "ClusterRole", "mc-modelcanary")
    assert grants(role["rules"]) >= ADAPTERS
