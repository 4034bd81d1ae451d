"""The committed notebooks run top to bottom in a real kernel (nbclient, the venv's python)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ipykernel  # noqa: F401 - the kernel the notebooks run on
import nbclient
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def execute(name: str, timeout: int = 180) -> Any:
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        book,
        timeout=timeout,
        kernel_name="python3",  # jupyter_client starts it with this interpreter (the venv)
        resources={"metadata": {"path": str(NOTEBOOKS)}},
        store_widget_state=True,
    )
    client.execute()
    return book


def outputs(book: Any) -> str:
    """Every output's text, html and mime types, as one searchable string."""
    parts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for mime, data in out.get("data", {}).items():
                parts.append(mime)
                parts.append(data if isinstance(data, str) else json.dumps(data))
    return "\n".join(parts)


@pytest.mark.parametrize(
    "name", ["01-quickstart.ipynb", "02-mlflow-promotion.ipynb", "03-tune-slos-with-backtest.ipynb"]
)
def test_notebooks_are_committed_without_outputs(name: str) -> None:
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, name
    assert "widgets" not in book.metadata


def test_quickstart_runs_and_shows_the_live_widget() -> None:
    book = execute("01-quickstart.ipynb")
    text = outputs(book)
    assert "Succeeded promoted" in text
    assert WIDGET_VIEW in text  # the run cell displayed the live widget
    state = book.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = {m["model_name"] for m in state.values()}
    assert {"VBoxModel", "ButtonModel", "HTMLModel"} <= models
    assert any("Promote now" in json.dumps(m["state"]) for m in state.values())
    assert "error-rate" in text and "latency-p99" in text  # history DataFrame
    assert "quickstart-report.html True" in text


def test_mlflow_promotion_moves_the_alias() -> None:
    text = outputs(execute("02-mlflow-promotion.ipynb"))
    assert "promoted: champion alias now on v2" in text


def test_tune_slos_backtest_power_and_agreement() -> None:
    text = outputs(execute("03-tune-slos-with-backtest.ipynb"))
    assert "every variant promotes the healthy challenger and rolls back the regression" in text
    assert "detection_probability" in text and "median_requests_exposed" in text
    assert "Agreement" in text and "wasserstein" in text
