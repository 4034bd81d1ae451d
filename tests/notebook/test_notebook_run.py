"""The committed notebooks run top to bottom in a real kernel (nbclient, the venv's python)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from notebook_exec import NOTEBOOKS, WIDGET_VIEW, committed_clean, outputs
from notebook_exec import execute as execute_path


def execute(name: str, timeout: int = 180) -> Any:
    return execute_path(NOTEBOOKS / name, timeout)


@pytest.mark.parametrize(
    "name", ["01-quickstart.ipynb", "02-mlflow-promotion.ipynb", "03-tune-slos-with-backtest.ipynb"]
)
def test_notebooks_are_committed_without_outputs(name: str) -> None:
    committed_clean(NOTEBOOKS / name)


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
