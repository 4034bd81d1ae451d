"""``notebooks/05-llm-rollout.ipynb`` top to bottom in a real kernel (nbclient, the venv's
python): three LLM simulators on loopback, a faster but worse challenger rolled back on win
rate, a better one promoted, the widget's LLM view drawn, ``mc.compare_llm`` offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ipykernel  # noqa: F401 - the kernel the notebook runs on
import nbclient
import nbformat

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "05-llm-rollout.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _execute() -> Any:
    book = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        book,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        store_widget_state=True,
    )
    client.execute()
    return book


def _outputs(book: Any) -> str:
    parts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for mime, data in out.get("data", {}).items():
                parts.append(mime)
                parts.append(data if isinstance(data, str) else json.dumps(data))
    return "\n".join(parts)


def test_notebook_05_is_committed_without_outputs() -> None:
    book = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert "widgets" not in book.metadata


def test_notebook_05_rolls_back_the_worse_challenger_and_promotes_the_better() -> None:
    book = _execute()
    text = _outputs(book)
    # the fast challenger: rolled back on win rate (the notebook asserts the outcome too)
    assert "Failed rolled_back" in text
    assert "worse than the champion's by more than the margin" in text
    assert "below the floor 0.45: fail" in text
    assert "TTFT p50 champion" in text and "512-2047 tokens" in text
    assert "mirrored prompts" in text
    # the better one: promoted
    assert "Succeeded promoted" in text
    # compare_llm offline: the same verdicts on the task set
    assert "fast_but_worse {" in text and "better {" in text
    fast = text.split("fast_but_worse {", 1)[1].split("}", 1)[0]
    good = text.split("better {", 1)[1].split("}", 1)[0]
    assert "'verdict': 'fail'" in fast and "'verdict': 'pass'" in good
    assert "simulators stopped" in text
    # the live widget with its LLM view (saved widget state: the figures' titles)
    assert WIDGET_VIEW in text
    state = json.dumps(book.metadata["widgets"]["application/vnd.jupyter.widget-state+json"])
    assert "time to first token by prompt length" in state
    assert "challenger win rate: always-valid band" in state
