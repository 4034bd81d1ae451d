"""``run_until_done`` on a real clock does not sleep through a long interval blindly: an action
written by another writer of the store, a ``wake`` or a ``stop`` ends the wait at once (real
time, a 20-minute interval; the waits below are bounds, not timings)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import World, make_engine, make_rollout

from modelcanary.engine import (
    FileStatusStore,
    MemoryStatusStore,
    SystemClock,
    TickResult,
    action_annotations,
    run_until_done,
)
from modelcanary.ports import StatusStore

NS = "ml"
BOUND = 30.0  # seconds: a bound for a wait that should take well under one


def _start(store: Any, **options: Any) -> tuple[threading.Thread, list[TickResult], World]:
    store.put(make_rollout(interval="20m"))
    world = World()
    engine = make_engine(store, world, SystemClock())  # type: ignore[arg-type]
    results: list[TickResult] = []
    stage = threading.Event()

    def on_tick(result: TickResult) -> None:
        results.append(result)
        if world.routes.challenger_weight == 10:
            stage.set()  # first stage routed: the runner now waits ~20 minutes

    thread = threading.Thread(
        target=lambda: results.append(
            run_until_done(engine, "fraud", NS, on_tick=on_tick, **options)
        ),
        daemon=True,
    )
    thread.start()
    assert stage.wait(BOUND), "the rollout never reached its first stage"
    return thread, results, world


def _phase(store: StatusStore) -> tuple[str, str | None]:
    stored = store.get("fraud", NS)
    assert stored is not None and stored.rollout.status is not None
    return stored.rollout.status.phase, stored.rollout.status.outcome


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_an_action_written_by_another_writer_ends_the_wait(tmp_path: Path, kind: str) -> None:
    store = FileStatusStore(tmp_path) if kind == "file" else MemoryStatusStore()
    thread, results, world = _start(store)
    # another process (`modelcanary abort fraud`) writes the action through its own store
    other = FileStatusStore(tmp_path) if kind == "file" else store
    other.annotate("fraud", NS, action_annotations("abort", "a-1", "stop it"))
    thread.join(BOUND)
    assert not thread.is_alive(), "the runner slept through the abort"
    assert _phase(store) == ("Failed", "aborted")
    assert results[-1].phase == "Failed" and world.routes.challenger_weight == 0


def test_wake_and_stop_end_the_wait() -> None:
    store, wake, stop = MemoryStatusStore(), threading.Event(), threading.Event()
    thread, results, _ = _start(store, wake=wake, stop=stop)
    ticks = len(results)
    wake.set()
    for _ in range(int(BOUND / 0.05)):
        if len(results) > ticks:
            break
        threading.Event().wait(0.05)
    assert len(results) > ticks, "wake did not make the runner tick"
    stop.set()
    thread.join(BOUND)
    assert not thread.is_alive(), "stop did not end the wait"
    assert _phase(store) == ("Progressing", None)
