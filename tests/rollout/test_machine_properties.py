"""Properties of the state machine under random observation sequences (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from machine_harness import NO_DATA, Run, data, rollout

from modelcanary.rollout import (
    ACTIONS,
    ManualAction,
    Notify,
    PromoteChallenger,
    Readiness,
    SetRoutes,
)
from modelcanary.spec import RolloutStatus

HOOK_TYPES = [
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "rollback",
]
SPECS: list[dict[str, Any]] = [
    {"stepWeights": [10, 30, 60]},
    {"stepWeights": None, "stepWeight": 20, "maxWeight": 50, "stepWeightPromotion": 25},
    {"mirror": True, "shadow": {"iterations": 2}, "stepWeights": [25]},
    {"stepWeights": None, "iterations": 3, "match": [{"headers": {"x": {"exact": "1"}}}]},
    {"stepWeights": None, "iterations": 2, "mirror": True},
    {
        "stepWeights": None,
        "steps": [{"weight": 10, "duration": "1m"}, {"weight": 40, "pause": True}],
    },
    {
        "stepWeights": [50],
        "noData": "inconclusive",
        "inconclusiveLimit": 2,
        "webhooks": [{"name": t, "type": t, "url": "http://127.0.0.1:9/"} for t in HOOK_TYPES],
    },
]

observation = st.fixed_dictionaries(
    {
        "ready": st.sampled_from(
            [
                Readiness(True, True, "rev-1"),
                Readiness(True, True, "rev-1"),
                Readiness(True, True, "rev-1"),
                Readiness(True, False, "rev-1"),
                Readiness(False, True, "rev-1"),
                Readiness(True, True, "rev-2"),
                None,
            ]
        ),
        "data": st.sampled_from(["good", "good", "bad", "none", "missing"]),
        # gates mostly pass (rollback mostly does not) so runs reach the late phases
        "gates": st.fixed_dictionaries(
            {t: st.sampled_from([True, True, True, False]) for t in HOOK_TYPES if t != "rollback"}
            | {"rollback": st.sampled_from([False] * 9 + [True])}
        ),
        "action": st.one_of(
            st.none(),
            st.none(),
            st.none(),
            st.builds(
                ManualAction, st.sampled_from(ACTIONS), st.text("abc", min_size=1, max_size=2)
            ),
        ),
        "deleted": st.sampled_from([False] * 30 + [True]),
        "advance": st.sampled_from([30.0, 30.0, 5.0, 120.0]),
    }
)


def _data(kind: str) -> Any:
    return {"good": data(), "bad": data(error_rate=0.5), "none": NO_DATA, "missing": None}[kind]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SPECS))), st.lists(observation, min_size=1, max_size=40))
def test_random_sequences_keep_invariants(
    spec_index: int, observations: list[dict[str, Any]]
) -> None:
    run = Run(rollout(**SPECS[spec_index]))
    first_record = 0  # history of the current rollout starts here (history spans rollouts)
    for obs in observations:
        commands = run.tick(
            ready=obs["ready"],
            data=_data(obs["data"]),
            gates=obs["gates"],
            action=obs["action"],
            deleted=obs["deleted"],
            advance=obs["advance"],
        )
        status = run.status
        assert status is not None
        if any(isinstance(c, Notify) and c.event == "RolloutStarted" for c in commands):
            first_record = len(status.history)
        # never promote a challenger whose last analysis failed
        current = status.history[first_record:]
        if any(isinstance(c, PromoteChallenger) for c in commands) and current:
            assert current[-1].verdict != "fail", current[-1]
        # the routes commanded agree with the status
        routes = [c.routes for c in commands if isinstance(c, SetRoutes)]
        if routes:
            assert routes[-1].challenger_weight == status.canary_weight
            assert routes[-1].mirror_weight == status.mirror_weight
        # finished rollouts send no traffic to the challenger
        if status.phase in ("Succeeded", "Failed"):
            assert status.canary_weight == 0 and status.mirror_weight == 0
        # the status is all the state: it round-trips through its serialised form
        assert RolloutStatus.model_validate(status.to_dict()) == status
        assert status.failed_checks <= run.rollout.spec.analysis.threshold
