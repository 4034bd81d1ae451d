"""A namespaced install never holds its namespace in Terminating (issue 14, item 3.1).

Against a real kube-apiserver with the namespace controller: deleting a watched namespace
removed the operator's RoleBinding before the operator had removed its finalizer from the
ModelRollouts there (kopf adds one to every object a timer ticks); every patch then answered
403, so the namespace stayed Terminating forever, and SIGTERM hung while kopf retried (54 s)
its last keep-alive of the peering object there.

Here the chart (``scope: namespace``) is installed into the kmock API with its RBAC objects
stored and enforced as stored (``rbac_authz.Guard(live=True)``), and the harness runs the
namespace controller, which deletes the RBAC objects first: the losing order of that race.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bundle_objects import OPERATOR, helm_render
from kube_fixtures import KubeApi, kube_api
from prom_api_fake import PromAPI
from rbac_authz import Guard
from test_rbac_enforced import (
    RELEASE_NS,
    TOKEN,
    UNWATCHED,
    WATCHED,
    Operator,
    chart_options,
    wait_for,
)

ROLLOUT_API = "modelcanary.io/v1alpha1"


@pytest.fixture()
def cluster() -> Iterator[KubeApi]:
    """A fresh API per test (the namespace is deleted for good)."""
    with kube_api(namespaces=(RELEASE_NS, WATCHED, UNWATCHED)) as api:
        api.declare_crd_file(OPERATOR / "crds" / "kopf-peerings.yaml")
        yield api


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PromAPI]:
    server = PromAPI()
    server.values["errors"] = 0.0
    yield server
    server.close()


def install(kube: KubeApi, prometheus: PromAPI, *, revert: bool = False) -> tuple[Guard, Any]:
    """The chart for namespace ``WATCHED``, its RBAC stored and enforced, and a rollout."""
    objects = helm_render({"watchNamespaces": [WATCHED]}, namespace=RELEASE_NS)
    for peering in [o for o in objects if o["kind"] == "KopfPeering"]:
        kube.create(peering)
    guard = Guard(kube, objects, TOKEN, live=True)
    labels = {"app": "fraud"}
    kube.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "fraud", "namespace": WATCHED, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "m", "image": "registry.example/fraud:1"}]},
                },
            },
        }
    )
    kube.create(
        {
            "apiVersion": ROLLOUT_API,
            "kind": "ModelRollout",
            "metadata": {"name": "fraud", "namespace": WATCHED},
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud"},
                "router": {"provider": "istio"},
                "service": {"port": 8080},
                "revertOnDeletion": revert,
                "metricsProvider": {"type": "prometheus", "address": prometheus.url},
                "analysis": {
                    "interval": "500ms",
                    "stepWeights": [50],
                    "metrics": [
                        {"name": "errors", "query": "errors", "thresholdRange": {"max": 0.05}}
                    ],
                },
            },
        }
    )
    return guard, objects


def phase(kube: KubeApi) -> str:
    obj = kube.get(ROLLOUT_API, "ModelRollout", WATCHED, "fraud") or {}
    return str((obj.get("status") or {}).get("phase", ""))


def test_deleting_the_watched_namespace_completes(
    cluster: KubeApi, prometheus: PromAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard, objects = install(cluster, prometheus)
    options = chart_options(objects, monkeypatch)
    try:
        with Operator(cluster, options, kopf_retries=True):
            wait_for(lambda: phase(cluster) == "Initialized", "Initialized", cluster)
            rollout = cluster.get(ROLLOUT_API, "ModelRollout", WATCHED, "fraud") or {}
            assert not rollout["metadata"].get("finalizers"), "a finalizer would hold it"
            cluster.delete("v1", "Namespace", None, WATCHED)
            wait_for(
                lambda: cluster.get("v1", "Namespace", None, WATCHED) is None,
                "the namespace deleted (not held in Terminating)",
                cluster,
                timeout=30,
            )
        # leaving the block stopped the operator within Operator's bound (30 s): its last
        # keep-alive in the deleted namespace (403) is retried briefly, not for 54 s
    finally:
        guard.close()
    assert cluster.get(ROLLOUT_API, "ModelRollout", WATCHED, "fraud") is None
    # the operator lost its rights in that namespace before its objects went: the real race
    assert any(call.namespace == WATCHED for call in guard.refused())


def test_sigterm_is_not_held_by_retries_after_the_rolebinding_goes(
    cluster: KubeApi, prometheus: PromAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The RoleBinding removed (a namespace terminating, an uninstall): the operator still
    stops within the bound, its requests refused with 403 retried only briefly."""
    guard, objects = install(cluster, prometheus)
    options = chart_options(objects, monkeypatch)
    try:
        with Operator(cluster, options, kopf_retries=True):
            wait_for(lambda: phase(cluster) == "Initialized", "Initialized", cluster)
            for binding in cluster.list("rbac.authorization.k8s.io/v1", "RoleBinding", WATCHED):
                cluster.delete(
                    "rbac.authorization.k8s.io/v1",
                    "RoleBinding",
                    WATCHED,
                    binding["metadata"]["name"],
                )
    finally:
        guard.close()
    refused = {(c.verb, c.resource) for c in guard.refused()}
    assert ("patch", "kopfpeerings") in refused  # the last keep-alive, refused and given up
