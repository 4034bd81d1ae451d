"""The engine with in-memory ports: full rollouts, crash/resume at every tick, failures."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from engine_fakes import Router, World, make_engine, make_rollout

from modelcanary.engine import ManualClock, MemoryStatusStore, action_annotations, run_until_done
from modelcanary.errors import ConflictError, RouterError
from modelcanary.ports import Stored
from modelcanary.spec import RolloutStatus

NS = "ml"


def setup(**analysis: Any) -> tuple[MemoryStatusStore, World, ManualClock]:
    store = MemoryStatusStore()
    store.put(make_rollout(**analysis))
    return store, World(), ManualClock()


def status(store: MemoryStatusStore) -> RolloutStatus:
    stored = store.get("fraud", NS)
    assert stored is not None and stored.rollout.status is not None
    return stored.rollout.status


def test_healthy_challenger_is_promoted() -> None:
    store, world, clock = setup()
    engine = make_engine(store, world, clock)
    result = run_until_done(engine, "fraud", NS)
    final = status(store)
    assert result.phase == final.phase == "Succeeded"
    assert world.promotions == 1 and world.champion == "models:/fraud/2"
    assert world.challenger_replicas == 0 and world.routes.challenger_weight == 0
    assert [r.challenger_weight for r in world.route_log] == [0, 0, 10, 50, 0]
    assert [h.verdict for h in final.history] == ["pass", "pass"]
    text = engine.self_metrics.render()
    assert 'modelcanary_rollout_status{name="fraud",namespace="ml"} 1' in text
    assert engine.self_metrics.value("modelcanary_rollouts_total", namespace="ml") == 1
    assert (
        engine.self_metrics.value(
            "modelcanary_analysis_total", name="fraud", namespace="ml", verdict="pass"
        )
        == 2
    )
    # each check's value and the bounds it was judged against, for the Grafana dashboard
    last = final.history[-1].checks[0]
    labels = {"name": "fraud", "namespace": "ml", "metric": last.metric}
    assert last.max is not None
    assert engine.self_metrics.value("modelcanary_metric_max", **labels) == last.max
    assert engine.self_metrics.value("modelcanary_metric_value", **labels) == last.value
    assert (last.min is None) == (
        engine.self_metrics.value("modelcanary_metric_min", **labels) is None
    )


def test_faulty_challenger_is_rolled_back() -> None:
    store, world, clock = setup()
    world.error_rate = 0.3
    engine = make_engine(store, world, clock)
    run_until_done(engine, "fraud", NS)
    final = status(store)
    assert final.phase == "Failed" and world.promotions == 0
    assert world.routes.challenger_weight == 0 and world.challenger_replicas == 0
    assert (
        engine.self_metrics.value("modelcanary_rollout_status", name="fraud", namespace="ml") == 2
    )


def _baseline(**analysis: Any) -> tuple[RolloutStatus, int, World]:
    store, world, clock = setup(**analysis)
    engine = make_engine(store, world, clock)
    ticks = 0
    while status_or_none(store) is None or status(store).phase not in ("Succeeded", "Failed"):
        result = engine.tick("fraud", NS)
        ticks += 1
        if not result.changed:
            clock.advance(30)
    return status(store), ticks, world


def status_or_none(store: MemoryStatusStore) -> RolloutStatus | None:
    stored = store.get("fraud", NS)
    return stored.rollout.status if stored else None


@pytest.mark.parametrize("faulty", [False, True])
def test_a_new_engine_after_every_tick_ends_identically(faulty: bool) -> None:
    extra = {"mirror": True, "shadow": {"iterations": 2}}
    store, world, clock = setup(**extra)
    world.error_rate = 0.3 if faulty else 0.0
    expected, n_ticks, expected_world = _baseline(**extra) if not faulty else (None, 0, None)
    ticks = 0
    while status_or_none(store) is None or status(store).phase not in ("Succeeded", "Failed"):
        engine = make_engine(store, world, clock)  # the previous engine "died"
        result = engine.tick("fraud", NS)
        ticks += 1
        if not result.changed:
            clock.advance(30)
    if expected is not None:
        assert status(store) == expected and ticks == n_ticks
        assert world.route_log == expected_world.route_log  # type: ignore[union-attr]
    else:
        assert status(store).phase == "Failed" and world.promotions == 0


def _decisions(s: RolloutStatus) -> dict[str, Any]:
    return {
        "phase": s.phase,
        "weights": (s.canary_weight, s.mirror_weight),
        "iterations": s.iterations,
        "failed": s.failed_checks,
        "step": s.step_index,
        "promoted": s.promoted,
        "last_promoted_spec": s.last_promoted_spec,
        "message": s.message,
        "history": [
            (h.phase, h.canary_weight, h.verdict, [c.verdict for c in h.checks]) for h in s.history
        ],
    }


class CrashingStore(MemoryStatusStore):
    """Dies once, at a chosen save: after the commands ran, before the status was written."""

    def __init__(self, crash_at: int) -> None:
        super().__init__()
        self.saves = 0
        self.crash_at = crash_at

    def save_status(
        self, name: str, namespace: str, status: RolloutStatus, expected_version: str | None
    ) -> str | None:
        self.saves += 1
        if self.saves == self.crash_at:
            raise KeyboardInterrupt("engine killed before writing status")
        return super().save_status(name, namespace, status, expected_version)


def test_kill_before_status_write_at_every_tick_resumes_to_the_same_end() -> None:
    expected, n_ticks, _ = _baseline()
    for crash_at in range(1, n_ticks + 1):
        store = CrashingStore(crash_at)
        store.put(make_rollout())
        world, clock = World(), ManualClock()
        for _ in range(4 * n_ticks):
            if status_or_none(store) is not None and status(store).phase in ("Succeeded", "Failed"):
                break
            try:
                result = make_engine(store, world, clock).tick("fraud", NS)
            except KeyboardInterrupt:
                continue  # a new engine takes over at the same moment
            if not result.changed:
                clock.advance(30)
        # the commands of the killed tick already changed the world (e.g. more traffic on the
        # challenger), so re-measured values may differ; every decision must be the same
        assert _decisions(status(store)) == _decisions(expected), f"crash at save {crash_at}"
        assert world.promotions >= 1 and world.routes.challenger_weight == 0


def test_router_failure_after_the_status_write_converges_on_the_next_tick() -> None:
    store, world, clock = setup()
    engine = make_engine(store, world, clock)
    engine.tick("fraud", NS)
    engine.tick("fraud", NS)  # first stage routed
    assert world.routes.challenger_weight == 10
    world.fail_next_route = True
    clock.advance(30)
    with pytest.raises(RouterError):
        engine.tick("fraud", NS)
    # the intent was recorded first: the status is at the next stage, the world is behind
    assert status(store).canary_weight == 50 and world.routes.challenger_weight == 10
    result = engine.tick("fraud", NS)  # converges routes to the status, then steps on
    assert result.phase == "Progressing" and world.routes.challenger_weight == 50
    assert [r.challenger_weight for r in world.route_log] == [0, 0, 10, 50]


def test_concurrent_change_is_a_conflict_not_a_lost_update() -> None:
    store, world, clock = setup()
    engine = make_engine(store, world, clock)
    original_get = store.get

    def get_then_someone_writes(name: str, namespace: str) -> Stored | None:
        stored = original_get(name, namespace)
        store.annotate(name, namespace, {"team": "risk"})
        return stored

    store.get = get_then_someone_writes  # type: ignore[method-assign]
    with pytest.raises(ConflictError):
        engine.tick("fraud", NS)
    store.get = original_get  # type: ignore[method-assign]
    assert engine.tick("fraud", NS).phase == "Progressing"


def test_abort_annotation_rolls_back() -> None:
    store, world, clock = setup(stepWeights=[10, 20, 30, 40])
    engine = make_engine(store, world, clock)
    engine.tick("fraud", NS)
    engine.tick("fraud", NS)
    store.annotate("fraud", NS, action_annotations("abort", "a-1", "predictions look wrong"))
    clock.advance(30)
    engine.tick("fraud", NS)
    final = status(store)
    assert final.phase == "Failed" and "predictions look wrong" in final.message
    assert world.routes.challenger_weight == 0


def test_offline_provider_holds_initialisation_until_it_answers() -> None:
    store, world, clock = setup()
    world.provider_down = True
    engine = make_engine(store, world, clock)
    for _ in range(3):
        engine.tick("fraud", NS)
        clock.advance(30)
    held = status(store)
    assert held.phase == "Initializing" and "metrics provider" in held.message
    assert "offline" in held.message and world.routes.challenger_weight == 0
    world.provider_down = False
    result = run_until_done(engine, "fraud", NS)
    assert result.phase == "Succeeded" and world.promotions == 1


def test_provider_down_for_good_fails_the_run_at_the_deadline_instead_of_waiting_forever() -> None:
    store, world, clock = setup(spec={"progressDeadlineSeconds": 120})
    world.provider_down = True
    result = run_until_done(make_engine(store, world, clock), "fraud", NS, max_ticks=1000)
    final = status(store)
    assert result.phase == final.phase == "Failed" and final.outcome == "error"
    assert "fake is offline" in final.message and "progressDeadlineSeconds=120" in final.message
    assert world.promotions == 0 and world.routes.challenger_weight == 0


def test_provider_outage_fails_after_the_error_limit_without_promoting() -> None:
    store, world, clock = setup(inconclusiveLimit=2, threshold=5)
    engine = make_engine(store, world, clock)
    engine.tick("fraud", NS)  # initialised (and started) while the provider answers
    assert status(store).phase == "Progressing"
    world.provider_down = True
    run_until_done(engine, "fraud", NS)
    final = status(store)
    assert final.phase == "Failed" and world.promotions == 0
    assert final.failed_checks == 0 and final.error_checks == 2
    assert "connection refused" in final.message


def test_gates_and_event_webhooks_get_flaggers_payload() -> None:
    hooks = [
        {"name": "approve", "type": "confirm-promotion", "url": "http://127.0.0.1:9/g"},
        {"name": "events", "type": "event", "url": "http://127.0.0.1:9/e"},
    ]
    store, world, clock = setup(webhooks=hooks)
    world.hook_answers["confirm-promotion"] = False
    engine = make_engine(store, world, clock)
    for _ in range(6):
        engine.tick("fraud", NS)
        clock.advance(30)
    assert status(store).phase == "WaitingPromotion"
    world.hook_answers["confirm-promotion"] = True
    run_until_done(engine, "fraud", NS)
    assert status(store).phase == "Succeeded"
    events = [p for p in world.hook_calls if p.type == "event"]
    kinds = [p.metadata["eventType"] for p in events]
    assert kinds[:2] == ["Initialized", "RolloutStarted"] and kinds[-1] == "RolloutSucceeded"
    assert "WaitingPromotion" in kinds
    first = events[0]
    assert (first.name, first.namespace) == ("fraud", "ml") and first.checksum
    assert first.metadata["timestamp"].isdigit()


def test_notifications_reach_a_real_receiver_by_severity() -> None:
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        alerts = [
            {"name": "all", "severity": "info", "provider": {"type": "webhook", "address": url}},
            {
                "name": "errors",
                "severity": "error",
                "provider": {"type": "webhook", "address": url + "?errors"},
            },
        ]
        store, world, clock = setup(alerts=alerts, threshold=1)
        world.error_rate = 0.5
        run_until_done(make_engine(store, world, clock), "fraud", NS)
    finally:
        server.shutdown()
    events = [r["event"] for r in received]
    assert events.count("RolloutFailed") == 2  # info and error alerts both get the failure
    assert "RolloutStarted" in events and events.count("RolloutStarted") == 1
    failed = next(r for r in received if r["event"] == "RolloutFailed")
    assert failed["severity"] == "error" and failed["rollout"] == "fraud"


def test_deletion_with_revert_finalizes_routes() -> None:
    store, world, clock = setup(spec={"revertOnDeletion": True})
    engine = make_engine(store, world, clock)
    engine.tick("fraud", NS)
    engine.tick("fraud", NS)
    assert world.routes.challenger_weight == 10
    store.delete("fraud", NS)
    result = run_until_done(engine, "fraud", NS)
    assert result.phase == "Terminating" and world.finalized
    assert world.routes.challenger_weight == 0


def test_run_until_done_retries_transient_errors_then_gives_up() -> None:
    store, world, clock = setup()
    engine = make_engine(store, world, clock)
    engine.tick("fraud", NS)
    world.fail_next_route = True
    seen: list[Exception] = []
    result = run_until_done(engine, "fraud", NS, max_errors=3, on_error=seen.append)
    assert result.phase == "Succeeded" and len(seen) == 1 and isinstance(seen[0], RouterError)

    store, world, clock = setup()
    engine = make_engine(store, world, clock)

    class DeadRouter(Router):
        def set_routes(self, rollout: Any, routes: Any) -> None:
            raise RouterError("mesh API down for good")

    engine.router = DeadRouter(world)
    with pytest.raises(RouterError, match="for good"):
        run_until_done(engine, "fraud", NS, max_errors=2)
