"""What ``run_local`` tells while it starts: model servers starting and ready, the router.

The local runtime starts each model server through its ``start_server`` callable (champion
first, then challenger); :class:`StartupLog` wraps that callable, so the notebook widget can
say "starting challenger server ..." and "challenger server ready in 3.1 s" as it happens
without the runtime knowing about notebooks. ``close()`` during the start-up sets ``closed``:
a server not started yet is then not started.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..spec import ModelRollout

__all__ = ["StartupLog", "default_start"]


class StartupLog:
    """What the start-up did so far, as lines for people (thread-safe), and how long the model
    servers took. Wraps the runtime's ``start_server`` to see each server start."""

    def __init__(self, rollout: ModelRollout, start: Any) -> None:
        spec = rollout.spec
        versions = [("champion", spec.champion), ("challenger", spec.challenger)]
        self._roles = [role for role, v in versions if v is not None and v.model_uri]
        self._start = start
        self._lock = threading.Lock()
        self.lines: list[str] = []
        self.seconds: dict[str, float] = {}
        """Seconds each model server took to answer (``champion``, ``challenger``)."""
        self.closed = threading.Event()
        """Set by ``close()``: a server not started yet is not started any more."""
        for role, version in versions:
            if version is not None and version.url:
                self.add(f"{role}: {version.url} (given URL, not started here)")

    def add(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def start_server(self, model_uri: str, **kwargs: Any) -> Any:
        """The runtime's ``start_server``, telling when each server starts and is ready."""
        with self._lock:
            role = self._roles.pop(0) if self._roles else "challenger"
        if self.closed.is_set():
            raise RuntimeError("the run was closed during start-up")
        self.add(f"starting {role} server ({model_uri}) ...")
        began = time.monotonic()
        handle = self._start(model_uri, **kwargs)
        took = time.monotonic() - began
        self.seconds[role] = took
        self.add(f"{role} server ready in {took:.1f} s at {handle.url}")
        return handle


def default_start(model_uri: str, **kwargs: Any) -> Any:
    from ..serving import start_server_process  # lazy: serving loads mlflow in the child

    return start_server_process(model_uri, **kwargs)
