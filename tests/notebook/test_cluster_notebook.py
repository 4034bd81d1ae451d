"""``notebooks/04-cluster.ipynb`` top to bottom in a real kernel against a cluster: the kmock
API server with the operator running in-process (as the controller tests run it), a kubelet
marking its Deployments ready, and a real Prometheus scraping two real model servers labelled
as the operator's pods. The notebook's analysis, its charts and its abort are the real ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cluster_fixtures import NS, ROLLOUT_API, PodPrometheus, model_servers, pod_prometheus
from controller_fixtures import OperatorThread
from kube_fixtures import KubeApi
from notebook_exec import NOTEBOOKS, WIDGET_VIEW, committed_clean, execute, outputs
from notebook_fixtures import save_models

NOTEBOOK = NOTEBOOKS / "04-cluster.ipynb"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodPrometheus]:
    """Healthy champion and challenger servers under load, scraped as the pods of ``fraud``."""
    models = save_models(tmp_path_factory.mktemp("notebook-models"))
    with (
        model_servers(models.champion, models.challenger, models.payloads[0]) as servers,
        pod_prometheus(*servers) as server,
    ):
        yield server


def test_notebook_is_committed_without_outputs() -> None:
    book = committed_clean(NOTEBOOK)
    sources = "\n".join(cell.source for cell in book.cells)
    assert 'run = mc.cluster(namespace="ml").submit(rollout)' in sources
    assert "status = run.wait()" in sources


def test_cluster_notebook_submits_watches_charts_and_aborts(
    ml_kube: KubeApi,
    ml_operator: OperatorThread,
    prometheus: PodPrometheus,
    kubeconfig: str,
    clean_ml: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", kubeconfig)  # the kernel's "current context"
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("PROMETHEUS_URL", prometheus.url)
    book = execute(NOTEBOOK, timeout=240)
    text = outputs(book, errors=True)

    assert "Succeeded promoted" in text  # run.wait() after the first submit
    assert "Failed aborted" in text and "aborted by user" in text  # the widget's Abort
    assert text.count(WIDGET_VIEW) >= 2  # both runs displayed the live widget
    state = book.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any("Promote now" in json.dumps(m["state"]) for m in state.values())
    assert "error-rate" in text and "latency-p99" in text  # the history DataFrame
    assert "champion error-rate max: 0.0" in text  # the series from the real Prometheus

    stored = ml_kube.get(ROLLOUT_API, "ModelRollout", NS, "fraud")
    assert stored is not None
    assert stored["spec"]["challenger"]["modelUri"] == "models:/fraud/5"
    assert stored["status"]["outcome"] == "aborted"
    assert stored["metadata"]["annotations"]["modelcanary.io/action"] == "abort"
    assert stored["status"]["history"]  # the operator analysed the real series
