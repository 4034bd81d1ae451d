"""``run_until_done``: tick one rollout at its own pace until it succeeds, fails or vanishes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..errors import ConflictError, RouterError, TransientProviderError, WorkloadError
from ..rollout.observations import next_delay
from .engine import Engine, TickResult

DONE = ("Succeeded", "Failed", "Terminating")
RETRYABLE = (ConflictError, RouterError, WorkloadError, TransientProviderError)
"""Errors a tick may die of and the next tick may not (nothing was saved for it)."""

log = logging.getLogger("modelcanary.engine")


def run_until_done(
    engine: Engine,
    name: str,
    namespace: str = "default",
    *,
    max_ticks: int = 100_000,
    stop: threading.Event | None = None,
    on_tick: Callable[[TickResult], None] | None = None,
    max_errors: int = 0,
    on_error: Callable[[Exception], None] | None = None,
) -> TickResult:
    """Tick until the rollout reaches Succeeded/Failed/Terminating (or ``stop`` is set).

    After a phase change the next tick comes at once (promotion and finalisation need no
    analysis interval); otherwise the engine sleeps until the next analysis is due.
    ``on_tick(result)`` is called after every tick (e.g. to refresh a notebook widget). Up to
    ``max_errors`` consecutive retryable errors are reported to ``on_error`` and retried a
    second later; the next one is raised.
    """
    result = TickResult(name, namespace)
    errors = 0
    for _ in range(max_ticks):
        if stop is not None and stop.is_set():
            return result
        try:
            result = engine.tick(name, namespace)
        except RETRYABLE as exc:
            errors += 1
            if errors > max_errors:
                raise
            log.warning(
                "%s/%s: tick failed (%d/%d), retrying: %s", namespace, name, errors, max_errors, exc
            )
            if on_error is not None:
                on_error(exc)
            engine.clock.sleep(1.0)
            continue
        errors = 0
        if on_tick is not None:
            on_tick(result)
        if result.missing or result.phase in DONE:
            return result
        if result.changed:
            continue
        stored = engine.store.get(name, namespace)
        if stored is None or stored.rollout.status is None:
            return result
        engine.clock.sleep(next_delay(stored.rollout, stored.rollout.status, engine.clock.now()))
    return result
