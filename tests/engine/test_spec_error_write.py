"""The operator's ``report_spec_error`` writes the status as the engine does, with the version it
read: a concurrent status write is never overwritten (re-read, condition applied on top)."""

from __future__ import annotations

from engine_fakes import World, make_engine, make_rollout

from modelcanary.controller._runtime import SPEC_CONDITION, OperatorRuntime
from modelcanary.engine import ManualClock, MemoryStatusStore
from modelcanary.errors import SpecError, SpecIssue
from modelcanary.ports import Stored
from modelcanary.spec import RolloutStatus

NS = "ml"


class RaceOnRead(MemoryStatusStore):
    """The engine (another worker) writes a status right after the reporter's first read."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False
        self.attempts = 0

    def get(self, name: str, namespace: str) -> Stored | None:
        stored = super().get(name, namespace)
        if not self.raced and stored is not None:
            self.raced = True
            moved = RolloutStatus(phase="Progressing", canary_weight=10, message="stage 1/2")
            super().save_status(name, namespace, moved, stored.version)
        return stored

    def save_status(
        self, name: str, namespace: str, status: RolloutStatus, expected_version: str | None
    ) -> str | None:
        self.attempts += 1
        return super().save_status(name, namespace, status, expected_version)


def test_report_spec_error_never_overwrites_a_concurrent_status_write() -> None:
    store = RaceOnRead()
    store.put(make_rollout())
    runtime = OperatorRuntime(make_engine(store, World(), ManualClock()))
    error = SpecError(SpecIssue("spec.analysis.interval", "is not a duration", "write e.g. 1m"))
    runtime.report_spec_error("fraud", NS, error)
    stored = store.get("fraud", NS)
    assert stored is not None and stored.rollout.status is not None
    status = stored.rollout.status
    # the engine's write survives (phase, weight) and the condition is applied on top
    assert status.phase == "Progressing" and status.canary_weight == 10
    condition = next(c for c in status.conditions if c.type == SPEC_CONDITION)
    assert condition.status == "False" and "spec.analysis.interval" in condition.message
    assert store.attempts == 2  # the conflicting write, then the one after a re-read


def test_report_spec_error_gives_up_quietly_when_the_status_keeps_moving() -> None:
    class AlwaysMoving(MemoryStatusStore):
        def get(self, name: str, namespace: str) -> Stored | None:
            stored = super().get(name, namespace)
            if stored is not None:
                self.annotate(name, namespace, {"example.com/touched": "yes"})
            return stored

    store = AlwaysMoving()
    store.put(make_rollout())
    runtime = OperatorRuntime(make_engine(store, World(), ManualClock()))
    runtime.report_spec_error("fraud", NS, SpecError(SpecIssue("spec", "bad", "fix it")))
    stored = MemoryStatusStore.get(store, "fraud", NS)
    assert stored is not None and stored.rollout.status is None  # nothing overwritten
