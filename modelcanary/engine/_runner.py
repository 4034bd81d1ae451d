"""``run_until_done``: tick one rollout at its own pace until it succeeds, fails or vanishes.

Between ticks the runner waits for the next analysis, but not blindly: on a real clock the
wait ends early when ``stop`` or ``wake`` is set (a signal handler, a notebook button, ``close``)
or when the stored rollout changes under it (a manual action written by another process, such
as ``modelcanary abort NAME``), checked every :data:`POLL` seconds through the port's
``StatusStore.stamp``. So an abort with a 20-minute interval is applied within a second, not at
the next interval.

With ``engine.look_interval`` set, the wait is cut into looks between intervals
(:meth:`Engine.look`): a look that rolls back ends the run like a tick would.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

from ..errors import ConflictError, RouterError, TransientProviderError, WorkloadError
from ..rollout._observations import next_delay
from ._clock import SystemClock
from ._engine import Engine, TickResult

RETRYABLE = (ConflictError, RouterError, WorkloadError, TransientProviderError)
"""Errors a tick may die of and the next tick may not (the next tick converges or retries)."""
POLL = 0.25
"""Seconds between two looks at the stored rollout while waiting (real clock only)."""

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
    wake: threading.Event | None = None,
) -> TickResult:
    """Tick until the rollout reaches Succeeded/Failed/Terminating (or ``stop`` is set).

    After a phase change the next tick comes at once (promotion and finalisation need no
    analysis interval); otherwise the engine waits until the next analysis is due, or until
    ``wake`` is set or the stored rollout changes (then it ticks at once; ``wake`` is cleared).
    ``on_tick(result)`` is called after every tick (e.g. to refresh a notebook widget). Up to
    ``max_errors`` consecutive retryable errors are reported to ``on_error`` and retried a
    second later; the next one is raised.
    """
    result = TickResult(name, namespace)
    errors = 0
    for _ in range(max_ticks):
        if stop is not None and stop.is_set():
            return result
        if wake is not None:
            wake.clear()
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
            _pause(engine, name, namespace, 1.0, None, stop, wake)
            continue
        errors = 0
        if on_tick is not None:
            on_tick(result)
        if result.missing or (result.phase is not None and result.phase.traits.final):
            return result
        if result.changed:
            continue
        looked = _wait(engine, name, namespace, result, stop, wake)
        if looked is not None:
            result = looked
            if on_tick is not None and looked.changed:
                on_tick(looked)
            if looked.missing or (looked.phase is not None and looked.phase.traits.final):
                return looked
    return result


def _wait(
    engine: Engine,
    name: str,
    namespace: str,
    result: TickResult,
    stop: threading.Event | None,
    wake: threading.Event | None,
) -> TickResult | None:
    """Wait for the next tick, looking between intervals every ``engine.look_interval``
    seconds meanwhile; returns the look that decided (or found the rollout gone), if one did.

    Ends early (the caller ticks at once) when ``stop`` or ``wake`` is set, or the stored
    rollout is written by someone else (an action)."""
    version = result.version
    while True:
        stamp = engine.store.stamp(name, namespace)
        stored = engine.store.get(name, namespace)
        if stored is None or stored.rollout.status is None:
            return None
        if version is not None and stored.version != version:
            return None  # written since the tick (an action): tick again now
        status = stored.rollout.status
        delay = next_delay(stored.rollout, status, engine.clock.now())
        look = engine.look_delay(stored.rollout, status)
        if look is None or look >= delay:
            _pause(engine, name, namespace, delay, stamp, stop, wake)
            return None
        if _pause(engine, name, namespace, look, stamp, stop, wake):
            return None
        looked = engine.look(name, namespace)
        if looked.missing or looked.changed:
            return looked
        version = looked.version


def _pause(
    engine: Engine,
    name: str,
    namespace: str,
    seconds: float,
    stamp: Hashable | None,
    stop: threading.Event | None,
    wake: threading.Event | None,
) -> bool:
    """Wait ``seconds``, or less: until ``stop`` or ``wake`` is set, or the stored rollout's
    fingerprint moves from ``stamp`` (None: do not watch); True when it ended early. A manual
    clock just advances."""
    if not isinstance(engine.clock, SystemClock):
        engine.clock.sleep(seconds)
        return stop is not None and stop.is_set()
    bell = wake if wake is not None else threading.Event()
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if bell.wait(min(POLL, left)) or (stop is not None and stop.is_set()):
            return True
        if stamp is not None and engine.store.stamp(name, namespace) != stamp:
            return True
    return False
