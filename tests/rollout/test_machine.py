"""The pure state machine, tick by tick with a fake clock: every strategy and phase transition."""

from __future__ import annotations

from typing import Any

from machine_harness import NO_DATA, READY, Run, data, rollout

from modelcanary.rollout import (
    EnsureChallenger,
    Finalize,
    ManualAction,
    Notify,
    Readiness,
    RunWebhooks,
    ScaleChallenger,
    analysis_due,
    gates_needed,
    stages,
)

HOOK = "http://127.0.0.1:9/hook"


def hooks(*types: str) -> list[dict[str, Any]]:
    return [{"name": t, "type": t, "url": HOOK} for t in types]


def start(run: Run) -> None:
    """Initializing -> Progressing -> first stage routed."""
    run.tick()  # init + start
    assert run.phase == "Progressing"
    run.tick()  # pre-rollout (none) -> first stage


def test_canary_happy_path_promotes_after_last_weight() -> None:
    run = Run(rollout(stepWeights=[10, 25, 50]))
    first = run.tick()
    assert any(isinstance(c, EnsureChallenger) for c in first)
    assert run.phase == "Progressing" and run.weight == 0
    run.tick()
    assert run.weight == 10
    for expected in (25, 50):
        run.tick(data=data())
        assert run.weight == expected and run.phase == "Progressing"
    run.tick(data=data())  # last weight passes
    assert run.phase == "Promoting" and run.promoted()
    run.tick()  # traffic back to the promoted champion at once
    assert run.phase == "Finalising" and run.weight == 0
    last = run.tick()
    assert run.phase == "Succeeded"
    assert ScaleChallenger(0) in last and RunWebhooks("post-rollout", "promoted") in last
    assert run.status is not None and run.status.last_promoted_spec == run.status.last_applied_spec
    assert [r[0] for r in run.routes()] == [0, 0, 10, 25, 50, 0]
    assert [h.verdict for h in run.status.history] == ["pass"] * 3
    promoted = [c for c in run.status.conditions if c.type == "Promoted"]
    assert promoted[0].status == "True"
    # idle afterwards: same revision does not start again
    assert run.tick() == [] and run.phase == "Succeeded"


def test_failing_challenger_rolls_back_at_threshold() -> None:
    run = Run(rollout(threshold=2))
    start(run)
    run.tick(data=data(error_rate=0.5))
    assert run.phase == "Progressing" and run.status and run.status.failed_checks == 1
    assert run.weight == 10  # held, not advanced
    cmds = run.tick(data=data(error_rate=0.5))
    assert run.phase == "Failed" and run.weight == 0
    assert ScaleChallenger(0) in cmds
    assert any(isinstance(c, Notify) and c.severity == "error" for c in cmds)
    assert not run.promoted()
    assert "error-rate" in (run.status.message if run.status else "")


def test_failed_rollout_restarts_only_on_new_revision_or_retry() -> None:
    run = Run(rollout(threshold=1))
    start(run)
    run.tick(data=data(error_rate=0.5))
    assert run.phase == "Failed"
    for _ in range(3):
        run.tick()
    assert run.phase == "Failed"
    run.tick(action=ManualAction("retry", "r1"))
    assert run.phase == "Progressing" and run.status and run.status.failed_checks == 0
    run.tick(data=data(error_rate=0.5))
    run.tick(data=data(error_rate=0.5))
    assert run.phase == "Failed"
    run.tick(ready=Readiness(True, True, "rev-2"))
    assert run.phase == "Progressing" and run.status and run.status.last_applied_spec == "rev-2"


def test_shadow_phase_mirrors_before_shifting_weight() -> None:
    spec = rollout(mirror=True, mirrorWeight=50, shadow={"iterations": 2}, stepWeights=[20])
    assert [s.kind for s in stages(spec.spec.analysis)] == ["shadow", "canary"]
    run = Run(spec)
    start(run)
    assert (run.weight, run.status and run.status.mirror_weight) == (0, 50)
    run.tick(data=data())
    assert run.weight == 0  # shadow needs two passing intervals
    run.tick(data=data())
    assert run.weight == 20 and run.status and run.status.mirror_weight == 0
    run.until("Succeeded", data=data())
    assert run.routes()[:4] == [(0, 0), (0, 0), (0, 50), (20, 0)]


def test_mirror_on_canary_without_shadow_block_mirrors_one_interval_like_flagger() -> None:
    plan = stages(rollout(mirror=True, stepWeights=[10, 20]).spec.analysis)
    assert [(s.kind, s.intervals, s.mirror_weight) for s in plan] == [
        ("shadow", 1, 100),
        ("canary", 1, 0),
        ("canary", 1, 0),
    ]


def test_ab_test_routes_matches_for_iterations_then_promotes() -> None:
    match = [{"headers": {"x-cohort": {"exact": "beta"}}}]
    run = Run(rollout(stepWeights=None, iterations=3, match=match))
    start(run)
    stage = stages(run.rollout.spec.analysis)[0]
    assert stage.kind == "ab" and stage.routes().match[0].headers is not None
    for _ in range(2):
        run.tick(data=data())
        assert run.phase == "Progressing"
    run.tick(data=data())
    assert run.phase == "Promoting"


def test_blue_green_tests_for_iterations_with_mirror_then_switches() -> None:
    run = Run(rollout(stepWeights=None, iterations=2, mirror=True))
    start(run)
    assert (run.weight, run.status and run.status.mirror_weight) == (0, 100)
    run.until("Succeeded", data=data())
    assert run.status is not None and run.status.iterations == 2


def test_custom_steps_hold_for_duration_and_pause_for_approval() -> None:
    steps = [{"weight": 10, "duration": "1m"}, {"weight": 50, "pause": True}]
    run = Run(rollout(stepWeights=None, steps=steps))
    start(run)
    run.tick(data=data())
    assert run.weight == 10  # 1m at 30s intervals: two passing intervals
    run.tick(data=data())
    assert run.weight == 50
    for _ in range(3):
        run.tick(data=data())
    assert run.phase == "Progressing" and "approval" in (run.status.message if run.status else "")
    run.tick(data=data(), action=ManualAction("approve", "a1"))
    assert run.phase == "Promoting"


def test_confirm_rollout_gate_waits_then_starts() -> None:
    run = Run(rollout(webhooks=hooks("confirm-rollout")))
    run.tick(gates={"confirm-rollout": False})
    assert run.phase == "Waiting" and run.weight == 0
    assert run.status is not None
    assert gates_needed(run.rollout, run.status) == {"confirm-rollout"}
    run.tick(gates={"confirm-rollout": False})
    assert run.phase == "Waiting"
    run.tick(gates={"confirm-rollout": True})
    assert run.phase == "Progressing"


def test_confirm_promotion_gate_holds_in_waiting_promotion() -> None:
    run = Run(rollout(stepWeights=[50], webhooks=hooks("confirm-promotion")))
    start(run)
    run.tick(data=data(), gates={"confirm-promotion": False})
    assert run.phase == "WaitingPromotion" and not run.promoted()
    run.tick(data=data(), gates={"confirm-promotion": False})
    assert run.phase == "WaitingPromotion"
    run.tick(data=data(error_rate=0.5), gates={"confirm-promotion": True})
    assert run.phase == "WaitingPromotion" and not run.promoted()  # last analysis failed
    run.tick(data=data(), gates={"confirm-promotion": True})
    assert run.phase == "Promoting" and run.promoted()


def test_confirm_traffic_increase_gates_each_weight_increase() -> None:
    run = Run(rollout(stepWeights=[10, 20], webhooks=hooks("confirm-traffic-increase")))
    start(run)
    assert run.weight == 10
    run.tick(data=data(), gates={"confirm-traffic-increase": False})
    assert run.weight == 10 and "confirm-traffic-increase" in (
        run.status.message if run.status else ""
    )
    run.tick(data=data(), gates={"confirm-traffic-increase": True})
    assert run.weight == 20


def test_pre_rollout_failures_count_towards_threshold() -> None:
    run = Run(rollout(threshold=2, webhooks=hooks("pre-rollout")))
    run.tick()
    run.tick(gates={"pre-rollout": False})
    assert run.phase == "Progressing" and run.weight == 0
    assert run.status is not None and run.status.failed_checks == 1
    run.tick(gates={"pre-rollout": False})
    assert run.phase == "Failed"


def test_pre_rollout_not_observed_never_proceeds() -> None:
    run = Run(rollout(webhooks=hooks("pre-rollout")))
    run.tick()
    run.tick(gates={})
    assert run.weight == 0 and run.status is not None and not run.status.pre_rollout_done


def test_rollout_webhook_failure_is_a_failed_check() -> None:
    run = Run(rollout(threshold=1, webhooks=hooks("rollout")))
    start(run)
    run.tick(data=data(), gates={"rollout": False})
    assert run.phase == "Failed"


def test_rollback_webhook_triggers_rollback() -> None:
    run = Run(rollout(webhooks=hooks("rollback")))
    start(run)
    run.tick(data=data(), gates={"rollback": True})
    assert run.phase == "Failed" and "rollback webhook" in (
        run.status.message if run.status else ""
    )


def test_readiness_deadline_fails_the_rollout() -> None:
    run = Run(rollout(spec={"progressDeadlineSeconds": 60}))
    start(run)
    not_ready = Readiness(True, False, "rev-1", "0/1 replicas ready")
    run.tick(ready=not_ready)
    run.tick(ready=not_ready)
    assert run.phase == "Progressing" and "not" not in run.phase
    run.tick(ready=not_ready)
    assert run.phase == "Failed" and "progressDeadlineSeconds=60" in (
        run.status.message if run.status else ""
    )


def test_champion_never_ready_fails_initialization() -> None:
    run = Run(rollout(spec={"progressDeadlineSeconds": 30}))
    run.tick(ready=Readiness(False, False))
    assert run.phase == "Initializing"
    run.tick(ready=Readiness(False, False))
    assert run.phase == "Failed"


def test_new_revision_mid_rollout_restarts_analysis() -> None:
    run = Run(rollout(stepWeights=[10, 20, 30]))
    start(run)
    run.tick(data=data())
    assert run.weight == 20
    cmds = run.tick(ready=Readiness(True, True, "rev-2"), data=data())
    assert run.phase == "Progressing" and run.weight == 0
    assert run.status is not None and run.status.iterations == 0
    assert run.status.last_applied_spec == "rev-2" and EnsureChallenger() in cmds


def test_skip_analysis_promotes_without_checks() -> None:
    run = Run(rollout(spec={"skipAnalysis": True}))
    run.until("Succeeded")
    assert run.status is not None and run.status.history == [] and run.promoted()


def test_suspend_freezes_the_rollout() -> None:
    run = Run(rollout(spec={"suspend": True}))
    start(run)
    weight = run.weight
    for _ in range(3):
        run.tick(data=data())
    assert run.weight == weight and run.status is not None and run.status.iterations == 0


def test_pause_resume_abort_promote_actions() -> None:
    run = Run(rollout(stepWeights=[10, 20, 30]))
    start(run)
    run.tick(data=data(), action=ManualAction("pause", "p"))
    assert run.weight == 10 and run.status is not None and run.status.paused
    run.tick(data=data(), action=ManualAction("pause", "p"))  # same id: applied once
    run.tick(data=data(), action=ManualAction("resume", "r"))
    assert run.weight == 20
    run.tick(data=data(), action=ManualAction("promote", "now"))
    assert run.phase == "Promoting" and run.promoted()

    aborted = Run(rollout())
    start(aborted)
    aborted.tick(data=data(), action=ManualAction("abort", "stop", "bad predictions"))
    assert aborted.phase == "Failed" and aborted.weight == 0
    assert "aborted by user (bad predictions)" in (aborted.status.message if aborted.status else "")


def test_promote_now_is_refused_after_a_failed_analysis() -> None:
    run = Run(rollout(threshold=3))
    start(run)
    run.tick(data=data(error_rate=0.5))
    run.tick(action=ManualAction("promote", "p1"))
    assert run.phase == "Progressing" and not run.promoted()


def test_deletion_reverts_routes_when_asked() -> None:
    run = Run(rollout(spec={"revertOnDeletion": True}))
    start(run)
    cmds = run.tick(deleted=True)
    assert run.phase == "Terminating" and Finalize() in cmds and run.weight == 0
    assert run.tick(deleted=True) == []
    kept = Run(rollout())
    start(kept)
    cmds = kept.tick(deleted=True)
    assert kept.phase == "Terminating" and Finalize() not in cmds


def test_missing_data_fails_by_default_and_never_promotes() -> None:
    run = Run(rollout(threshold=2))
    start(run)
    run.tick(data=NO_DATA)
    run.tick(data=NO_DATA)
    assert run.phase == "Failed" and not run.promoted()


def test_inconclusive_limit_fails_the_rollout_as_inconclusive() -> None:
    run = Run(rollout(noData="inconclusive", inconclusiveLimit=2, threshold=5))
    start(run)
    run.tick(data=NO_DATA)
    assert run.phase == "Progressing" and run.status is not None
    assert (run.status.inconclusive_checks, run.status.failed_checks) == (1, 0)
    run.tick(data=NO_DATA)
    assert run.phase == "Failed" and "inconclusive" in (run.status.message if run.status else "")


def test_step_weight_promotion_moves_traffic_back_gradually() -> None:
    run = Run(rollout(stepWeights=None, stepWeight=25, maxWeight=50, stepWeightPromotion=20))
    start(run)
    run.until("Promoting", data=data())
    weights = []
    while run.phase == "Promoting":
        run.tick()
        weights.append(run.weight)
    assert weights == [30, 10, 0] and run.phase == "Finalising"


def test_target_ref_rollout_starts_only_on_a_new_revision() -> None:
    doc_rollout = rollout(spec={"router": {"provider": "istio"}})
    spec = doc_rollout.spec.model_copy(
        update={"champion": None, "challenger": None, "target_ref": {"name": "podinfo"}}
    )
    target = doc_rollout.model_copy(update={"spec": spec})
    run = Run(target)
    run.tick(ready=Readiness(True, True, "rev-1"))
    assert run.phase == "Initialized"
    run.tick(ready=Readiness(True, True, "rev-1"))
    assert run.phase == "Initialized"
    run.tick(ready=Readiness(True, True, "rev-2"))
    assert run.phase == "Progressing"


def test_analysis_due_follows_the_interval() -> None:
    run = Run(rollout())
    start(run)
    assert run.status is not None
    stamp = run.status.last_analysis_time
    assert stamp is not None
    from modelcanary.rollout._times import parse_time

    base = parse_time(stamp)
    from datetime import timedelta

    assert not analysis_due(run.rollout, run.status, base + timedelta(seconds=10))
    assert analysis_due(run.rollout, run.status, base + timedelta(seconds=30))


def test_history_is_bounded() -> None:
    run = Run(rollout(stepWeights=None, iterations=150, threshold=1000))
    start(run)
    for i in range(120):
        run.tick(data=data(seed=i))
    assert run.status is not None and len(run.status.history) == 100
    assert run.status.iterations == 120


def test_ready_constant_is_ready() -> None:
    assert READY.champion_ready and READY.challenger_ready


def test_provider_errors_are_counted_apart_and_fail_at_the_limit() -> None:
    from modelcanary.rollout import Observations, step

    run = Run(rollout(inconclusiveLimit=3, threshold=1))
    start(run)
    for i in range(2):
        run.status, _ = step(
            run.rollout,
            run.status,
            Observations(readiness=READY, provider_error="connection refused"),
            run.now,
        )
        assert run.phase == "Progressing" and run.status.failed_checks == 0
        assert run.status.error_checks == i + 1 and run.status.history[-1].verdict == "error"
    run.tick(data=data())  # a good interval resets the error streak
    assert run.status is not None and run.status.error_checks == 0 and run.weight == 50
    for _ in range(3):
        run.status, _ = step(
            run.rollout,
            run.status,
            Observations(readiness=READY, provider_error="timeout"),
            run.now,
        )
    assert run.phase == "Failed" and "metrics provider failed 3 intervals" in run.status.message


def test_outcome_says_how_the_rollout_ended() -> None:
    ok = Run(rollout())
    ok.until("Succeeded", data=data())
    assert ok.status is not None and ok.status.outcome == "promoted"
    bad = Run(rollout(threshold=1))
    start(bad)
    bad.tick(data=data(error_rate=0.5))
    assert bad.status is not None and bad.status.outcome == "rolled_back"
    aborted = Run(rollout())
    start(aborted)
    aborted.tick(action=ManualAction("abort", "x"))
    assert aborted.status is not None and aborted.status.outcome == "aborted"
    late = Run(rollout(spec={"progressDeadlineSeconds": 30}))
    start(late)
    late.tick(ready=Readiness(True, False, "rev-1"))
    late.tick(ready=Readiness(True, False, "rev-1"))
    assert late.status is not None and late.status.outcome == "deadline"
    late.tick(action=ManualAction("retry", "r"))
    assert late.status is not None and late.status.outcome is None


def test_abort_before_the_rollout_starts_is_kept_and_nothing_starts() -> None:
    run = Run(rollout())
    run.tick(ready=Readiness(False, False, "rev-1"), action=ManualAction("abort", "early"))
    assert run.phase == "Failed" and run.status is not None and run.status.outcome == "aborted"
    for _ in range(3):
        run.tick()
    assert run.phase == "Failed" and not run.promoted() and run.weight == 0
    run.tick(action=ManualAction("retry", "again"))
    assert run.phase == "Progressing"
