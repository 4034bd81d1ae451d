"""``run_until_done``: tick one rollout at its own pace until it succeeds, fails or vanishes."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..rollout.observations import next_delay
from .engine import Engine, TickResult

DONE = ("Succeeded", "Failed", "Terminating")


def run_until_done(
    engine: Engine,
    name: str,
    namespace: str = "default",
    *,
    max_ticks: int = 100_000,
    stop: threading.Event | None = None,
    on_tick: Callable[[TickResult], None] | None = None,
) -> TickResult:
    """Tick until the rollout reaches Succeeded/Failed/Terminating (or ``stop`` is set).

    After a phase change the next tick comes at once (promotion and finalisation need no
    analysis interval); otherwise the engine sleeps until the next analysis is due.
    ``on_tick(result)`` is called after every tick (e.g. to refresh a notebook widget).
    """
    result = TickResult(name, namespace)
    for _ in range(max_ticks):
        if stop is not None and stop.is_set():
            return result
        result = engine.tick(name, namespace)
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
