"""Notebook experience: a live rollout widget, history as a DataFrame, and SLO-tuning helpers.

``run_local(rollout)`` starts a rollout on the embedded local runtime and returns a
:class:`NotebookRun` at once; shown in a cell it is a live widget (phase, weights, one chart per
SLI, verdicts, Approve/Pause/Abort/Promote buttons). ``power``, ``backtest``, ``compare_slos``
and ``compare_predictions`` help pick SLOs before a rollout.

Names load lazily: ``import modelcanary.notebook`` imports neither plotly, ipywidgets nor
pandas (they come with the ``notebook`` extra and load on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .helpers import (
        BacktestView,
        PredictionComparison,
        backtest,
        compare_predictions,
        compare_slos,
        power,
    )
    from .run import LocalRuntime, NotebookRun, history_frame, local, run_local
    from .widget import RunWidget

_LAZY: dict[str, str] = {
    "NotebookRun": ".run",
    "run_local": ".run",
    "history_frame": ".run",
    "RunWidget": ".widget",
    "local": ".run",
    "LocalRuntime": ".run",
    "power": ".helpers",
    "backtest": ".helpers",
    "compare_slos": ".helpers",
    "compare_predictions": ".helpers",
    "BacktestView": ".helpers",
    "PredictionComparison": ".helpers",
}

__all__ = [
    "BacktestView",
    "LocalRuntime",
    "NotebookRun",
    "PredictionComparison",
    "RunWidget",
    "backtest",
    "compare_predictions",
    "compare_slos",
    "history_frame",
    "local",
    "power",
    "run_local",
]


if not TYPE_CHECKING:  # type checkers use the imports above
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
