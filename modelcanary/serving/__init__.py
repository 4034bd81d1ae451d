"""The model server: one MLflow pyfunc model over HTTP with Prometheus metrics.

Speaks MLflow's scoring protocol (``POST /invocations``, ``/ping``, ``/health``, ``/version``)
plus ``/metrics``, starts in about two seconds (no conda/virtualenv, no gunicorn) and can
inject faults for tests and demos. ``import modelcanary.serving`` does not import mlflow: it
is imported when a model is loaded::

    from modelcanary.serving import start_server_process
    with start_server_process("models:/fraud@champion", tracking_uri="http://127.0.0.1:5000") as s:
        print(s.url)  # http://127.0.0.1:PORT
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .faults import Faults
    from .metrics import ServerMetrics
    from .model import LoadedModel, ModelLabels
    from .process import ServerProcess, start_server_process
    from .server import ModelServer

_LAZY: dict[str, str] = {
    "Faults": ".faults",
    "LoadedModel": ".model",
    "ModelLabels": ".model",
    "ModelServer": ".server",
    "ServerMetrics": ".metrics",
    "ServerProcess": ".process",
    "start_server_process": ".process",
}

__all__ = [
    "Faults",
    "LoadedModel",
    "ModelLabels",
    "ModelServer",
    "ServerMetrics",
    "ServerProcess",
    "start_server_process",
]


if not TYPE_CHECKING:  # type checkers use the imports above
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
