"""A metrics backend that is down at initialisation holds the rollout only until the readiness
deadline (``progressDeadlineSeconds``): then the rollout fails with outcome ``error`` and a
reason naming the backend, instead of waiting forever."""

from __future__ import annotations

from datetime import timedelta

from machine_harness import READY, T0, rollout

from modelcanary.rollout import Command, Observations, Routes, SetRoutes, step
from modelcanary.rollout._commands import Notify
from modelcanary.spec import RolloutStatus

DOWN = "prometheus is offline (connection refused: http://127.0.0.1:9)"


def _tick(
    status: RolloutStatus | None, seconds: float, offline: str | None = DOWN
) -> tuple[RolloutStatus, list[Command]]:
    obs = Observations(readiness=READY, providers_offline=offline)
    now = T0 + timedelta(seconds=seconds)
    return step(rollout(spec={"progressDeadlineSeconds": 60}), status, obs, now)


def test_offline_provider_fails_initialisation_at_the_deadline_naming_the_backend() -> None:
    status, commands = _tick(None, 0)
    assert status.phase == "Initializing" and status.waiting_since is not None
    assert "prometheus is offline" in status.message
    status, _ = _tick(status, 59)
    assert status.phase == "Initializing" and status.outcome is None
    status, commands = _tick(status, 60)
    assert status.phase == "Failed" and status.outcome == "error"
    assert "progressDeadlineSeconds=60" in status.message and "prometheus" in status.message
    notes = [c for c in commands if isinstance(c, Notify)]
    assert [n.event for n in notes] == ["RolloutFailed"] and "prometheus" in notes[0].message
    assert SetRoutes(Routes()) in commands  # all traffic stays on the champion


def test_a_backend_back_before_the_deadline_starts_the_rollout() -> None:
    status, _ = _tick(None, 0)
    status, _ = _tick(status, 30)
    status, _ = _tick(status, 45, offline=None)
    assert status.phase == "Progressing" and status.outcome is None
    assert status.waiting_since is not None  # the start's own readiness wait, reset at start
