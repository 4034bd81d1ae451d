"""Lazy exports for package ``__init__`` modules (PEP 562), written once.

A package whose public names pull in heavy dependencies (pydantic models, httpx, plotly,
mlflow) exports them lazily, so importing the package costs nothing until a name is used::

    from typing import TYPE_CHECKING

    from .._lazy import lazy_exports

    if TYPE_CHECKING:  # type checkers see the real names and types
        from .run import NotebookRun, run_local

    if not TYPE_CHECKING:
        __getattr__, __dir__ = lazy_exports(__name__, {"NotebookRun": ".run", "run_local": ".run"})

Type checkers read the ``TYPE_CHECKING`` imports and never see the ``__getattr__`` (it would
make every unknown name ``Any``): a lazily loaded name has its real type and a misspelt one is
an error. ``tests/test_public_types.py`` checks that the two lists agree. Standard library
only, so any layer may use it (bottom layer, beside ``errors``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str,
    names: Mapping[str, str],
    modules: Mapping[str, str] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``.

    ``names`` maps each exported name to the module defining it (``".run"`` relative to the
    package, or absolute); ``modules`` maps a name to a module exported whole (``mc.mlflow``).
    The first access imports the module and stores the value in the package, so later
    accesses are plain attribute lookups. An unknown name raises ``AttributeError``.
    """
    exported = dict(names)
    whole = dict(modules or {})

    def __getattr__(name: str) -> Any:
        if name in whole:
            value: Any = importlib.import_module(whole[name], package)
        elif name in exported:
            value = getattr(importlib.import_module(exported[name], package), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exported) | set(whole))

    return __getattr__, __dir__
