"""Helpers of the cluster-mode MLflow hook tests: a Kubernetes API (kmock) with the real operator
in a thread, a kubelet marking Deployments ready, a Prometheus API the test steers, and a
receiver that records the registry's alias changes as MLflow delivers them (the alias history).

The controller tests' helpers (``OperatorThread``, ``Kubelet``, ``PromAPI``) are reused from
``tests/controller/controller_fixtures.py`` rather than copied (as tests/argocd does).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "controller"))

from controller_fixtures import Kubelet, OperatorThread, PromAPI, forget_requests
from kube_fixtures import KubeApi, kube_api
from polling import until as poll_until
from ports import closed_url

from modelcanary.controller._cluster import ClusterRollouts
from modelcanary.integrations._mlflow_hook import register_webhook
from modelcanary.integrations._mlflow_hook_receiver import (
    DeliveryVerifier,
    RegistryEvent,
    WebhookReceiver,
)

ROLLOUT_API = "modelcanary.io/v1alpha1"
SECRET = "cluster-test-secret"
GATE = closed_url("/closed")
"""A confirm-promotion gate nobody answers (connection refused): closed until approved."""

TEMPLATE = """\
apiVersion: modelcanary.io/v1alpha1
kind: ModelRollout
metadata: {{name: template}}
spec:
  champion: {{modelUri: "models:/any@champion"}}
  challenger: {{modelUri: "models:/any@challenger"}}
  router: {{provider: istio}}
  metricsProvider: {{type: prometheus, address: "{prometheus}"}}
  progressDeadlineSeconds: 60
  analysis:
    interval: 400ms
    threshold: 1
    stepWeights: [30, 60]
    metrics:
      - name: errors
        query: "errors_query{{rollout='{{{{ target }}}}'}}"
        thresholdRange: {{max: 0.05}}
{gates}"""
GATED = f"""\
    webhooks:
      - name: confirm
        type: confirm-promotion
        url: {GATE}
        timeout: 1s
"""


def template_text(prometheus: str, *, gated: bool) -> str:
    """The cluster template; ``gated``: promotion waits for ``approve`` (WaitingPromotion)."""
    return TEMPLATE.format(prometheus=prometheus, gates=GATED if gated else "")


@dataclass
class Cluster:
    """The kmock API, its kubeconfig, the kubelet and the Prometheus API of one test module."""

    kube: KubeApi
    kubeconfig: Path
    prom: PromAPI

    def rollouts(self) -> ClusterRollouts:
        """A fresh connection, as a hook process would open it."""
        return ClusterRollouts.connect(kubeconfig=str(self.kubeconfig))

    def resource(self, name: str) -> dict[str, Any] | None:
        return self.kube.get(ROLLOUT_API, "ModelRollout", "default", name)

    def status(self, name: str) -> dict[str, Any]:
        return dict((self.resource(name) or {}).get("status") or {})

    def reset(self) -> None:
        """An empty cluster (namespace ``default`` kept) for the next test."""
        self.kube.reset()
        forget_requests(self.kube)
        if self.kube.get("v1", "Namespace", None, "default") is None:
            self.kube.create(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
            )


@contextlib.contextmanager
def cluster(directory: Path) -> Iterator[Cluster]:
    """A kmock API with the kubelet running and a Prometheus API (operator: see ``operator``)."""
    prom = PromAPI()
    try:
        with kube_api() as kube:
            kubelet = Kubelet(kube).start()
            try:
                yield Cluster(kube, kube.kubeconfig(directory), prom)
            finally:
                kubelet.stop()
    finally:
        prom.close()


def operator(world: Cluster) -> OperatorThread:
    """The real operator (kopf, our handlers, the engine) for the namespace ``default``."""
    return OperatorThread(world.kube.api_client, tick_seconds=0.2)


@dataclass
class AliasHistory:
    """Every ``model_version_alias.created`` MLflow delivered: (model, alias, version)."""

    receiver: WebhookReceiver
    webhook: str
    events: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, model: str, alias: str) -> list[str]:
        """Versions the alias of ``model`` was set to, in delivery order."""
        with self.lock:
            return [v for m, a, v in self.events if m == model and a == alias]


@contextlib.contextmanager
def alias_history(uri: str) -> Iterator[AliasHistory]:
    """Record the registry's alias changes through a real MLflow webhook (signed)."""
    history: AliasHistory | None = None

    def record(event: RegistryEvent) -> None:
        assert history is not None
        if event.entity == "model_version_alias" and event.action == "created":
            with history.lock:
                history.events.append((event.name, event.alias or "", event.version or ""))

    receiver = WebhookReceiver(DeliveryVerifier(SECRET), record).start()
    name = f"alias-history-{uuid.uuid4().hex[:8]}"
    webhook = register_webhook(
        uri, receiver.url, SECRET, name=name, events=["model_version_alias.created"]
    )
    history = AliasHistory(receiver, webhook)
    try:
        time.sleep(1.5)  # the server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL (1 s)
        yield history
    finally:
        from mlflow import MlflowClient

        MlflowClient(uri).delete_webhook(webhook)
        receiver.close()


def until(check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """Poll ``check`` until it is truthy (a bound, not a timed assertion)."""
    return poll_until(check, what, timeout, interval=0.1)
