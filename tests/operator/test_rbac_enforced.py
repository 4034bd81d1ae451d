"""The operator's real calls, authorized by the default install's RBAC.

The chart is rendered with its default values (``scope: namespace``) for one watched
namespace, ``ml``; the operator runs with exactly the options the chart's command line gives
(parsed by the real CLI), against the kmock API on 127.0.0.1, with a ServiceAccount token.
Every request it sends - kopf's (namespaces, CRDs, the ModelRollout watch, finalizers, Events,
the KopfPeering) and the adapters' (Deployments, Services, ConfigMaps, Secrets and their
copies, the Istio objects, the status) - goes through Kubernetes' RBAC rules
(``rbac_authz.Authorizer``) over the rendered objects, and is refused with 403 as the API server
would when they do not allow it. A rollout then runs from start to promotion and deletion, and
none of its calls may be refused; a rollout in a namespace the operator does not watch is
never touched. With ``rbac.secretCopies: false`` the same rollout is refused the Secret copy
(the enforcement is real).

The mapping of a request to RBAC's verb and resource is ``rbac_authz.call_of``; what is
exercised is asserted, so a change that stops calling something does not pass unseen.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import kopf
import kubernetes.client
import pytest
from bundle_objects import OPERATOR, Obj, helm_render, operator_container
from kube_fixtures import KubeApi, kube_api
from prom_api_fake import PromAPI
from rbac_authz import Guard
from typer.testing import CliRunner

from modelcanary.cli._main import app
from modelcanary.controller import _operator as controller_operator
from modelcanary.controller._handlers import FINALIZER
from modelcanary.controller._operator import OperatorOptions, operator
from modelcanary.controller._rbac_hold import BINDING_ENV
from modelcanary.controller._runtime import build_runtime

RELEASE_NS, WATCHED, UNWATCHED = "modelcanary-system", "ml", "other"
TOKEN = "operator-service-account-token"
ROLLOUT_API, ISTIO = "modelcanary.io/v1alpha1", "networking.istio.io/v1"


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeApi]:
    with kube_api(namespaces=(RELEASE_NS, WATCHED, UNWATCHED)) as api:
        api.declare_crd_file(OPERATOR / "crds" / "kopf-peerings.yaml")
        yield api


def chart_options(objects: list[Obj], monkeypatch: pytest.MonkeyPatch) -> OperatorOptions:
    """The options the chart's container args give ``modelcanary operator run``."""
    container = operator_container(objects)
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    captured: list[OperatorOptions] = []
    with monkeypatch.context() as patched:
        patched.setattr(controller_operator, "run_operator", captured.append)
        result = CliRunner().invoke(app, container["args"], env=env)
    assert result.exit_code == 0, result.output
    # read when the operator starts (make_registry), not by the command line: kept set for
    # the test, as the pod's environment would be
    if BINDING_ENV in env:
        monkeypatch.setenv(BINDING_ENV, env[BINDING_ENV])
    else:
        monkeypatch.delenv(BINDING_ENV, raising=False)
    # kopf's liveness server would bind the chart's port 8080: not needed here
    return dataclasses.replace(captured[0], liveness=None, tick_seconds=0.3)


class Operator:
    """``controller.operator.operator`` in a thread, authenticated with the token."""

    def __init__(
        self, kube: KubeApi, options: OperatorOptions, *, kopf_retries: bool = False
    ) -> None:
        config = kubernetes.client.Configuration()
        config.host = kube.url
        config.api_key = {"authorization": TOKEN}
        config.api_key_prefix = {"authorization": "Bearer"}
        self.api = kubernetes.client.ApiClient(config)
        self.options = options
        self.kopf_retries = kopf_retries
        """True: the API retries the operator's settings choose (a production operator's),
        instead of the short ones of these tests."""
        self._stop, self._ready = threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kopf-rbac", daemon=True)

    def _run(self) -> None:
        base = kopf.OperatorSettings()  # scanning on: kopf lists/watches namespaces and CRDs
        base.watching.server_timeout = 10
        base.watching.reconnect_backoff = 0.1
        if not self.kopf_retries:
            base.networking.error_backoffs = [0.1, 0.2, 0.5]
        base.queueing.exit_timeout = 0.5
        base.background.cancellation_polling = 0.2
        base.background.instant_exit_timeout = 0.1
        runtime = build_runtime(self.api, metrics_server=self.options.metrics_server)
        try:
            asyncio.run(
                operator(
                    runtime,
                    self.api,
                    self.options,
                    stop_flag=self._stop,
                    ready_flag=self._ready,
                    base_settings=base,
                )
            )
        except BaseException as exc:  # reported by __exit__
            self.error = exc

    def __enter__(self) -> Operator:
        self._thread.start()
        assert self._ready.wait(30), f"the operator did not start: {self.error!r}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self.api.close()
        assert not self._thread.is_alive(), "the operator did not stop"
        assert self.error is None, f"the operator failed: {self.error!r}"


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PromAPI]:
    """Prometheus' query API (tests/prom_api_fake.py): the rollout's ``errors`` query answers
    0, the readiness probe ``vector(1)`` 1; records the token the operator read."""
    server = PromAPI()
    server.values["errors"] = 0.0
    yield server
    server.close()


def wait_for(check: Callable[[], Any], what: str, kube: KubeApi, timeout: float = 60) -> Any:
    """Poll ``check`` (the outcome, never a timing); meanwhile mark Deployments ready as a
    kubelet would and keep kmock's request log short (it scans it on every request)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        for namespace in (WATCHED, UNWATCHED):
            for item in kube.list("apps/v1", "Deployment", namespace):
                replicas = int(item["spec"].get("replicas", 1))
                ready = {
                    "observedGeneration": int(item["metadata"].get("generation") or 1),
                    "replicas": replicas,
                    "updatedReplicas": replicas,
                    "readyReplicas": replicas,
                    "availableReplicas": replicas,
                }
                if any((item.get("status") or {}).get(k) != v for k, v in ready.items()):
                    kube.patch(
                        "apps/v1",
                        "Deployment",
                        namespace,
                        item["metadata"]["name"],
                        {"status": ready},
                    )
        kube.call(lambda: kube.handler._requests.clear())
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def seed(kube: KubeApi, namespace: str, prometheus: str) -> None:
    """A user's Deployment (reading a ConfigMap and a Secret), the Prometheus token Secret and
    a ModelRollout of it (Istio, one 50 % step, revert on deletion), as ``kubectl apply``."""
    labels = {"app": "fraud"}
    container = {
        "name": "model",
        "image": "registry.example/fraud:1",
        "ports": [{"containerPort": 8080}],
        "envFrom": [{"configMapRef": {"name": "fraud-config"}}],
        "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "fraud-keys", "key": "k"}}}],
    }
    objects: list[Obj] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "fraud-config"},
            "data": {"MODE": "strict"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "fraud-keys"},
            "data": {"k": _b64("s3cret")},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "prom-auth"},
            "data": {"token": _b64("prom-token")},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "fraud", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
        {
            "apiVersion": ROLLOUT_API,
            "kind": "ModelRollout",
            "metadata": {"name": "fraud"},
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud"},
                "router": {"provider": "istio"},
                "service": {"port": 8080},
                "revertOnDeletion": True,
                "metricsProvider": {
                    "type": "prometheus",
                    "address": prometheus,
                    "secretRef": {"name": "prom-auth"},
                },
                "analysis": {
                    "interval": "500ms",
                    "threshold": 1,
                    "stepWeights": [50],
                    "metrics": [
                        {"name": "errors", "query": "errors", "thresholdRange": {"max": 0.05}}
                    ],
                },
            },
        },
    ]
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
        kube.create(obj)


def new_revision(kube: KubeApi, namespace: str) -> None:
    """The user ships a new model image and a new key: the challenger, whose promotion
    updates the champion's copy of the Secret (a patch of ``fraud-keys-primary``)."""
    kube.patch("v1", "Secret", namespace, "fraud-keys", {"data": {"k": _b64("n3w")}})
    deployment = kube.get("apps/v1", "Deployment", namespace, "fraud")
    assert deployment is not None
    containers = deployment["spec"]["template"]["spec"]["containers"]
    containers[0]["image"] = "registry.example/fraud:2"
    patch = {"spec": {"template": {"spec": {"containers": containers}}}}
    kube.patch("apps/v1", "Deployment", namespace, "fraud", patch)


def phase(kube: KubeApi, namespace: str) -> str:
    obj = kube.get(ROLLOUT_API, "ModelRollout", namespace, "fraud") or {}
    return str((obj.get("status") or {}).get("phase", ""))


def start(kube: KubeApi, values: Obj, prometheus: PromAPI) -> tuple[list[Obj], Guard]:
    """Render the chart, create its peering objects, seed both namespaces, guard the API."""
    kube.reset()
    objects = helm_render(values, namespace=RELEASE_NS)
    for peering in [o for o in objects if o["kind"] == "KopfPeering"]:
        kube.create(peering)
    for namespace in (WATCHED, UNWATCHED):
        seed(kube, namespace, prometheus.url)
    return objects, Guard(kube, objects, TOKEN)


def test_a_rollout_runs_within_the_default_rbac(
    kube: KubeApi, prometheus: PromAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects, guard = start(kube, {"watchNamespaces": [WATCHED]}, prometheus)
    options = chart_options(objects, monkeypatch)
    assert tuple(options.namespaces) == (WATCHED,) and not options.all_namespaces
    try:
        with Operator(kube, options):
            wait_for(lambda: phase(kube, WATCHED) == "Initialized", "Initialized", kube)
            new_revision(kube, WATCHED)
            wait_for(lambda: phase(kube, WATCHED) == "Succeeded", "promotion", kube)
            # the promotion really copied the Secret and the ConfigMap
            copy = kube.get("v1", "Secret", WATCHED, "fraud-keys-primary")
            assert copy is not None and copy["data"] == {"k": _b64("n3w")}
            assert kube.get("v1", "ConfigMap", WATCHED, "fraud-config-primary") is not None
            kube.delete(ROLLOUT_API, "ModelRollout", WATCHED, "fraud")
            wait_for(
                lambda: kube.get(ROLLOUT_API, "ModelRollout", WATCHED, "fraud") is None,
                "the finalizer reverted and released the rollout",
                kube,
            )
    finally:
        guard.close()
    assert guard.refused() == []
    assert "Bearer prom-token" in prometheus.authorizations  # the token Secret was read
    assert kube.get(ISTIO, "VirtualService", WATCHED, "fraud") is None  # reverted: deleted
    # reverted to the promoted target: it serves behind the apex Service, the champion's
    # copies went with the rollout (the garbage collector, by their ownerReferences)
    target = kube.get("apps/v1", "Deployment", WATCHED, "fraud")
    assert target is not None and target["spec"]["replicas"] == 1
    apex = kube.get("v1", "Service", WATCHED, "fraud")
    assert apex is not None and apex["spec"]["selector"] == {"app": "fraud"}
    for kind, name in (("Deployment", "fraud-primary"), ("Service", "fraud-primary")):
        assert kube.get("apps/v1" if kind == "Deployment" else "v1", kind, WATCHED, name) is None
    assert kube.get("v1", "Secret", WATCHED, "fraud-keys-primary") is None
    # every kind of call the operator makes was exercised, kopf's own included
    made = {(c.verb, c.group, c.resource, c.namespace) for c, _ in guard.calls}
    expected = {
        ("list", "", "namespaces", None),
        ("watch", "", "namespaces", None),
        ("list", "apiextensions.k8s.io", "customresourcedefinitions", None),
        ("watch", "apiextensions.k8s.io", "customresourcedefinitions", None),
        ("watch", "kopf.dev", "kopfpeerings", WATCHED),
        ("patch", "kopf.dev", "kopfpeerings", WATCHED),
        ("watch", "modelcanary.io", "modelrollouts", WATCHED),
        ("patch", "modelcanary.io", "modelrollouts", WATCHED),
        ("patch", "modelcanary.io", "modelrollouts/status", WATCHED),
        ("create", "", "events", WATCHED),
        ("get", "", "secrets", WATCHED),
        ("create", "", "secrets", WATCHED),
        ("patch", "", "secrets", WATCHED),
        ("create", "", "configmaps", WATCHED),
        ("create", "apps", "deployments", WATCHED),
        ("patch", "apps", "deployments", WATCHED),
        ("create", "", "services", WATCHED),
        ("create", "networking.istio.io", "virtualservices", WATCHED),
        ("delete", "networking.istio.io", "virtualservices", WATCHED),
    }
    assert expected <= made, expected - made
    # the rollout of the namespace it does not watch was never touched nor even read
    assert not [c for c, _ in guard.calls if c.namespace == UNWATCHED]
    untouched = kube.get(ROLLOUT_API, "ModelRollout", UNWATCHED, "fraud")
    assert untouched is not None and FINALIZER not in (
        untouched["metadata"].get("finalizers") or []
    )
    assert kube.get("apps/v1", "Deployment", UNWATCHED, "fraud-primary") is None


def test_the_guard_refuses_what_the_rbac_does_not_grant(
    kube: KubeApi, prometheus: PromAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Secret copies (rbac.secretCopies: false) the copy of the target's Secret to
    -primary (made when the champion is first created) is refused, and only that."""
    values = {"watchNamespaces": [WATCHED], "rbac": {"secretCopies": False}}
    objects, guard = start(kube, values, prometheus)
    try:
        with Operator(kube, chart_options(objects, monkeypatch)):
            wait_for(guard.refused, "a refused call", kube)
    finally:
        guard.close()
    refused = {(c.verb, c.group, c.resource, c.namespace) for c in guard.refused()}
    assert refused == {("create", "", "secrets", WATCHED)}
    assert kube.get("v1", "Secret", WATCHED, "fraud-keys-primary") is None
    assert phase(kube, WATCHED) != "Initialized"


def test_a_refused_call_shows_in_a_status_condition(
    kube: KubeApi, prometheus: PromAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14, 3.4: a 403 (here: Istio missing from rbac.routers) is not only in the log:
    the rollout's ``Reconciled=False`` condition names the verb, resource and the fix."""
    values = {"watchNamespaces": [WATCHED], "rbac": {"routers": ["gatewayapi"]}}
    objects, guard = start(kube, values, prometheus)

    def condition() -> Obj | None:
        obj = kube.get(ROLLOUT_API, "ModelRollout", WATCHED, "fraud") or {}
        found = [c for c in (obj.get("status") or {}).get("conditions") or []]
        return next((c for c in found if c["type"] == "Reconciled"), None)

    def forbidden_events() -> list[Obj]:
        return [
            e
            for e in kube.list("v1", "Event", WATCHED)
            if (e.get("involvedObject") or {}).get("name") == "fraud" and e["reason"] == "Forbidden"
        ]

    try:
        with Operator(kube, chart_options(objects, monkeypatch)):
            found = wait_for(condition, "the Reconciled condition", kube)
            events = wait_for(forbidden_events, "a Forbidden Event", kube)
    finally:
        guard.close()
    assert found["status"] == "False" and found["reason"] == "Forbidden"
    assert "networking.istio.io" in found["message"] and "fix: grant" in found["message"]
    assert events[0]["type"] == "Warning"
