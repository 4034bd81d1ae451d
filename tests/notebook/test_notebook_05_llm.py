"""``notebooks/05-llm-rollout.ipynb`` top to bottom in a real kernel (nbclient, the venv's
python): three LLM simulators on loopback, a faster but worse challenger rolled back on win
rate, a better one promoted, the widget's LLM view drawn, ``mc.compare_llm`` offline."""

from __future__ import annotations

import json

from notebook_exec import NOTEBOOKS, WIDGET_VIEW, committed_clean, execute, outputs

NOTEBOOK = NOTEBOOKS / "05-llm-rollout.ipynb"


def test_notebook_05_is_committed_without_outputs() -> None:
    committed_clean(NOTEBOOK)


def test_notebook_05_rolls_back_the_worse_challenger_and_promotes_the_better() -> None:
    book = execute(NOTEBOOK, timeout=300)
    text = outputs(book)
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
