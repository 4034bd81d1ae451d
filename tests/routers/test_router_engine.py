"""The real engine drives a rollout through RouterSet: the mesh objects follow every stage."""

from __future__ import annotations

from typing import Any

import pytest
from kube_rollout_fixtures import Hooks, RouteMetrics
from router_schemas import assert_valid

from modelcanary.analysis import Window
from modelcanary.engine import Engine, ManualClock, MemoryStatusStore, run_until_done
from modelcanary.engine._engine import TickResult
from modelcanary.rollout import Readiness, Routes
from modelcanary.routers import MemoryObjectStore, RouterSet
from modelcanary.spec import ModelRollout, parse_rollout

VS = ("networking.istio.io/v1", "VirtualService", "ml", "fraud")


class Workloads:
    """The target Deployment: revision v1 serves, then v2 is deployed (a rollout starts)."""

    def __init__(self) -> None:
        self.calls = 0

    def ensure(self, rollout: ModelRollout) -> None:
        pass

    def readiness(self, rollout: ModelRollout) -> Readiness:
        self.calls += 1
        return Readiness(True, True, "v1" if self.calls == 1 else "v2")

    def scale_challenger(self, rollout: ModelRollout, replicas: int) -> None:
        pass

    def promote(self, rollout: ModelRollout) -> None:
        pass


class Metrics(RouteMetrics):
    """Challenger requests in proportion to the weight the VirtualService really gives it
    (its mirrored share during the shadow stage), 20 requests a second in all."""

    def __init__(self, routers: RouterSet, error_rate: float) -> None:
        super().__init__(routers, error_rate, name="mesh")

    def requests(self, routes: Routes, window: Window) -> tuple[int, int]:
        total = int(20 * window.seconds)
        return int(total * max(routes.challenger_weight, routes.mirror_weight) / 100), total


def _rollout(**analysis: Any) -> ModelRollout:
    return parse_rollout(
        {
            "metadata": {"name": "fraud", "namespace": "ml"},
            "spec": {
                "targetRef": {"name": "fraud"},
                "router": {"provider": "istio"},
                "service": {"port": 8080},
                "analysis": {
                    "interval": "30s",
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
                    **analysis,
                },
            },
        }
    )


@pytest.mark.parametrize(
    ("error_rate", "phase", "weights"),
    # a faulty challenger is caught during the shadow stage: it never takes live traffic
    [(0.0, "Succeeded", [0, 10, 50, 0]), (0.5, "Failed", [0])],
)
def test_engine_moves_the_virtual_service(
    error_rate: float, phase: str, weights: list[int]
) -> None:
    store = MemoryStatusStore()
    store.put(_rollout(stepWeights=[10, 50], mirror=True, mirrorWeight=40))
    objects = MemoryObjectStore()
    routers = RouterSet(objects)
    engine = Engine(
        store=store,
        workloads=Workloads(),
        router=routers,
        metrics=Metrics(routers, error_rate),
        webhooks=Hooks(),
        clock=ManualClock(),
    )
    seen: list[tuple[int, int]] = []

    def record(result: TickResult) -> None:
        vs = objects.get(*VS)
        if vs is None:
            return
        assert_valid(list(objects))
        split = vs["spec"]["http"][-1]
        mirror = int(split.get("mirrorPercentage", {}).get("value", 0))
        state = (split["route"][1]["weight"], mirror)
        if not seen or seen[-1] != state:
            seen.append(state)

    result = run_until_done(engine, "fraud", "ml", on_tick=record, max_ticks=200)
    assert result.phase == phase
    assert (0, 40) in seen  # the shadow stage mirrored 40 % before any live traffic
    live = [w for i, (w, _) in enumerate(seen) if i == 0 or w != seen[i - 1][0]]
    assert live == weights
    assert seen[-1] == (0, 0)  # ended with everything on the champion, no mirror
