"""Helpers of the controller tests: a Prometheus-API server the test steers (``PromAPI``, from
tests/prom_api_fake.py, shared with the operator bundle tests), a kopf operator in a thread,
the rollout documents and the readiness a test gives Deployments.

``OperatorThread``: ``modelcanary.controller._operator.operator`` (kopf) running in its own
event loop and thread against the kmock API, stopped through kopf's ``stop_flag``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import kopf
import pytest
from polling import until
from prom_api_fake import PromAPI

from modelcanary.controller._operator import OperatorOptions, operator
from modelcanary.controller._runtime import OperatorRuntime, build_runtime

ROLLOUT_API = "modelcanary.io/v1alpha1"
ISTIO_API = "networking.istio.io/v1beta1"


@pytest.fixture(scope="module")
def prom() -> Iterator[PromAPI]:
    """A ``PromAPI`` per test module (re-exported by this directory's conftest.py)."""
    server = PromAPI()
    yield server
    server.close()


class OperatorThread:
    """A kopf operator (our registry and runtime) in a thread; ``stop()`` ends it cleanly."""

    def __init__(
        self,
        api: Any,
        *,
        runtime: OperatorRuntime | None = None,
        namespaces: tuple[str, ...] = ("default",),
        tick_seconds: float = 0.3,
        peering: str | None = None,
        priority: int | None = None,
    ) -> None:
        self.runtime = runtime if runtime is not None else build_runtime(api)
        self.options = OperatorOptions(
            namespaces=namespaces, tick_seconds=tick_seconds, peering=peering, priority=priority
        )
        self._api = api
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kopf-operator", daemon=True)

    def _run(self) -> None:
        base = kopf.OperatorSettings()
        base.scanning.disabled = True  # kmock: no cluster-wide CRD scanning
        base.watching.server_timeout = 10
        base.watching.reconnect_backoff = 0.1
        base.networking.error_backoffs = [0.1, 0.2, 0.5]
        base.queueing.exit_timeout = 0.5  # stop quickly (a production operator drains longer)
        base.background.cancellation_polling = 0.2
        base.background.instant_exit_timeout = 0.1
        base.peering.lifetime = 5  # a stopped peer is considered gone soon
        try:
            asyncio.run(
                operator(
                    self.runtime,
                    self._api,
                    self.options,
                    stop_flag=self._stop,
                    ready_flag=self._ready,
                    base_settings=base,
                )
            )
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def start(self) -> OperatorThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise AssertionError(f"the operator did not start: {self.error!r}")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the operator did not stop"
        assert self.error is None, f"the operator failed: {self.error!r}"

    def __enter__(self) -> OperatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(
    check: Callable[[], Any], what: str, timeout: float = 30.0, interval: float = 0.1
) -> Any:
    """Poll ``check`` until it returns something truthy (the test's outcome, not a timing)."""
    return until(check, what, timeout, interval)


def rollout_doc(
    name: str = "podinfo",
    *,
    prometheus: str,
    weights: tuple[int, ...] = (30, 60),
    threshold: int = 1,
    interval: str = "500ms",
) -> dict[str, Any]:
    """A targetRef + Istio ModelRollout whose one check is ``errors_query`` <= 0.05."""
    return {
        "apiVersion": ROLLOUT_API,
        "kind": "ModelRollout",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "router": {"provider": "istio"},
            "service": {"port": 9898},
            "metricsProvider": {"type": "prometheus", "address": prometheus},
            "analysis": {
                "interval": interval,
                "threshold": threshold,
                "stepWeights": list(weights),
                "metrics": [
                    {
                        "name": "errors",
                        "query": f"errors_query{{rollout='{name}'}}",
                        "thresholdRange": {"max": 0.05},
                    }
                ],
            },
        },
    }


def deployment(name: str, image: str = "ghcr.io/stefanprodan/podinfo:6.0.0") -> dict[str, Any]:
    """The user's Deployment a targetRef rollout starts from."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "podinfo", "image": image, "ports": [{"containerPort": 9898}]}
                    ]
                },
            },
        },
    }


def forget_requests(kube: Any) -> None:
    """Drop kmock's log of served requests: kmock 0.8 scans it on every request, so a test
    making thousands of calls slows down quadratically (these tests never assert on it)."""
    kube.call(lambda: kube.handler._requests.clear())


class Kubelet:
    """Marks Deployments ready as the cluster would once their pods run: status replicas,
    ready/updated/available = spec.replicas, observedGeneration = generation (a patch of each
    Deployment's status by the test, in a background thread; ``paused`` holds it). It also
    keeps kmock's request log short (see :func:`forget_requests`)."""

    def __init__(self, kube: Any, namespace: str = "default") -> None:
        self.kube = kube
        self.namespace = namespace
        self.paused = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kubelet", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.paused:
                with contextlib.suppress(Exception):  # the API may be between tests: retry
                    self.sync()
            forget_requests(self.kube)
            self._stop.wait(0.2)

    def sync(self) -> None:
        """One pass: every Deployment whose status lags its spec gets a ready status."""
        for item in self.kube.list("apps/v1", "Deployment", self.namespace):
            meta, spec = item["metadata"], item.get("spec") or {}
            desired = int(spec.get("replicas", 1))
            want = {
                "observedGeneration": int(meta.get("generation") or 1),
                "replicas": desired,
                "updatedReplicas": desired,
                "readyReplicas": desired,
                "availableReplicas": desired,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                ],
            }
            status = item.get("status") or {}
            if any(status.get(k) != v for k, v in want.items()):
                self.kube.patch(
                    "apps/v1",
                    "Deployment",
                    self.namespace,
                    meta["name"],
                    {"status": want},
                    manager="kube-controller-manager",  # as the deployment controller
                )

    def start(self) -> Kubelet:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture(scope="module")
def kubelet(kube: Any) -> Iterator[Kubelet]:
    """Marks the module's Deployments ready, as a kubelet would (one per test module)."""
    runner = Kubelet(kube).start()
    yield runner
    runner.stop()


def rollout_status(kube: Any, name: str, namespace: str = "default") -> dict[str, Any]:
    """The stored status of ModelRollout ``name`` ({} when missing or not written yet)."""
    return (kube.get(ROLLOUT_API, "ModelRollout", namespace, name) or {}).get("status") or {}
