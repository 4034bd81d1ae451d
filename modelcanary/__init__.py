"""modelcanary: progressive delivery for ML models.

The public API is loaded lazily so ``import modelcanary`` stays fast and never imports
kubernetes, mlflow, plotly or pandas::

    import modelcanary as mc
    rollout = (mc.Rollout("fraud").champion("models:/fraud@champion")
               .challenger("models:/fraud/4").canary(steps=[5, 10, 25, 50], interval="1m")
               .slo(mc.sli.error_rate() < "1%", mc.sli.latency(p=99) < "250ms"))
    spec = rollout.build()

Type checkers see the real names (the imports under ``TYPE_CHECKING``), so ``mc.Rollout`` is
the builder class, not ``Any``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from ._files import load, loads
    from .builder import Rollout, sli, step
    from .errors import ModelCanaryError, SpecError
    from .integrations import _mlflow_api as mlflow
    from .notebook import (
        backtest,
        cluster,
        compare_llm,
        compare_predictions,
        power,
        run_local,
        sample_plan,
    )
    from .spec import ModelRollout, Pricing

__version__ = "0.1.0"

_NAMES: dict[str, str] = {
    "Rollout": ".builder",
    "sli": ".builder",
    "step": ".builder",
    "load": "._files",
    "loads": "._files",
    "run_local": ".notebook",
    "cluster": ".notebook",
    "power": ".notebook",
    "sample_plan": ".notebook",
    "backtest": ".notebook",
    "compare_predictions": ".notebook",
    "compare_llm": ".notebook",
    "ModelRollout": ".spec",
    "Pricing": ".spec",
    "SpecError": ".errors",
    "ModelCanaryError": ".errors",
}
_MODULES: dict[str, str] = {"mlflow": ".integrations._mlflow_api"}
"""Submodules exposed under a short name: ``mc.mlflow.promote_if_better(...)``."""
# (no ``mc.local``: ``modelcanary.local`` is the runtime subpackage, and importing it rebinds
# the name; the notebook's ``local()`` is ``modelcanary.notebook.local``)

__all__ = [
    "ModelCanaryError",
    "ModelRollout",
    "Pricing",
    "Rollout",
    "SpecError",
    "__version__",
    "backtest",
    "cluster",
    "compare_llm",
    "compare_predictions",
    "load",
    "loads",
    "mlflow",
    "power",
    "run_local",
    "sample_plan",
    "sli",
    "step",
]

if not TYPE_CHECKING:  # type checkers use the imports above: an unknown name is an error
    __getattr__, __dir__ = lazy_exports(__name__, _NAMES, _MODULES)
