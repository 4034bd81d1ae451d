"""Side effects of a tick happen once: a tick records its intent (status, with the version
precondition) before it acts, so a concurrent writer never makes a webhook, a notification or
a promotion happen twice; and an engine killed between the write and the effects loses none
of them (routes converge from the status, pending effects are delivered by the next engine)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from engine_fakes import Hooks, Router, Workloads, World, make_engine, make_rollout

from modelcanary.engine import Engine, ManualClock, MemoryStatusStore, run_until_done
from modelcanary.hooks import HttpWebhookRunner
from modelcanary.ports import WebhookPayload, WebhookResult
from modelcanary.rollout import Routes
from modelcanary.spec import ModelRollout, RolloutStatus, Webhook

NS = "ml"


@dataclass
class Receiver:
    """A real HTTP server on loopback recording every delivery: (path, event or hook type)."""

    url: str
    deliveries: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            what = (body.get("metadata") or {}).get("eventType") or body.get("event") or ""
            seen.append((self.path, str(what)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()


def _rollout(url: str) -> ModelRollout:
    hooks = [
        {"name": "events", "type": "event", "url": f"{url}/event"},
        {"name": "smoke", "type": "pre-rollout", "url": f"{url}/pre"},
        {"name": "cleanup", "type": "post-rollout", "url": f"{url}/post"},
    ]
    alerts = [{"name": "team", "severity": "info", "provider": {"type": "webhook", "address": url}}]
    return make_rollout(webhooks=hooks, alerts=alerts)


class RacingStore(MemoryStatusStore):
    """Another writer (kopf's bookkeeping, a user's annotation) lands between the engine's read
    and the first write of every new status, so that write fails with ConflictError."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[Any, ...]] = set()
        self.conflicts = 0

    def save_status(
        self, name: str, namespace: str, status: RolloutStatus, expected_version: str | None
    ) -> str | None:
        shape = (
            status.phase,
            status.step_index,
            status.canary_weight,
            status.pre_rollout_done,
            status.iterations,
            status.outcome,
        )
        if shape not in self.seen:
            self.seen.add(shape)
            self.conflicts += 1
            self.annotate(name, namespace, {"example.com/touched": str(self.conflicts)})
        return super().save_status(name, namespace, status, expected_version)


def _drive(store: MemoryStatusStore, url: str, world: World) -> Engine:
    store.put(_rollout(url))
    engine = make_engine(store, world, ManualClock())
    engine.webhooks = HttpWebhookRunner()
    result = run_until_done(engine, "fraud", NS, max_errors=3)
    assert result.phase == "Succeeded"
    return engine


def test_a_conflicting_writer_never_repeats_webhooks_notifications_or_promotion(
    receiver: Receiver,
) -> None:
    calm = World()
    _drive(MemoryStatusStore(), receiver.url, calm)
    expected = sorted(receiver.deliveries)
    receiver.deliveries.clear()
    assert ("/pre", "") in expected and ("/post", "") in expected
    assert ("/event", "RolloutStarted") in expected and ("/", "RolloutSucceeded") in expected

    store, racing = RacingStore(), World()
    _drive(store, receiver.url, racing)
    assert store.conflicts >= 5  # every transition lost its first write once
    assert sorted(receiver.deliveries) == expected  # each delivery exactly once
    assert racing.promotions == calm.promotions == 1
    assert racing.route_log == calm.route_log
    final = store.get("fraud", NS)
    assert final is not None and final.rollout.status is not None
    assert final.rollout.status.pending_effects is None


class Killed(BaseException):
    """The engine process dies (not an error any handler catches)."""


@dataclass
class Bomb:
    """Kills the engine at the ``at``-th port call that acts on the world."""

    at: int
    calls: int = 0

    def tick(self) -> None:
        self.calls += 1
        if self.calls == self.at:
            raise Killed(f"killed at port call {self.at}")


class BombRouter(Router):
    def __init__(self, world: World, bomb: Bomb) -> None:
        super().__init__(world)
        self.bomb = bomb

    def set_routes(self, rollout: ModelRollout, routes: Routes) -> None:
        self.bomb.tick()
        super().set_routes(rollout, routes)


class BombWorkloads(Workloads):
    def __init__(self, world: World, bomb: Bomb) -> None:
        super().__init__(world)
        self.bomb = bomb

    def promote(self, rollout: ModelRollout) -> None:
        self.bomb.tick()
        super().promote(rollout)

    def scale_challenger(self, rollout: ModelRollout, replicas: int) -> None:
        self.bomb.tick()
        super().scale_challenger(rollout, replicas)


class BombHooks(Hooks):
    def __init__(self, world: World, bomb: Bomb) -> None:
        super().__init__(world)
        self.bomb = bomb

    def run(self, hook: Webhook, payload: WebhookPayload) -> WebhookResult:
        if hook.type != "pre-rollout":  # gates are observations: asked again anyway
            self.bomb.tick()
        return super().run(hook, payload)


def _events(world: World) -> list[str]:
    return [
        p.metadata.get("eventType", p.type) for p in world.hook_calls if p.type != "pre-rollout"
    ]


def test_an_engine_killed_between_the_write_and_the_effects_loses_none_of_them() -> None:
    hooks = [
        {"name": "events", "type": "event", "url": "http://127.0.0.1:9/e"},
        {"name": "cleanup", "type": "post-rollout", "url": "http://127.0.0.1:9/p"},
    ]
    calm = World()
    store = MemoryStatusStore()
    store.put(make_rollout(webhooks=hooks))
    run_until_done(make_engine(store, calm, ManualClock()), "fraud", NS)
    expected = _events(calm)
    baseline = store.get("fraud", NS)
    assert baseline is not None and baseline.rollout.status is not None
    points = Bomb(0)
    world = World()
    clock = ManualClock()
    store = MemoryStatusStore()
    store.put(make_rollout(webhooks=hooks))
    run_until_done(_bombed(store, world, clock, points), "fraud", NS)
    assert points.calls > 10
    for at in range(1, points.calls + 1):
        world, clock, store = World(), ManualClock(), MemoryStatusStore()
        store.put(make_rollout(webhooks=hooks))
        bomb = Bomb(at)
        for _ in range(200):
            try:
                result = _bombed(store, world, clock, bomb).tick("fraud", NS)
            except Killed:
                continue  # a new engine takes over on the same store and world
            if result.phase == "Succeeded":
                break
            if not result.changed:
                clock.advance(30)
        final = store.get("fraud", NS)
        assert final is not None and final.rollout.status is not None
        assert final.rollout.status.phase == "Succeeded", f"killed at call {at}"
        assert world.routes == Routes() and world.challenger_replicas == 0, f"call {at}"
        assert world.promotions >= 1 and world.champion == "models:/fraud/2"
        delivered = _events(world)
        assert set(delivered) == set(expected), f"killed at call {at}: {delivered}"
        # at most the effect being delivered when the engine died is repeated
        assert len(delivered) <= len(expected) + 1, f"killed at call {at}: {delivered}"


def _bombed(store: MemoryStatusStore, world: World, clock: ManualClock, bomb: Bomb) -> Engine:
    engine = make_engine(store, world, clock)
    engine.router = BombRouter(world, bomb)
    engine.workloads = BombWorkloads(world, bomb)
    engine.webhooks = BombHooks(world, bomb)
    return engine


class ConflictOnClear(MemoryStatusStore):
    """Another writer lands between the write of a tick's intent and the write that clears its
    delivered effects (once per tick): the clearing is left to the next tick."""

    def __init__(self) -> None:
        super().__init__()
        self.raced: set[str] = set()

    def save_status(
        self, name: str, namespace: str, status: RolloutStatus, expected_version: str | None
    ) -> str | None:
        stored = self.get(name, namespace)
        before = stored.rollout.status if stored is not None else None
        owed = before.pending_effects if before is not None else None
        if owed is not None and status.pending_effects is None and owed.tick not in self.raced:
            self.raced.add(owed.tick)
            self.annotate(name, namespace, {"example.com/touched": owed.tick})
        return super().save_status(name, namespace, status, expected_version)


def test_a_conflict_while_clearing_delivered_effects_delivers_nothing_twice() -> None:
    hooks = [{"name": "events", "type": "event", "url": "http://127.0.0.1:9/e"}]
    calm, world = World(), World()
    for store, w in ((MemoryStatusStore(), calm), (ConflictOnClear(), world)):
        store.put(make_rollout(webhooks=hooks))
        run_until_done(make_engine(store, w, ManualClock()), "fraud", NS, max_errors=3)
        final = store.get("fraud", NS)
        assert final is not None and final.rollout.status is not None
        assert final.rollout.status.phase == "Succeeded"
        assert final.rollout.status.pending_effects is None
        if isinstance(store, ConflictOnClear):
            assert len(store.raced) >= 4  # every transition's clearing met a conflict
    assert _events(world) == _events(calm)  # each event once, in order


def test_pending_effects_round_trip_and_ignore_what_no_tick_records() -> None:
    from modelcanary.engine import _effects as effects
    from modelcanary.rollout import Notify, RunWebhooks, ScaleChallenger

    shots = [
        ScaleChallenger(0),
        RunWebhooks("post-rollout", "promoted"),
        Notify("RolloutSucceeded", "info", "done", {"phase": "Succeeded"}),
    ]
    base = RolloutStatus(analysis_state={"sequential": {"error-rate": {"n": 3}}})
    owed = effects.with_pending(base, "t1", shots)
    pending = effects.pending_of(owed)
    assert pending is not None and pending.tick == "t1"
    assert list(pending.effects) == shots[1:] and pending.ids() == ["t1/0", "t1/1"]
    assert effects.without_pending(owed) == base  # exactly what step returned
    assert effects.without_pending(effects.with_pending(RolloutStatus(), "t", shots)) == (
        RolloutStatus()
    )
    # a hand-written status cannot make the engine call a gating hook or anything unknown
    forged = RolloutStatus(
        analysis_state={
            "pendingEffects": {
                "tick": "x",
                "effects": [
                    {"webhooks": {"type": "pre-rollout"}},
                    {"notify": {"event": "X", "severity": "loud", "message": "m"}},
                    {"shell": "rm -rf /"},
                    {"notify": "not a mapping"},
                    7,
                ],
            }
        }
    )
    assert effects.pending_of(forged) is None
