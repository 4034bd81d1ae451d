"""One look between intervals: the traffic since the watermark, fed to the pure machine.

:meth:`Engine.look` is a short tick: no readiness, no gating webhooks, no manual actions (the
interval ticks do those). It reads the stored status (plus this engine's unsaved looks),
collects the measurements since the last look and calls ``step`` with them as
``Observations.look``. The machine either only advances the sequential tests' state and the
watermark, or rolls back; a rollback is written and executed exactly as a tick's transition is
(intent first, then the commands). A look never promotes and never writes a status to say
nothing happened, unless ``Engine.save_looks`` asks for the state to be kept after every look
(the local runtime: a crash then resumes from the last look).

A rollout whose built-in SLIs come from a backend that answers custom queries only (Datadog,
CloudWatch, ...: :data:`~modelcanary.spec._provider_caps.SCALAR_ONLY_PROVIDERS`) is never
looked at: such a look could feed no sequential test. ``can_look`` knows it from
``spec.metricsProvider`` (so ``Engine.look_delay`` schedules no looks for it);
:func:`per_request_backend` covers an engine that holds such a backend itself as its one
metrics port (no dispatcher; the shipped runtimes' defaults are embedded and Prometheus).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ..errors import ConflictError
from ..ports import MetricProvider
from ..rollout import Observations, analysis_due, step
from ..rollout._looks import can_look, watermark
from ..spec import RolloutStatus
from ..spec._provider_caps import gives_per_request_data
from . import _effects as effects
from ._observe import collect_window

if TYPE_CHECKING:
    from ._engine import Engine, TickResult

log = logging.getLogger("modelcanary.engine")


def look_once(engine: Engine, name: str, namespace: str) -> TickResult:
    """One look at a rollout; returns what it did (``changed`` when it rolled back).

    A look that is not due (no looks configured, not analysing, an interval tick due now, an
    engine that has not ticked the rollout yet, effects still owed, a backend without
    per-request data) does nothing. A metrics
    backend error is logged and left to the next tick, which counts it.
    """
    from ._engine import TickResult

    key = (namespace, name)
    result = TickResult(name, namespace)
    stored = engine.store.get(name, namespace)
    if stored is None:
        result.missing = True
        return result
    rollout = stored.rollout
    status = rollout.status or RolloutStatus()
    result.phase_before = result.phase = status.phase
    result.version = stored.version
    if stored.deleted or key not in engine._settled or effects.pending_of(status) is not None:
        return result
    status = engine._unsaved_looks(key, stored, status)
    now = engine.clock.now()
    start = watermark(status)
    if engine.look_interval <= 0 or start is None or not can_look(rollout, status):
        return result
    if not per_request_backend(engine.metrics):
        return result
    if analysis_due(rollout, status, now) or now <= start:
        return result
    started = time.perf_counter()
    data, error = collect_window(engine.metrics, rollout, start, now, custom_queries=False)
    if data is None:
        log.info("%s/%s: look skipped, metrics backend: %s", namespace, name, error)
        return result
    new_status, commands = step(rollout, status, Observations(look=data), now)
    result.phase = new_status.phase
    try:
        if commands or new_status.phase != status.phase:
            engine._looks.pop(key, None)
            engine._commit(stored, new_status, commands, result)
            engine.self_metrics.observe(
                rollout, new_status, result.commands, time.perf_counter() - started
            )
        elif engine.save_looks:
            engine._looks.pop(key, None)
            result.version = engine.store.save_status(name, namespace, new_status, stored.version)
        else:
            engine._looks[key] = (stored.version, new_status)
    except ConflictError as exc:  # written meanwhile: the next tick or look reads it again
        log.info("%s/%s: look not saved: %s", namespace, name, exc)
        engine._looks.pop(key, None)
        result.phase = result.phase_before
    return result


def per_request_backend(metrics: MetricProvider) -> bool:
    """False when the engine's metrics port is itself a backend that answers custom queries
    only (its ``name`` is its type): no rollout measured by it can be looked at. A dispatcher
    (``MetricDispatch``) says True: each rollout's own backend is in its spec (``can_look``).
    Asking ``backends(rollout)`` instead would build providers and resolve Flagger templates
    (API reads) at every look."""
    return gives_per_request_data(metrics.name)
