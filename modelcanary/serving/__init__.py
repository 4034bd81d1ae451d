"""The model server: one MLflow pyfunc model over HTTP with Prometheus metrics.

Speaks MLflow's scoring protocol (``POST /invocations``, ``/ping``, ``/health``, ``/version``)
plus ``/metrics``, starts in about two seconds (no conda/virtualenv, no gunicorn) and can
inject faults for tests and demos. ``import modelcanary.serving`` does not import mlflow: it
is imported when a model is loaded::

    from modelcanary.serving import start_server_process
    with start_server_process("models:/fraud@champion", tracking_uri="http://127.0.0.1:5000") as s:
        print(s.url)  # http://127.0.0.1:PORT

``ModelServer(limits=Limits(...))`` changes the HTTP bounds (body size, header size, timeouts,
connections); the defaults are sized for scoring batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .._httpd import Limits
    from ._exposition import ServerMetrics
    from ._faults import Faults
    from ._llm_server import LLMSimServer
    from ._llm_sim import LLMSimConfig
    from ._llm_tasks import LLM_TASKS, Task
    from ._model import LoadedModel, ModelLabels
    from ._process import ServerProcess, start_server_process
    from ._server import ModelServer

_LAZY: dict[str, str] = {
    "Limits": "modelcanary._httpd",
    "Faults": "._faults",
    "LLMSimConfig": "._llm_sim",
    "LLMSimServer": "._llm_server",
    "LLM_TASKS": "._llm_tasks",
    "Task": "._llm_tasks",
    "LoadedModel": "._model",
    "ModelLabels": "._model",
    "ModelServer": "._server",
    "ServerMetrics": "._exposition",
    "ServerProcess": "._process",
    "start_server_process": "._process",
}

__all__ = [
    "LLM_TASKS",
    "Faults",
    "LLMSimConfig",
    "LLMSimServer",
    "Limits",
    "LoadedModel",
    "ModelLabels",
    "ModelServer",
    "ServerMetrics",
    "ServerProcess",
    "Task",
    "start_server_process",
]


if not TYPE_CHECKING:  # type checkers use the imports above
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
