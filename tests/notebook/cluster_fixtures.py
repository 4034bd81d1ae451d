"""Fixtures of the notebook's cluster tests: the kmock API with an ``ml`` namespace, the kopf
operator in-process on it (as the controller tests run it), a kubelet marking Deployments
ready, a kubeconfig pointing at it, and a Prometheus-API server whose values the test sets.

The operator, ``Kubelet`` and ``PromAPI`` are the controller tests' own
(``tests/controller/controller_fixtures.py``), put on ``sys.path`` here as
``tests/argocd/conftest.py`` does.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "controller"))

from controller_fixtures import Kubelet, OperatorThread, PromAPI, forget_requests
from kube_fixtures import KubeApi, kube_api

import modelcanary as mc

NS = "ml"
ROLLOUT_API = "modelcanary.io/v1alpha1"


@pytest.fixture(scope="module")
def ml_kube() -> Iterator[KubeApi]:
    """The mock API (ModelRollout, Istio, Gateway API CRDs) with namespaces default and ml."""
    with kube_api(namespaces=("default", NS)) as api:
        yield api


@pytest.fixture(scope="module")
def ml_prom() -> Iterator[PromAPI]:
    server = PromAPI()
    yield server
    server.close()


@pytest.fixture(scope="module")
def ml_operator(ml_kube: KubeApi) -> Iterator[OperatorThread]:
    """The kopf operator watching ``ml`` (0.3 s ticks) and a kubelet for its Deployments."""
    kubelet = Kubelet(ml_kube, NS).start()
    operator = OperatorThread(ml_kube.api_client, namespaces=(NS,), tick_seconds=0.3).start()
    yield operator
    operator.stop()
    kubelet.stop()


@pytest.fixture
def kubeconfig(ml_kube: KubeApi, tmp_path: Path) -> str:
    """A kubeconfig whose current context points at the mock API, namespace ``ml``."""
    path = ml_kube.kubeconfig(tmp_path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["contexts"][0]["context"]["namespace"] = NS
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


@pytest.fixture
def clean_ml(ml_kube: KubeApi) -> Iterator[None]:
    """An empty ``ml`` namespace (every rollout and object of the previous test gone)."""
    ml_kube.reset()
    forget_requests(ml_kube)
    yield


def fraud(prom_url: str, name: str = "fraud", challenger: str = "models:/fraud/4") -> Any:
    """An MLflow champion/challenger rollout for the operator: Istio, two canary steps, one
    custom check ``errors_query{rollout=NAME} < 0.05`` answered by the PromAPI."""
    return (
        mc.Rollout(name)
        .champion("models:/fraud@champion")
        .challenger(challenger)
        .router("istio", port=8080)
        .metrics_provider("prometheus", prom_url)
        .canary(steps=[30, 60], interval="500ms", threshold=1)
        .slo(mc.sli.custom("errors", f"errors_query{{rollout='{name}'}}") < 0.05)
    )


def history_record(weight: int, second: int, errors: float = 0.0) -> dict[str, Any]:
    """One passing interval of ``status.history`` at ``weight`` % (an ``errors`` check)."""
    return {
        "time": f"2026-01-01T00:00:{second:02d}Z",
        "phase": "Progressing",
        "canaryWeight": weight,
        "verdict": "pass",
        "checks": [{"metric": "errors", "value": errors, "max": 0.05, "verdict": "pass"}],
    }


def stored(kube: KubeApi, name: str) -> dict[str, Any] | None:
    return kube.get(ROLLOUT_API, "ModelRollout", NS, name)


# -- a real Prometheus scraping real model servers, labelled as Kubernetes pods --------------
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers"))

from prom_fixtures import PROMETHEUS, Prometheus, wait_until  # noqa: E402

from modelcanary.serving import Faults, ModelServer  # noqa: E402

CHAMPION_POD, CHALLENGER_POD = "fraud-primary-5d9f8b7c6-x2k4p", "fraud-canary-7c6b5d4f8-q9w8e"
"""Pod names of the rollout ``fraud`` (``modelcanary-model`` scheme: primary / canary pods)."""


class PodPrometheus(Prometheus):
    """/usr/bin/prometheus scraping each target with the ``namespace`` and ``pod`` labels that
    Kubernetes service discovery would give it (1 s scrapes)."""

    def __init__(self, workdir: Path, pods: dict[str, str]) -> None:
        self.pods = pods  # host:port -> pod name
        super().__init__(workdir, {})

    def _write_config(self) -> None:
        lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s", "scrape_configs:"]
        for i, (target, pod) in enumerate(sorted(self.pods.items())):
            lines += [
                f"  - job_name: pod{i}",
                "    static_configs:",
                f"      - targets: [{target!r}]",
                f"        labels: {{namespace: {NS}, pod: {pod}}}",
            ]
        self.config.write_text("\n".join(lines) + "\n")


@contextlib.contextmanager
def model_servers(
    champion: str, challenger: str, payload: bytes, faults: Faults | None = None
) -> Iterator[tuple[ModelServer, ModelServer]]:
    """Both versions served on loopback (the challenger with ``faults``), each sent a request
    every ~20 ms from a thread, as the mesh would."""
    servers = (
        ModelServer(champion, model_name="fraud", model_version="3").start(),
        ModelServer(challenger, model_name="fraud", model_version="4", faults=faults).start(),
    )
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                for server in servers:
                    http.post(
                        f"{server.url}/invocations",
                        content=payload,
                        headers={"Content-Type": "application/json"},
                    )
                stop.wait(0.02)

    sender = threading.Thread(target=traffic, name="mesh-traffic", daemon=True)
    sender.start()
    try:
        yield servers
    finally:
        stop.set()
        sender.join(10)
        for server in servers:
            server.stop()


@contextlib.contextmanager
def pod_prometheus(champion: ModelServer, challenger: ModelServer) -> Iterator[PodPrometheus]:
    """A real Prometheus scraping both servers as the pods of ``fraud`` in ``ml``, yielded
    once it holds a dozen scrapes of each with traffic in between."""
    if not Path(PROMETHEUS).exists():  # a missing server is a failure, never a skip
        pytest.fail(f"{PROMETHEUS} is missing: apt-get install --no-install-recommends prometheus")
    pods = {
        champion.url.removeprefix("http://"): CHAMPION_POD,
        challenger.url.removeprefix("http://"): CHALLENGER_POD,
    }
    scrapes = f'count_over_time(up{{namespace="{NS}"}}[1m])'
    counted = f'sum by (pod) (increase(modelcanary_model_requests_total{{namespace="{NS}"}}[3s]))'
    with tempfile.TemporaryDirectory(prefix="mc-prom-") as tmp:
        server = PodPrometheus(Path(tmp), pods)
        try:
            wait_until(
                lambda: (
                    sum(float(r["value"][1]) > 0 for r in server.query(counted)) == 2
                    and sum(float(r["value"][1]) >= 12 for r in server.query(scrapes)) == 2
                ),
                timeout=120,
                what="12 scrapes of both model servers, with requests counted",
            )
            yield server
        finally:
            server.stop()
