"""A rollout in a cluster shown in a notebook keeps its result: once ``ClusterRun.wait()`` sees
the decision, every output that displayed the run is updated in place to the final static HTML
(outcome, last checks, charts), as the local ``NotebookRun.wait()`` does. A reloaded notebook,
nbviewer, GitHub or an HTML export then shows the result, not the status as of the display.

A real kernel (nbclient) against the kmock API server; the statuses are written here as the
operator would (status subresource patches). The widget stopped following before the decision
(``close()``: the kernel is still alive, nothing else publishes the result), so only ``wait()``
can update the output: before the fix the displayed cell kept the "Progressing" status it was
shown with.
"""

from __future__ import annotations

from pathlib import Path

import ipykernel  # noqa: F401 - the kernel the notebook runs on
import nbclient
import nbformat
import pytest
from cluster_fixtures import NS, ROLLOUT_API, fraud, history_record
from kube_fixtures import KubeApi

from modelcanary.controller._cluster import resource

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_cluster_wait_updates_the_displayed_output_to_the_final_html(
    ml_kube: KubeApi, kubeconfig: str, clean_ml: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    ml_kube.create(resource(fraud("http://prometheus.monitoring:9090").build(), NS))
    history = [history_record(30, 1, errors=0.01)]
    ml_kube.patch(
        ROLLOUT_API,
        "ModelRollout",
        NS,
        "fraud",
        {"status": {"phase": "Progressing", "canaryWeight": 30, "history": history}},
    )

    book = nbformat.v4.new_notebook()
    book.cells = [
        nbformat.v4.new_code_cell(
            "import modelcanary as mc\n"
            f"run = mc.cluster(kubeconfig={kubeconfig!r}).get('fraud')\n"
            "run"
        ),
        nbformat.v4.new_code_cell("run.close()"),  # the widget stops following
        nbformat.v4.new_code_cell("print(run.wait(120).outcome)"),
    ]
    client = nbclient.NotebookClient(
        book,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(__file__).parent)}},
    )
    final = {
        "phase": "Succeeded",
        "canaryWeight": 0,
        "outcome": "promoted",
        "message": "challenger promoted",
        "history": [*history, history_record(60, 2, errors=0.01)],
    }
    with client.setup_kernel():
        client.execute_cell(book.cells[0], 0)
        (shown,) = book.cells[0].outputs
        assert "plotly-graph-div" not in shown.data["text/html"]  # live: the status as of now
        client.execute_cell(book.cells[1], 1)
        ml_kube.patch(ROLLOUT_API, "ModelRollout", NS, "fraud", {"status": final})
        client.execute_cell(book.cells[2], 2)
    assert "promoted" in book.cells[2].outputs[0].text
    (shown,) = book.cells[0].outputs
    assert shown.output_type == "display_data"
    assert WIDGET_VIEW in shown.data  # the live widget's view, still there
    html = shown.data["text/html"]
    assert "Outcome: promoted" in html and "challenger promoted" in html
    assert html.count('class="plotly-graph-div"') == 2  # traffic and the errors check
    assert "<table" in html  # the last interval's checks
