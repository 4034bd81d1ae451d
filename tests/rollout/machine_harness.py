"""Drive the pure state machine tick by tick with a fake clock (shared by rollout tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from modelcanary.analysis import IntervalData, Window, version_data
from modelcanary.rollout import (
    Command,
    ManualAction,
    Observations,
    PromoteChallenger,
    Readiness,
    SetRoutes,
    step,
)
from modelcanary.spec import ModelRollout, RolloutStatus, parse_rollout

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
READY = Readiness(champion_ready=True, challenger_ready=True, challenger_revision="rev-1")


def rollout(**analysis: Any) -> ModelRollout:
    """A local champion/challenger rollout; ``analysis`` overrides spec.analysis fields."""
    spec_extra = analysis.pop("spec", {})
    base: dict[str, Any] = {
        "interval": "30s",
        "threshold": 2,
        "stepWeights": [10, 50],
        "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}, "judge": "threshold"}],
    }
    base.update(analysis)
    base = {k: v for k, v in base.items() if v is not None}
    doc = {
        "metadata": {"name": "fraud"},
        "spec": {
            "champion": {"modelUri": "models:/fraud@champion"},
            "challenger": {"modelUri": "models:/fraud/2"},
            "analysis": base,
            **spec_extra,
        },
    }
    return parse_rollout(doc)


def data(error_rate: float = 0.0, n: int = 400, seed: int = 0) -> IntervalData:
    """One window of requests for both versions with the challenger's error rate."""
    rng = np.random.default_rng(seed)
    chal = version_data(
        "challenger", latencies_ms=rng.normal(50, 5, n), errors=rng.random(n) < error_rate
    )
    champ = version_data("champion", latencies_ms=rng.normal(50, 5, n), errors=np.zeros(n, bool))
    return IntervalData(Window(0, 30), chal, champ)


NO_DATA = IntervalData(Window(0, 30), version_data("challenger"), version_data("champion"))


@dataclass
class Run:
    """A rollout being driven: status, clock, and every tick's commands."""

    rollout: ModelRollout
    status: RolloutStatus | None = None
    now: datetime = T0
    ticks: list[list[Command]] = field(default_factory=list)

    def tick(
        self,
        *,
        ready: Readiness | None = READY,
        data: IntervalData | None = None,
        gates: dict[str, bool] | None = None,
        action: ManualAction | None = None,
        deleted: bool = False,
        advance: float = 30.0,
    ) -> list[Command]:
        obs = Observations(
            readiness=ready, data=data, gates=gates or {}, action=action, deleted=deleted
        )
        self.status, commands = step(self.rollout, self.status, obs, self.now)
        self.now += timedelta(seconds=advance)
        self.ticks.append(commands)
        return commands

    @property
    def phase(self) -> str:
        return self.status.phase if self.status is not None else ""

    @property
    def weight(self) -> int:
        assert self.status is not None
        return self.status.canary_weight

    def promoted(self) -> bool:
        return any(isinstance(c, PromoteChallenger) for t in self.ticks for c in t)

    def routes(self) -> list[tuple[int, int]]:
        """Every (challenger weight, mirror weight) applied, in order."""
        return [
            (c.routes.challenger_weight, c.routes.mirror_weight)
            for t in self.ticks
            for c in t
            if isinstance(c, SetRoutes)
        ]

    def until(self, phase: str, limit: int = 50, **kw: Any) -> None:
        for _ in range(limit):
            if self.phase == phase:
                return
            self.tick(**kw)
        raise AssertionError(f"never reached {phase}; at {self.phase}: {self.status}")
