"""Looks between intervals on the shipped path: the engine feeds the sequential tests every
``look_interval`` seconds through the pure machine, and rolls back as soon as one rejects.

Clock-driven (``ManualClock``) with a recorded request stream: every request has a time, a
version draw and an error flag fixed in advance, and a window returns exactly the requests in
``[start, end)``, so what the tests counted can be checked request by request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from engine_fakes import World, make_engine, make_rollout

from modelcanary.analysis import IntervalData, NoData, Scalar, Window, version_data
from modelcanary.engine import Engine, ManualClock, MemoryStatusStore
from modelcanary.engine._runner import run_until_done
from modelcanary.rollout._looks import LOOK_KEY
from modelcanary.spec import MetricSpec, ModelRollout, Phase

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class Stream:
    """A fixed stream of requests from ``START`` on: time, version draw, errors of both."""

    seed: int = 0
    rps: float = 100.0
    seconds: float = 7200.0
    base_error: float = 0.005
    fault_at: float | None = None
    """Seconds after START from which the challenger fails ``fault_error`` of its requests."""
    fault_error: float = 0.4

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        n = int(self.rps * self.seconds)
        self.t = START.timestamp() + np.sort(rng.uniform(0, self.seconds, n))
        self.draw = rng.random(n)
        self.u = rng.random(n)


class StreamMetrics:
    """The metrics port over a :class:`Stream`: the challenger gets its routed share."""

    name = "stream"
    last_error = ""

    def __init__(self, world: World, stream: Stream) -> None:
        self.w, self.s = world, stream
        self.windows: list[Window] = []

    def is_online(self) -> bool:
        return True

    def backends(self, rollout: ModelRollout) -> list[StreamMetrics]:
        return [self]

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        self.windows.append(window)
        s = self.s
        sel = (s.t >= window.start) & (s.t < window.end)
        share = self.w.routes.challenger_weight / 100
        chal = sel & (s.draw < share)
        champ = sel & ~(s.draw < share)
        rate = np.full(len(s.t), s.base_error)
        if s.fault_at is not None:
            rate[s.t >= START.timestamp() + s.fault_at] = s.fault_error
        chal_err = s.u[chal] < rate[chal]
        champ_err = s.u[champ] < s.base_error
        return IntervalData(
            window,
            version_data("challenger", errors=chal_err, latencies_ms=np.full(chal.sum(), 50.0)),
            version_data("champion", errors=champ_err, latencies_ms=np.full(champ.sum(), 50.0)),
        )

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        return Scalar(0.0)


def _setup(
    stream: Stream, look: float = 5.0, save_looks: bool = True, **analysis: Any
) -> tuple[Engine, MemoryStatusStore, World, ManualClock, StreamMetrics]:
    store, world, clock = MemoryStatusStore(), World(), ManualClock(START)
    metrics = StreamMetrics(world, stream)
    spec = {
        "interval": "60s",
        "threshold": 2,
        "stepWeights": [20, 50],
        "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
    }
    spec.update(analysis)
    store.put(make_rollout(**spec))
    engine = _engine(store, world, clock, metrics, look, save_looks)
    return engine, store, world, clock, metrics


def _engine(
    store: MemoryStatusStore,
    world: World,
    clock: ManualClock,
    metrics: StreamMetrics,
    look: float = 5.0,
    save_looks: bool = True,
) -> Engine:
    return make_engine(
        store, world, clock, metrics=metrics, look_interval=look, save_looks=save_looks
    )


def _elapsed(clock: ManualClock) -> float:
    return (clock.now() - START).total_seconds()


def test_a_challenger_failing_mid_interval_is_rolled_back_by_a_look_long_before_its_end() -> None:
    # the fault starts 12 s into the first 60 s interval of the 20 % stage
    stream = Stream(seed=1, fault_at=12.0)
    engine, store, world, clock, _metrics = _setup(stream)
    result = run_until_done(engine, "fraud", "ml")
    stored = store.get("fraud", "ml")
    assert stored is not None and stored.rollout.status is not None
    status = stored.rollout.status
    assert result.phase == Phase.FAILED and status.outcome == "rolled_back", status.message
    assert "look between intervals" in status.message
    assert "sequential test rejects" in status.message
    last = status.history[-1]
    assert last.verdict == "fail" and "look between intervals" in last.message
    assert status.iterations == 0  # no interval was analysed: the look decided
    took = _elapsed(clock)
    assert took < 60.0, f"rolled back {took:.0f}s after the start: that is the interval's end"
    assert world.routes.challenger_weight == 0  # all traffic back on the champion


def test_without_looks_the_same_fault_waits_for_the_interval() -> None:
    stream = Stream(seed=1, fault_at=12.0)
    engine, store, _world, clock, _metrics = _setup(stream, look=0.0)
    result = run_until_done(engine, "fraud", "ml")
    stored = store.get("fraud", "ml")
    assert stored is not None and stored.rollout.status is not None
    assert result.phase == Phase.FAILED
    assert "look between intervals" not in stored.rollout.status.message
    assert _elapsed(clock) >= 60.0


def test_a_healthy_challenger_is_promoted_after_hundreds_of_looks() -> None:
    promoted, looks = 0, 0
    for seed in range(4):
        stream = Stream(seed=100 + seed, rps=50.0, base_error=0.01)
        engine, store, _world, _clock, metrics = _setup(
            stream, interval="5m", stepWeights=[10, 25, 50]
        )
        result = run_until_done(engine, "fraud", "ml")
        stored = store.get("fraud", "ml")
        assert stored is not None and stored.rollout.status is not None
        assert result.phase == Phase.SUCCEEDED, stored.rollout.status.message
        promoted += 1
        looks += sum(1 for w in metrics.windows if w.seconds < 299.0)
    assert promoted == 4
    assert looks >= 4 * 150  # ~59 looks per 5-minute interval, 3 intervals each


def _first_interval_counts(store: MemoryStatusStore) -> tuple[int, int]:
    stored = store.get("fraud", "ml")
    assert stored is not None and stored.rollout.status is not None
    state = stored.rollout.status.analysis_state or {}
    pairs = next(iter(state["sequential"].values()))["pairs"]
    return int(pairs["n0"]), int(pairs["n1"])


def _expected_counts(stream: Stream, start: float, end: float, share: float) -> tuple[int, int]:
    sel = (stream.t >= start) & (stream.t < end)
    chal = int(np.sum(sel & (stream.draw < share)))
    return int(np.sum(sel)) - chal, chal


def _until_first_interval(engine: Engine, clock: ManualClock, crash_after: int | None) -> Engine:
    """Tick into the 20 % stage, look every 5 s, optionally crash after some looks (a new
    engine on the same store and world), then run the interval tick."""
    for _ in range(5):
        engine.tick("fraud", "ml")  # initialise, start, enter the 20 % stage
    stored = engine.store.get("fraud", "ml")
    assert stored is not None and stored.rollout.status is not None
    assert stored.rollout.status.canary_weight == 20
    for n in range(11):
        clock.sleep(5.0)
        if crash_after is not None and n == crash_after:
            engine = _engine(
                engine.store,  # type: ignore[arg-type]
                engine.workloads.w,  # type: ignore[attr-defined]
                clock,
                engine.metrics,  # type: ignore[arg-type]
                save_looks=engine.save_looks,
            )
            engine.tick("fraud", "ml")  # a restarted engine ticks first (converges)
            continue
        engine.look("fraud", "ml")
    clock.sleep(5.0)
    engine.tick("fraud", "ml")
    return engine


def test_crash_and_resume_between_looks_counts_every_request_once() -> None:
    for save_looks in (True, False):
        stream = Stream(seed=7)
        engine, store, _world, clock, _m = _setup(stream, save_looks=save_looks)
        for _ in range(5):
            engine.tick("fraud", "ml")
        stored = store.get("fraud", "ml")
        assert stored is not None and stored.rollout.status is not None
        begun = stored.rollout.status.last_analysis_time
        assert begun is not None
        begin = datetime.fromisoformat(begun.replace("Z", "+00:00")).timestamp()
        # a fresh setup so every run starts from the same stored status
        runs = {}
        for crash_after in (None, 3, 7):
            engine, store, _world, clock, _m = _setup(stream, save_looks=save_looks)
            _until_first_interval(engine, clock, crash_after)
            stored = store.get("fraud", "ml")
            assert stored is not None and stored.rollout.status is not None
            assert stored.rollout.status.iterations == 1
            assert LOOK_KEY not in (stored.rollout.status.analysis_state or {})
            runs[crash_after] = _first_interval_counts(store)
        end = begin + 60.0
        expected = _expected_counts(stream, begin, end, 0.2)
        assert runs[None] == expected, (save_looks, runs, expected)
        assert runs[3] == expected, (save_looks, runs, expected)
        assert runs[7] == expected, (save_looks, runs, expected)


def test_looks_write_the_watermark_and_the_tests_state_when_saved() -> None:
    stream = Stream(seed=3)
    engine, store, _world, clock, _m = _setup(stream)
    for _ in range(5):
        engine.tick("fraud", "ml")
    clock.sleep(5.0)
    engine.look("fraud", "ml")
    stored = store.get("fraud", "ml")
    assert stored is not None and stored.rollout.status is not None
    state = stored.rollout.status.analysis_state or {}
    assert state[LOOK_KEY] == clock.now().timestamp()
    assert "sequential" in state
    assert stored.rollout.status.iterations == 0  # a look is not an interval


def test_unsaved_looks_write_nothing_until_the_interval() -> None:
    stream = Stream(seed=3)
    engine, store, _world, clock, _m = _setup(stream, save_looks=False)
    for _ in range(5):
        engine.tick("fraud", "ml")
    before = store.get("fraud", "ml")
    assert before is not None
    for _ in range(3):
        clock.sleep(5.0)
        engine.look("fraud", "ml")
    after = store.get("fraud", "ml")
    assert after is not None and after.version == before.version


class QueryCountingMetrics(StreamMetrics):
    """:class:`StreamMetrics` that records the window of every custom query it answers."""

    def __init__(self, world: World, stream: Stream) -> None:
        super().__init__(world, stream)
        self.queried: list[Window] = []

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        self.queried.append(window)
        return Scalar(0.0)


def test_a_tick_after_looks_runs_each_custom_query_once_over_the_whole_interval() -> None:
    # the catch-up read after looks feeds only the sequential tests: it must not run the
    # custom queries a second time over the tail of the interval
    store, world, clock = MemoryStatusStore(), World(), ManualClock(START)
    metrics = QueryCountingMetrics(world, Stream(seed=3))
    kpi = {"name": "kpi", "query": "avg(kpi)", "thresholdRange": {"max": 1}}
    error_rate = {"name": "error-rate", "thresholdRange": {"max": 0.05}}
    store.put(make_rollout(interval="60s", stepWeights=[20, 50], metrics=[error_rate, kpi]))
    result = run_until_done(_engine(store, world, clock, metrics), "fraud", "ml")
    assert result.phase == Phase.SUCCEEDED
    assert metrics.queried, "the custom query was never run"
    assert all(w.seconds >= 59 for w in metrics.queried), [w.seconds for w in metrics.queried]
