"""``converge(rollout, status)`` re-derives from a status alone what the machine did to the world:
after every tick of every strategy, the routes it gives are the routes the machine last set,
and the workload commands fit the phase (the engine runs them after a crash)."""

from __future__ import annotations

from typing import Any

import pytest
from machine_harness import Run, data, rollout

from modelcanary.rollout import (
    EnsureChallenger,
    Finalize,
    ManualAction,
    PromoteChallenger,
    Routes,
    ScaleChallenger,
    SetRoutes,
)
from modelcanary.rollout._converge import IDEMPOTENT, converge, routes_of

MATCH = [{"headers": {"x-cohort": {"exact": "beta"}}}]
AFFINITY = {"cookieName": "mc-version", "maxAge": 3600}
STRATEGIES: dict[str, dict[str, Any]] = {
    "canary": {},
    "canary-affinity-mirror": {"mirror": True, "sessionAffinity": AFFINITY},
    "shadow-then-canary": {"mirror": True, "shadow": {"iterations": 2}, "mirrorWeight": 50},
    "ab": {"stepWeights": None, "iterations": 2, "match": MATCH},
    "bluegreen": {"stepWeights": None, "iterations": 2, "mirror": True},
    "steps": {
        "stepWeights": None,
        "steps": [
            {"weight": 10, "duration": "30s"},
            {"weight": 40, "mirrorWeight": 20, "duration": "1m"},
        ],
    },
    "gradual-promotion": {
        "stepWeights": None,
        "stepWeight": 25,
        "maxWeight": 50,
        "stepWeightPromotion": 20,
    },
    "skip-analysis": {"spec": {"skipAnalysis": True}},
}


def _last_routes(run: Run) -> Routes:
    applied = [c.routes for t in run.ticks for c in t if isinstance(c, SetRoutes)]
    return applied[-1] if applied else Routes()


@pytest.mark.parametrize("faulty", [False, True])
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_routes_of_a_status_are_the_routes_last_set(name: str, faulty: bool) -> None:
    run = Run(rollout(**dict(STRATEGIES[name])))
    for _ in range(40):
        run.tick(data=data(error_rate=0.3 if faulty else 0.0))
        assert run.status is not None
        assert routes_of(run.rollout, run.status) == _last_routes(run), (run.phase, run.status)
        commands = converge(run.rollout, run.status)
        assert all(isinstance(c, IDEMPOTENT) for c in commands)
        assert SetRoutes(_last_routes(run)) in commands or run.phase == "Initializing"
        if run.phase in ("Succeeded", "Failed"):
            break
    assert run.phase == ("Failed" if faulty and name != "skip-analysis" else "Succeeded")


def test_workload_commands_follow_the_phase() -> None:
    run = Run(rollout(spec={"revertOnDeletion": True}))
    assert run.tick() and run.status is not None and run.phase == "Progressing"
    assert EnsureChallenger() in converge(run.rollout, run.status)
    run.tick(action=ManualAction("promote", "p-1"))
    assert run.phase == "Promoting"
    assert PromoteChallenger() in converge(run.rollout, run.status)
    run.until("Succeeded")
    assert ScaleChallenger(0) in converge(run.rollout, run.status)
    run.tick(deleted=True)
    assert converge(run.rollout, run.status) == [SetRoutes(Routes()), Finalize()]
