"""Pending one-shot effects live in a typed status field (``status.pendingEffects``), not under a
string key of the untyped ``status.analysisState``; a status written by the previous release
(effects under ``analysisState.pendingEffects``) is still read, so a crash across an upgrade
loses no webhook or notification.

``tests/data/legacy-pending-effects.yaml`` was recorded by running the previous engine on a
FileStatusStore and killing it at the delivery of the post-rollout webhook: the stored file
owes that webhook and the RolloutSucceeded notification.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_fakes import World, make_engine, make_rollout
from kube_fixtures import KubeApi, kube

from modelcanary.engine import FileStatusStore, ManualClock, MemoryStatusStore, run_until_done
from modelcanary.errors import SpecError
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._status import KubeStatusStore
from modelcanary.spec import RolloutStatus, parse_rollout
from modelcanary.spec import _status as status_models
from modelcanary.spec._crd import crd

__all__ = ["kube"]

NS = "ml"
LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy-pending-effects.yaml"
LEGACY_TICK = "4a621f9f94a74147"
HOOKS = [
    {"name": "events", "type": "event", "url": "http://127.0.0.1:9/events"},
    {"name": "cleanup", "type": "post-rollout", "url": "http://127.0.0.1:9/cleanup"},
]


class Recording(MemoryStatusStore):
    """A memory store keeping every status written, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[RolloutStatus] = []

    def save_status(
        self, name: str, namespace: str, status: RolloutStatus, expected_version: str | None
    ) -> str | None:
        self.written.append(status)
        return super().save_status(name, namespace, status, expected_version)


def _events(world: World) -> list[str]:
    return [p.metadata.get("eventType", p.type) for p in world.hook_calls]


def test_a_tick_records_its_one_shot_effects_in_the_typed_field_and_clears_it() -> None:
    store, world = Recording(), World()
    store.put(make_rollout(webhooks=HOOKS))
    result = run_until_done(make_engine(store, world, ManualClock()), "fraud", NS)
    assert result.phase == "Succeeded"
    owing = [s for s in store.written if s.pending_effects is not None]
    assert len(owing) >= 4  # every transition notifies: Initialized, Started, ..., Succeeded
    for status in owing:
        record = status.pending_effects
        assert isinstance(record, status_models.PendingEffects) and len(record.tick) == 16
        assert "pendingEffects" not in (status.analysis_state or {})
        as_data = status.to_dict()["pendingEffects"]
        assert as_data["tick"] == record.tick
        assert all(set(e) in ({"notify"}, {"webhooks"}) for e in as_data["effects"])
    last = owing[-1].pending_effects
    assert last is not None
    first = last.effects[0]
    assert first.webhooks is not None and first.webhooks.type == "post-rollout"
    assert [e.notify.event for e in last.effects if e.notify] == ["RolloutSucceeded"]
    # each write recording effects is followed by the one clearing them, once delivered
    final = store.get("fraud", NS)
    assert final is not None and final.rollout.status is not None
    assert final.rollout.status.pending_effects is None
    assert "pendingEffects" not in final.rollout.status.to_dict()
    events = _events(world)
    assert events.count("post-rollout") == 1 and events.count("RolloutSucceeded") == 1


def test_the_status_round_trips_and_refuses_what_no_tick_records() -> None:
    owed = {
        "tick": "t1",
        "effects": [
            {"webhooks": {"type": "post-rollout", "message": "promoted"}},
            {"notify": {"event": "X", "severity": "warn", "message": "m", "fields": {"a": "b"}}},
        ],
    }
    status = RolloutStatus.model_validate({"phase": "Succeeded", "pendingEffects": owed})
    assert status.to_dict()["pendingEffects"] == owed
    assert RolloutStatus.model_validate(status.to_dict(), strict=True) == status
    forged = [
        {"webhooks": {"type": "pre-rollout"}},  # a gating hook: never from a status alone
        {"notify": {"event": "X", "severity": "loud", "message": "m"}},
        {"notify": {"event": "X", "severity": "info"}, "webhooks": {"type": "post-rollout"}},
        {},
        {"shell": "rm -rf /"},
    ]
    doc = make_rollout().to_dict()
    for effect in forged:
        doc["status"] = {"phase": "Succeeded", "pendingEffects": {"tick": "x", "effects": [effect]}}
        with pytest.raises(SpecError) as info:
            parse_rollout(doc)
        assert any(i.path.startswith("status.pendingEffects.effects[0]") for i in info.value.issues)


def test_the_crd_carries_the_typed_field() -> None:
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    field = schema["properties"]["status"]["properties"]["pendingEffects"]
    assert field["required"] == ["tick", "effects"]
    effect = field["properties"]["effects"]["items"]
    assert set(effect["properties"]) == {"notify", "webhooks"}
    assert effect["properties"]["webhooks"]["properties"]["type"]["enum"] == ["post-rollout"]
    severity = effect["properties"]["notify"]["properties"]["severity"]
    assert severity["enum"] == ["info", "warn", "error"]
    rule = effect["x-kubernetes-validations"][0]["rule"]
    assert rule == "has(self.notify) != has(self.webhooks)"


def _legacy_document() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(LEGACY.read_text(encoding="utf-8"))
    state = doc["rollout"]["status"]["analysisState"]
    assert state["pendingEffects"]["tick"] == LEGACY_TICK  # the recording is what it says
    return doc


def _assert_legacy_read(status: RolloutStatus | None) -> None:
    assert status is not None and status.phase == "Succeeded"
    record = status.pending_effects
    assert record is not None and record.tick == LEGACY_TICK
    webhooks, notify = record.effects
    assert webhooks.webhooks is not None and webhooks.webhooks.type == "post-rollout"
    assert notify.notify is not None and notify.notify.event == "RolloutSucceeded"
    assert notify.notify.fields == {"phase": "Succeeded"}
    state = status.analysis_state or {}
    assert "pendingEffects" not in state and "error-rate" in state["sequential"]


def test_a_status_recorded_by_the_previous_release_resumes_and_delivers_once(
    tmp_path: Path,
) -> None:
    doc = _legacy_document()
    path = tmp_path / "work" / "rollouts" / NS / "fraud.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    store = FileStatusStore(tmp_path / "work")
    stored = store.get("fraud", NS)
    assert stored is not None
    _assert_legacy_read(stored.rollout.status)

    world = World()
    engine = make_engine(store, world, ManualClock())  # a new engine after the crash
    result = engine.tick("fraud", NS)
    assert result.phase == "Succeeded"
    assert _events(world) == ["post-rollout", "RolloutSucceeded"]  # what was owed, in order
    written = json.loads(path.read_text(encoding="utf-8"))["rollout"]["status"]
    assert "pendingEffects" not in written
    assert set(written["analysisState"]) == {"sequential"}  # the judges' state is kept
    engine.tick("fraud", NS)
    assert _events(world) == ["post-rollout", "RolloutSucceeded"]  # delivered once


@pytest.fixture()
def client(kube: KubeApi) -> Iterator[KubeClient]:
    yield KubeClient(kube.api_client, timeout=10)
    kube.reset()


def test_a_custom_resource_written_by_the_previous_release_is_read_and_cleared(
    kube: KubeApi, client: KubeClient
) -> None:
    rollout = _legacy_document()["rollout"]
    status = rollout.pop("status")
    kube.create({**rollout, "metadata": {**rollout["metadata"], "namespace": NS}})
    kube.patch("modelcanary.io/v1alpha1", "ModelRollout", NS, "fraud", {"status": status})
    store = KubeStatusStore(client)
    stored = store.get("fraud", NS)
    assert stored is not None
    _assert_legacy_read(stored.rollout.status)

    world = World()
    make_engine(store, world, ManualClock()).tick("fraud", NS)
    assert _events(world) == ["post-rollout", "RolloutSucceeded"]
    obj = kube.get("modelcanary.io/v1alpha1", "ModelRollout", NS, "fraud")
    assert "pendingEffects" not in obj["status"]
    assert "pendingEffects" not in obj["status"]["analysisState"]
