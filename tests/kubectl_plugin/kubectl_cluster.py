"""A cluster for the kubectl plugin: the real operator runtime (``build_runtime``) ticked by
hand on the kmock API, with a real Prometheus-API server answering the rollout's check and the
controller tests' kubelet marking Deployments ready.

``launch(kube, prom, name)`` creates what a user has (a ConfigMap, a Deployment using it, an
HPA scaling it, a ModelRollout with ``autoscalerRef``) in namespace ``ml`` and lets the operator
take the rollout to ``Progressing`` at 30%: the champion Deployment, its ConfigMap and HPA
copies, three Services, the Istio DestinationRules and VirtualService all exist by then.

Fixtures (import them into a test module and re-export through ``__all__``): ``kube``, the
mock API with the namespaces ``default`` and ``ml``; ``config``, a kubeconfig on it whose
context's namespace is ``ml``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from controller_fixtures import ROLLOUT_API, Kubelet, PromAPI, deployment, rollout_doc
from kube_fixtures import KubeApi, kube_api

from modelcanary.controller._runtime import OperatorRuntime, build_runtime
from modelcanary.engine import ManualClock

NS = "ml"


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeApi]:
    """The mock API with the namespaces ``default`` and ``ml``, one per test module."""
    with kube_api(namespaces=("default", NS)) as api:
        yield api


@pytest.fixture(scope="module")
def config(kube: KubeApi, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A kubeconfig on ``kube`` whose current context's namespace is ``ml``."""
    return str(kubeconfig(kube, tmp_path_factory.mktemp("kubeconfig")))


class Operator:
    """The operator's runtime for one rollout, one tick per call (clock: one interval)."""

    def __init__(self, kube: KubeApi, name: str) -> None:
        self.kube, self.name = kube, name
        self.clock = ManualClock()
        self.runtime: OperatorRuntime = build_runtime(kube.api_client, clock=self.clock)
        self.kubelet = Kubelet(kube, NS)

    def status(self) -> dict[str, Any]:
        obj = self.kube.get(ROLLOUT_API, "ModelRollout", NS, self.name) or {}
        return dict(obj.get("status") or {})

    def tick(self) -> None:
        self.runtime.tick(self.name, NS)
        self.kubelet.sync()
        self.clock.advance(60)

    def until(self, done: Callable[[dict[str, Any]], bool], what: str, limit: int = 30) -> None:
        for _ in range(limit):
            if done(self.status()):
                return
            self.tick()
        raise AssertionError(f"{self.name} never reached {what}: {self.status()}")


def launch(kube: KubeApi, prom: PromAPI, name: str) -> Operator:
    """The user's objects and the rollout, taken by the operator to Progressing at 30%."""
    prom.values[f"rollout='{name}'"] = 0.0
    config = f"{name}-config"
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": config, "namespace": NS},
            "data": {"MODEL_THRESHOLD": "0.7"},
        }
    )
    app = _in_ml(deployment(name))
    app["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [
        {"configMapRef": {"name": config}}
    ]
    kube.create(app)
    kube.create(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": 2,
                "maxReplicas": 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 80},
                        },
                    }
                ],
            },
        }
    )
    doc = _in_ml(rollout_doc(name, prometheus=prom.url, interval="1m"))
    doc["spec"]["autoscalerRef"] = {"apiVersion": "autoscaling/v2", "name": name}
    kube.create(doc)
    operator = Operator(kube, name)
    operator.until(lambda s: s.get("phase") == "Initialized", "Initialized")
    container = {"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.0.1"}
    container |= {
        "ports": [{"containerPort": 9898}],
        "envFrom": [{"configMapRef": {"name": config}}],
    }
    kube.patch(
        "apps/v1",
        "Deployment",
        NS,
        name,
        {"spec": {"template": {"spec": {"containers": [container]}}}},
    )
    operator.until(lambda s: s.get("phase") == "Progressing" and s.get("canaryWeight") == 30, "30%")
    return operator


def versions_doc(prom: PromAPI, champion: str, **analysis: Any) -> dict[str, Any]:
    """ModelRollout ``fraud`` in ``ml`` as stored: model version ``champion`` against
    ``models:/fraud/2`` behind Istio, steps 20 and 40 of one minute, judged on ``prom``'s
    ``errors_query{rollout='fraud'}`` (at most 0.05); ``analysis`` adds to the analysis."""
    return {
        "apiVersion": ROLLOUT_API,
        "kind": "ModelRollout",
        "metadata": {"name": "fraud", "namespace": NS},
        "spec": {
            "champion": {"modelUri": champion},
            "challenger": {"modelUri": "models:/fraud/2"},
            "router": {"provider": "istio"},
            "metricsProvider": {"type": "prometheus", "address": prom.url},
            "analysis": {
                "interval": "1m",
                "stepWeights": [20, 40],
                **analysis,
                "metrics": [
                    {
                        "name": "errors",
                        "query": "errors_query{rollout='fraud'}",
                        "thresholdRange": {"max": 0.05},
                    }
                ],
            },
        },
    }


def _in_ml(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"]["namespace"] = NS
    return obj


def kubeconfig(kube: KubeApi, directory: Path, namespace: str = NS) -> Path:
    """A kubeconfig for the mock whose current context's namespace is ``namespace``."""
    path = directory / "kubeconfig"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": kube.url}}],
        "users": [{"name": "kmock", "user": {"token": "kmock"}}],
        "contexts": [
            {
                "name": "ml",
                "context": {"cluster": "kmock", "user": "kmock", "namespace": namespace},
            },
            {"name": "plain", "context": {"cluster": "kmock", "user": "kmock"}},
        ],
        "current-context": "ml",
    }
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path
