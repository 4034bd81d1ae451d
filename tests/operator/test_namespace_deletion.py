"""A namespaced install never holds its namespace in Terminating (issue 14, item 3.1).

Against a real kube-apiserver with the namespace controller: deleting a watched namespace
removed the operator's RoleBinding before the operator had removed its finalizer from the
ModelRollouts there (kopf adds one to every object a timer ticks); every patch then answered
403, so the namespace stayed Terminating forever, and SIGTERM hung while kopf retried (54 s)
its last keep-alive of the peering object there.

Here the chart (``scope: namespace``) is installed into the kmock API with its RBAC objects
stored and enforced as stored (``rbac_authz.Guard(live=True)``: a RoleBinding marked for
deletion still authorizes until it is really gone, as the API server's authorizer reads it),
and the harness runs the namespace controller, which deletes the RBAC objects first (the
losing order of that race) and honours finalizers, on RBAC objects too.

A rollout with ``revertOnDeletion`` carries the finalizer ``modelcanary.io/finalizer``: the
operator keeps its RoleBinding (finalizer ``modelcanary.io/rbac-in-use``) while such a
rollout is in the namespace, releases the rollout at once when its namespace terminates (the
revert is moot) and then the binding.
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

from modelcanary.controller._rbac_hold import HOLD

ROLLOUT_API = "modelcanary.io/v1alpha1"
RBAC_API = "rbac.authorization.k8s.io/v1"


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


def binding(kube: KubeApi) -> dict[str, Any] | None:
    """The operator's RoleBinding in the watched namespace (the chart names it mc-modelcanary)."""
    return kube.get(RBAC_API, "RoleBinding", WATCHED, "mc-modelcanary")


def test_deleting_the_namespace_of_a_reverting_rollout_completes(
    cluster: KubeApi, prometheus: PromAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14, 3.1 (the rest): a rollout with revertOnDeletion (its finalizer on it) and the
    namespace controller deleting the RoleBinding first. On HEAD the binding went at once, the
    operator was refused the patch releasing the rollout, and the namespace stayed
    Terminating for ever."""
    guard, objects = install(cluster, prometheus, revert=True)
    options = chart_options(objects, monkeypatch)
    try:
        with Operator(cluster, options, kopf_retries=True):
            wait_for(lambda: phase(cluster) == "Initialized", "Initialized", cluster)
            rollout = cluster.get(ROLLOUT_API, "ModelRollout", WATCHED, "fraud") or {}
            assert "modelcanary.io/finalizer" in rollout["metadata"]["finalizers"]
            wait_for(
                lambda: (
                    HOLD in ((binding(cluster) or {}).get("metadata") or {}).get("finalizers", [])
                ),
                "the operator holding its RoleBinding",
                cluster,
            )
            cluster.delete("v1", "Namespace", None, WATCHED)
            wait_for(
                lambda: cluster.get("v1", "Namespace", None, WATCHED) is None,
                "the namespace deleted (not held in Terminating)",
                cluster,
                timeout=30,
            )
    finally:
        guard.close()
    assert cluster.get(ROLLOUT_API, "ModelRollout", WATCHED, "fraud") is None
    # the namespace controller deleted the binding first (the losing order): marked, as the
    # operator's finalizer held it; the operator released it after its last write of the rollout
    journal = [(plural, name, what) for plural, _, name, what in cluster.namespace_deletions()]
    assert journal[0] == ("rolebindings", "mc-modelcanary", "marked"), journal
    assert ("modelrollouts", "fraud", "marked") in journal, journal
    writes = [(method, path, body) for method, path, body in cluster.writes()]
    binding_writes = [i for i, (m, p, _) in enumerate(writes) if p.endswith("/mc-modelcanary")]
    rollout_writes = [i for i, (m, p, _) in enumerate(writes) if "/modelrollouts/fraud" in p]
    assert binding_writes[-1] > rollout_writes[-1], "the binding went before the rollout"
    released = [
        c for c in guard.calls if c[0].resource == "rolebindings" and c[0].verb == "patch" and c[1]
    ]
    assert len(released) >= 2, "the binding was never held then released by the operator"
    # every request of the operator in that namespace was allowed until its binding went:
    # the release of the rollout (a patch of modelrollouts) was never refused
    refused = {(c.verb, c.resource) for c in guard.refused() if c.namespace == WATCHED}
    assert ("patch", "modelrollouts") not in refused, refused


def test_the_hold_is_released_when_no_rollout_needs_it(
    cluster: KubeApi, prometheus: PromAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last rollout with revertOnDeletion deleted (its revert done): the RoleBinding
    loses the operator's finalizer, so an uninstall or a later namespace deletion removes it
    even with no operator running."""
    guard, objects = install(cluster, prometheus, revert=True)
    options = chart_options(objects, monkeypatch)

    def held() -> bool:
        return HOLD in ((binding(cluster) or {}).get("metadata") or {}).get("finalizers", [])

    try:
        with Operator(cluster, options, kopf_retries=True):
            wait_for(held, "the operator holding its RoleBinding", cluster)
            cluster.delete(ROLLOUT_API, "ModelRollout", WATCHED, "fraud")
            wait_for(
                lambda: cluster.get(ROLLOUT_API, "ModelRollout", WATCHED, "fraud") is None,
                "the rollout reverted and released",
                cluster,
            )
            wait_for(lambda: not held(), "the RoleBinding released", cluster)
        # the operator stopped: deleting the binding now is immediate
        cluster.delete(RBAC_API, "RoleBinding", WATCHED, "mc-modelcanary")
        assert binding(cluster) is None
    finally:
        guard.close()
    assert guard.refused() == []


def test_an_uninstall_is_not_held_by_the_binding(
    cluster: KubeApi, prometheus: PromAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The RoleBinding deleted while its namespace is not (a revocation; an uninstall while
    the rules still exist) and a rollout with revertOnDeletion still there: the operator lets
    the binding go rather than leave it Terminating behind an operator going away (here: as
    it stops)."""
    guard, objects = install(cluster, prometheus, revert=True)
    options = chart_options(objects, monkeypatch)
    try:
        with Operator(cluster, options, kopf_retries=True):
            wait_for(
                lambda: (
                    HOLD in ((binding(cluster) or {}).get("metadata") or {}).get("finalizers", [])
                ),
                "the operator holding its RoleBinding",
                cluster,
            )
            cluster.delete(RBAC_API, "RoleBinding", WATCHED, "mc-modelcanary")
            assert binding(cluster) is not None  # held: marked, still there
    finally:
        guard.close()  # the operator stopped: its cleanup released the binding
    assert binding(cluster) is None
    assert cluster.get(ROLLOUT_API, "ModelRollout", WATCHED, "fraud") is not None


def test_a_hold_left_behind_is_released_when_its_namespace_terminates(
    cluster: KubeApi, prometheus: PromAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The binding still held though no rollout needs it any more (an operator that died
    between releasing its last rollout and its binding): when the namespace terminates, the
    operator's Namespace watch releases it, so the namespace is not held by the binding."""
    guard, objects = install(cluster, prometheus)  # no revertOnDeletion: no rollout event
    cluster.patch(
        RBAC_API, "RoleBinding", WATCHED, "mc-modelcanary", {"metadata": {"finalizers": [HOLD]}}
    )
    options = chart_options(objects, monkeypatch)
    try:
        with Operator(cluster, options, kopf_retries=True):
            wait_for(lambda: phase(cluster) == "Initialized", "Initialized", cluster)
            assert HOLD in (binding(cluster) or {})["metadata"]["finalizers"]
            cluster.delete("v1", "Namespace", None, WATCHED)
            wait_for(
                lambda: cluster.get("v1", "Namespace", None, WATCHED) is None,
                "the namespace deleted (the stale hold released)",
                cluster,
                timeout=30,
            )
    finally:
        guard.close()
