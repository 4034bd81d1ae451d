"""Running the committed notebooks in a real kernel (nbclient, the venv's python) and reading
what they showed, shared by the notebook tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ipykernel  # noqa: F401 - the kernel the notebooks run on
import nbclient
import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def execute(path: Path, timeout: int) -> Any:
    """The notebook at ``path`` run top to bottom (its directory as the working directory),
    widget state stored in its metadata."""
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book,
        timeout=timeout,
        kernel_name="python3",  # jupyter_client starts it with this interpreter (the venv)
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    client.execute()
    return book


def outputs(book: Any, *, errors: bool = False) -> str:
    """Every output's text, html and mime types (and with ``errors`` the exceptions'
    values), as one searchable string."""
    parts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            if errors:
                parts.append(out.get("evalue", ""))
            for mime, data in out.get("data", {}).items():
                parts.append(mime)
                parts.append(data if isinstance(data, str) else json.dumps(data))
    return "\n".join(parts)


def committed_clean(path: Path) -> Any:
    """The notebook at ``path``, asserted valid and committed without outputs, execution
    counts or widget state."""
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name
    assert "widgets" not in book.metadata
    return book
