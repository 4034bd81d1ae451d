"""modelcanary: progressive delivery for ML models.

The public API is loaded lazily so ``import modelcanary`` stays fast and never imports
kubernetes, mlflow, plotly or pandas::

    import modelcanary as mc
    rollout = (mc.Rollout("fraud").champion("models:/fraud@champion")
               .challenger("models:/fraud/4").canary(steps=[5, 10, 25, 50], interval="1m")
               .slo(mc.sli.error_rate() < "1%", mc.sli.latency(p=99) < "250ms"))
    spec = rollout.build()
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY: dict[str, tuple[str, str]] = {
    "Rollout": ("modelcanary.builder", "Rollout"),
    "sli": ("modelcanary.builder", "sli"),
    "step": ("modelcanary.builder", "step"),
    "load": ("modelcanary.files", "load"),
    "run_local": ("modelcanary.notebook", "run_local"),
    "local": ("modelcanary.notebook", "local"),
    "power": ("modelcanary.notebook", "power"),
    "backtest": ("modelcanary.notebook", "backtest"),
    "compare_predictions": ("modelcanary.notebook", "compare_predictions"),
    "loads": ("modelcanary.files", "loads"),
    "ModelRollout": ("modelcanary.spec", "ModelRollout"),
    "SpecError": ("modelcanary.errors", "SpecError"),
    "ModelCanaryError": ("modelcanary.errors", "ModelCanaryError"),
}

__all__ = ["__version__", *sorted(_LAZY), "mlflow"]


_LAZY_MODULES: dict[str, str] = {"mlflow": "modelcanary.integrations.mlflow_api"}
"""Submodules exposed under a short name: ``mc.mlflow.promote_if_better(...)``."""


def __getattr__(name: str) -> Any:
    """Import public names on first use (PEP 562)."""
    if name in _LAZY_MODULES:
        submodule = importlib.import_module(_LAZY_MODULES[name])
        globals()[name] = submodule
        return submodule
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'modelcanary' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES))
