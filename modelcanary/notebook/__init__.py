"""Notebook experience: a live rollout widget, history as a DataFrame, and SLO-tuning helpers.

``run_local(rollout)`` starts a rollout on the embedded local runtime and returns a
:class:`NotebookRun` at once; shown in a cell it is a live widget (phase, weights, one chart per
SLI, verdicts, Approve/Pause/Abort/Promote buttons). ``cluster().submit(rollout)`` hands it to
the operator in a Kubernetes cluster and returns a :class:`ClusterRun` with the same face and
the same widget, fed by a watch on the resource. ``power``, ``sample_plan``, ``backtest``,
``compare_slos`` and ``compare_predictions`` help pick SLOs and plans before a rollout.

Names load lazily: ``import modelcanary.notebook`` imports neither plotly, ipywidgets, pandas
nor kubernetes (they come with the ``notebook`` and ``k8s`` extras and load on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._cluster import Cluster, ClusterRun, cluster
    from ._compare_llm import LLMComparison, compare_llm
    from ._helpers import (
        BacktestView,
        PredictionComparison,
        backtest,
        compare_predictions,
        compare_slos,
        power,
    )
    from ._run import LocalRuntime, NotebookRun, history_frame, local, run_local
    from ._sample_size import sample_plan
    from ._source import StatusSource
    from ._widget import RunWidget

_LAZY: dict[str, str] = {
    "cluster": "._cluster",
    "Cluster": "._cluster",
    "ClusterRun": "._cluster",
    "StatusSource": "._source",
    "NotebookRun": "._run",
    "run_local": "._run",
    "history_frame": "._run",
    "RunWidget": "._widget",
    "local": "._run",
    "LocalRuntime": "._run",
    "power": "._helpers",
    "compare_llm": "._compare_llm",
    "LLMComparison": "._compare_llm",
    "sample_plan": "._sample_size",
    "backtest": "._helpers",
    "compare_slos": "._helpers",
    "compare_predictions": "._helpers",
    "BacktestView": "._helpers",
    "PredictionComparison": "._helpers",
}

__all__ = [
    "BacktestView",
    "Cluster",
    "ClusterRun",
    "LLMComparison",
    "LocalRuntime",
    "NotebookRun",
    "PredictionComparison",
    "RunWidget",
    "StatusSource",
    "backtest",
    "cluster",
    "compare_llm",
    "compare_predictions",
    "compare_slos",
    "history_frame",
    "local",
    "power",
    "run_local",
    "sample_plan",
]


if not TYPE_CHECKING:  # type checkers use the imports above
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
