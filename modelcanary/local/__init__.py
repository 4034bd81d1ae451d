"""The embedded local runtime: model-server processes, an HTTP router and a load generator on
127.0.0.1, driven by the same engine as the operator (no cluster needed).

- ``LocalRun(rollout).start()``: the whole runtime for one rollout (servers, router, load,
  engine in a background thread); ``wait()``, ``status()``, ``act()``, ``close()``.
- ``LocalRouter`` (limits in ``RouterLimits``): the HTTP/1.1 traffic router, the
  ``TrafficRouter`` port on loopback; it records every request into a ``Recorder``, which the
  embedded metric provider reads.
- ``LoadGenerator``, ``payloads_from_file``, ``rows_to_payloads``: the built-in load.
- ``LocalWorkloads``: the ``Workloads`` port, model servers as child processes.

Names load lazily, so ``import modelcanary.local`` starts no event loop and imports neither
httpx nor the engine until a name is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._load import LoadGenerator, LoadStats, payloads_from_file, rows_to_payloads
    from ._proxy.limits import RouterLimits
    from ._proxy.server import LocalRouter
    from ._recorder import Recorder
    from ._runtime import LocalRun
    from ._workloads import LocalWorkloads

_LAZY: dict[str, str] = {
    "LocalRun": "._runtime",
    "LocalRouter": "._proxy.server",
    "RouterLimits": "._proxy.limits",
    "Recorder": "._recorder",
    "LoadGenerator": "._load",
    "LoadStats": "._load",
    "payloads_from_file": "._load",
    "rows_to_payloads": "._load",
    "LocalWorkloads": "._workloads",
}

__all__ = [
    "LoadGenerator",
    "LoadStats",
    "LocalRouter",
    "LocalRun",
    "LocalWorkloads",
    "Recorder",
    "RouterLimits",
    "payloads_from_file",
    "rows_to_payloads",
]


if not TYPE_CHECKING:  # type checkers use the imports above
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
