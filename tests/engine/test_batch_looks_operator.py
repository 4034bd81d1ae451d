"""The operator's scheduling of looks between intervals: its rollouts are looked at between
their interval ticks without any status write (the per-tick API budget holds), a look rolls
back a failing challenger before the interval ends, and many rollouts look less often."""

from __future__ import annotations

import time

from engine_fakes import World, make_rollout
from test_batch_looks import START, Stream, StreamMetrics, _elapsed, _engine

from modelcanary.controller._runtime import LOOK_BUDGET, OperatorRuntime
from modelcanary.engine import ManualClock, MemoryStatusStore
from modelcanary.spec import Phase


def _runtime(stream: Stream) -> tuple[OperatorRuntime, MemoryStatusStore, ManualClock]:
    store, world, clock = MemoryStatusStore(), World(), ManualClock(START)
    store.put(make_rollout(interval="60s", stepWeights=[20, 50]))
    engine = _engine(store, world, clock, StreamMetrics(world, stream), 15.0, save_looks=False)
    return OperatorRuntime(engine), store, clock


def _drive_until_looking(runtime: OperatorRuntime, store: MemoryStatusStore) -> None:
    for _ in range(10):
        runtime.drive("fraud", "ml")
        stored = store.get("fraud", "ml")
        assert stored is not None and stored.rollout.status is not None
        if stored.rollout.status.canary_weight and ("ml", "fraud") in runtime._looking:
            return
    raise AssertionError("the rollout never reached a stage with looks scheduled")


def test_operator_looks_write_nothing_and_a_look_rolls_back_a_fault() -> None:
    runtime, store, clock = _runtime(Stream(seed=5, fault_at=20.0))
    _drive_until_looking(runtime, store)
    before = store.get("fraud", "ml")
    assert before is not None
    assert 0 < runtime.until_due("fraud", "ml") <= 15.0 + 1.0  # a look, before the interval
    clock.sleep(15.0)
    runtime.drive("fraud", "ml")  # a healthy look (the fault starts at 20 s): no write
    after = store.get("fraud", "ml")
    assert after is not None and after.version == before.version
    decided = None
    for _ in range(3):
        clock.sleep(15.0)
        runtime.drive("fraud", "ml")
        stored = store.get("fraud", "ml")
        assert stored is not None and stored.rollout.status is not None
        if stored.rollout.status.phase == Phase.FAILED:
            decided = stored.rollout.status
            break
    assert decided is not None, "no look rolled the failing challenger back"
    assert "look between intervals" in decided.message
    assert _elapsed(clock) < 60.0  # the interval (60 s from the stage's start) never ended


def test_many_rollouts_look_less_often() -> None:
    runtime, store, _clock = _runtime(Stream(seed=5))
    for i in range(1000):  # rollouts this process drives
        runtime._due[("ml", f"other-{i}")] = time.monotonic() + 600
    _drive_until_looking(runtime, store)
    # 1,001 rollouts at LOOK_BUDGET looks/s: each looks every ~50 s, not every 15 s
    assert runtime.until_due("fraud", "ml") >= 1000 / LOOK_BUDGET - 1.0
