"""The pure rollout state machine: ``step(rollout, status, observations, now)``.

No I/O: everything the machine knows comes in as arguments, everything it wants done goes out
as commands, and all its memory is the returned status, so a runtime that dies resumes from the
last written status. Flagger's behaviour is kept where users rely on it (phases, failed-check
threshold, webhook types, stepWeight capping, promotion by stepWeightPromotion) and improved
where its users complain: inconclusive and errored intervals are counted apart from failures
and never pass; a rollout can be aborted, paused, approved or promoted by hand; a sequential
test may roll back before ``threshold`` is reached.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..analysis._bands import STORED_KEYS, stored_analysis
from ..analysis._interval import Action as IntervalAction
from ..analysis._interval import AnalysisState, IntervalResult, analyse_interval
from ..spec._phases import Action, Phase
from ..spec._rollout import ModelRollout
from ..spec._status import AnalysisRecord, Outcome, RolloutStatus
from ._commands import Command, EnsureChallenger, RecordAnalysis, Routes, SetRoutes
from ._looks import fold_look, look
from ._observations import ManualAction, Observations, hook_types, revision
from ._times import seconds_between
from ._transitions import Tick


def step(
    rollout: ModelRollout, status: RolloutStatus | None, obs: Observations, now: datetime
) -> tuple[RolloutStatus, list[Command]]:
    """Advance the rollout by one tick: the new status and the commands to execute."""
    tick = Tick(rollout, status or RolloutStatus(), obs, now)
    if tick.status.phase == Phase.TERMINATING:
        return tick.status, []
    if obs.deleted:
        tick.terminate()
        return tick.status, tick.commands
    if obs.look is not None and obs.data is None:
        look(tick)  # a look between intervals: sequential tests only, rollback only
        return tick.status, tick.commands
    action = obs.action
    if action is not None and action.id != tick.status.last_action and _apply_action(tick, action):
        return tick.status, tick.commands  # aborted or promoted by hand: nothing more now
    handler = _HANDLERS[tick.status.phase]
    handler(tick)
    return tick.status, tick.commands


def _apply_action(tick: Tick, action: ManualAction) -> bool:
    """Apply a person's action; True when it decided the rollout (aborted or promoted it), so
    the tick ends there."""
    tick.update(last_action=action.id)
    traits = tick.status.phase.traits
    why = f" ({action.reason})" if action.reason else ""
    if action.kind == Action.PAUSE:
        tick.update(paused=True, message=f"paused by user{why}")
        tick.notify("Paused", "warn", f"rollout paused by user{why}")
    elif action.kind == Action.RESUME:
        tick.update(paused=False, message=f"resumed by user{why}")
        tick.notify("Resumed", "info", f"rollout resumed by user{why}")
    elif action.kind == Action.APPROVE:
        tick.update(approved=True)
    elif action.kind == Action.ABORT and (traits.active or traits.unstarted):
        if traits.unstarted:  # not started yet: never start this revision
            tick.update(last_applied_spec=revision(tick.rollout, tick.obs.readiness))
        tick.rollback(f"aborted by user{why}", "aborted")
        return True
    elif action.kind == Action.PROMOTE and traits.active:
        if tick.last_verdict() == "fail":
            tick.update(
                message="promote refused: the last analysis failed (abort, or wait for a pass)"
            )
            return False
        tick.notify("ManualPromotion", "warn", f"promoted by user without finishing analysis{why}")
        tick.promote(f"promoted by user{why}")
        return True
    elif action.kind == Action.RETRY and tick.status.phase == Phase.FAILED:
        tick.start(revision(tick.rollout, tick.obs.readiness), f"retry requested{why}")
    return False


def _initializing(tick: Tick) -> None:
    tick.emit(EnsureChallenger(), SetRoutes(Routes()))
    ready = tick.obs.readiness
    if tick.obs.providers_offline is not None:
        # Flagger checks the metrics server before the first analysis; hold until it answers,
        # but no longer than the readiness deadline: a backend down for good fails the rollout
        _deadline(tick, "metrics provider", tick.obs.providers_offline, "error")
        return
    if ready is not None and ready.champion_ready:
        update: dict[str, object] = {"waiting_since": None}
        if tick.rollout.spec.target_ref is not None:
            # Flagger: the target's current revision becomes the primary; no analysis for it
            # (Knative: the revision the Service pins, recorded before any traffic is written;
            # a newer revision still starting is then rolled out as the challenger)
            rev = ready.champion_revision or revision(tick.rollout, ready)
            update |= {"last_applied_spec": rev, "last_promoted_spec": rev}
        tick.update(**update)
        tick.phase(Phase.INITIALIZED, "champion ready")
        tick.notify("Initialized", "info", "initialization done, champion ready")
        _idle(tick)
        return
    _deadline(tick, "champion", ready.message if ready else "")


def _deadline(tick: Tick, what: str, detail: str, outcome: Outcome = "deadline") -> bool:
    """Track a readiness wait; fail the rollout past progressDeadlineSeconds. True if failed.

    ``outcome``: ``deadline`` for a workload that is not ready, ``error`` for a metrics backend
    that does not answer (the status reference defines ``error`` as the provider failing).
    """
    if tick.status.waiting_since is None:
        tick.update(waiting_since=tick.stamp)
    limit = tick.rollout.spec.progress_deadline_seconds
    if seconds_between(tick.status.waiting_since, tick.now) < limit:
        tick.update(
            message=f"waiting for the {what} to be ready" + (f": {detail}" if detail else "")
        )
        return False
    reason = f"{what} not ready within progressDeadlineSeconds={limit}" + (
        f": {detail}" if detail else ""
    )
    if tick.status.phase == Phase.INITIALIZING:
        tick.update(outcome=outcome)
        tick.phase(Phase.FAILED, reason)
        tick.notify("RolloutFailed", "error", reason)
    else:
        tick.rollback(reason, "deadline")
    return True


def _idle(tick: Tick) -> None:
    """Initialized, Succeeded, Failed: start a rollout when a new challenger revision appears."""
    rev = revision(tick.rollout, tick.obs.readiness)
    status = tick.status
    if status.phase == Phase.FAILED:
        if rev == status.last_applied_spec:
            return  # a failed revision restarts only when it changes, or on retry
    elif rev == status.last_promoted_spec:
        return
    if not tick.gate_open("confirm-rollout"):
        if status.phase != Phase.WAITING:
            tick.notify("Waiting", "info", tick.gate_reason("confirm-rollout"))
        tick.update(last_applied_spec=rev)
        tick.phase(Phase.WAITING, tick.gate_reason("confirm-rollout"))
        return
    tick.start(rev, "new revision detected, starting analysis")


def _waiting(tick: Tick) -> None:
    if tick.rollout.spec.suspend or tick.status.paused:
        return
    if tick.gate_open("confirm-rollout"):
        tick.start(revision(tick.rollout, tick.obs.readiness), "confirm-rollout passed")
    else:
        tick.update(last_applied_spec=revision(tick.rollout, tick.obs.readiness))


def _progressing(tick: Tick) -> None:
    if _interrupted(tick):
        return
    status = tick.status
    if not status.pre_rollout_done:
        if "pre-rollout" in hook_types(tick.rollout):
            if "pre-rollout" not in tick.obs.gates:
                return  # not called this tick: never proceed blind
            if not tick.obs.gates["pre-rollout"]:
                _count_failure(tick, tick.gate_reason("pre-rollout").replace("waiting for", ""))
                return
        tick.update(pre_rollout_done=True, last_analysis_time=tick.stamp)
        if tick.rollout.spec.skip_analysis:
            tick.to_promotion("analysis skipped (skipAnalysis)")
            return
        tick.enter_stage(0)
        return
    if tick.rollout.spec.skip_analysis:
        tick.to_promotion("analysis skipped (skipAnalysis)")
        return
    result = _analyse(tick)
    if result is None or result.action != "advance":
        return
    _advance(tick)


def _interrupted(tick: Tick) -> bool:
    """Checks every analysing phase makes first; True when the tick ends here."""
    rev = revision(tick.rollout, tick.obs.readiness)
    if rev != tick.status.last_applied_spec:
        tick.notify("NewRevision", "info", "new challenger revision, restarting analysis")
        tick.start(rev, "new revision detected mid-rollout, analysis restarted")
        return True
    if tick.rollout.spec.suspend or tick.status.paused:
        tick.update(last_analysis_time=tick.stamp, message="suspended")
        return True
    if tick.obs.gates.get("rollback", False):
        tick.rollback(f"rollback webhook: {tick.obs.gate_messages.get('rollback', 'open')}")
        return True
    ready = tick.obs.readiness
    if ready is None:
        return True
    if ready.challenger_failed:
        # it was serving and died: the readiness deadline is for starting up, not for dying.
        # The interval's analysis is still recorded (its errors count), then it rolls back.
        _analyse(tick, act=False)
        tick.rollback(f"challenger failed: {ready.challenger_failed}")
        return True
    if not (ready.challenger_ready and ready.champion_ready):
        what = "challenger" if not ready.challenger_ready else "champion"
        _deadline(tick, what, ready.message)
        return True
    tick.update(waiting_since=None)
    return False


def _count_failure(tick: Tick, reason: str) -> None:
    failed = tick.status.failed_checks + 1
    tick.update(
        failed_checks=failed, message=f"failed checks {failed}/{tick.analysis.threshold}: {reason}"
    )
    if failed >= tick.analysis.threshold:
        tick.rollback(f"failed checks reached threshold {tick.analysis.threshold}: {reason}")


def _analyse(tick: Tick, act: bool = True) -> IntervalResult | None:
    """Run the interval's analysis (when data came), record it, act on fail/inconclusive
    (``act=False``: only record it, the caller decides)."""
    if tick.obs.provider_error is not None:
        _provider_error(tick, tick.obs.provider_error)
        return None
    data = tick.obs.data
    if data is None:
        return None
    status = tick.status
    state = stored_analysis(status.analysis_state).model_copy(
        update={
            "iterations": status.iterations,
            "failed_checks": status.failed_checks,
            "inconclusive_checks": status.inconclusive_checks,
        }
    )
    if tick.obs.look is not None:
        state = fold_look(tick, state)  # the traffic since the last look, not seen yet
    deadline = tick.rollout.spec.progress_deadline_seconds
    result = analyse_interval(
        tick.analysis,
        data,
        state,
        batches_checked=tick.obs.look is not None,
        hold_deadline_s=deadline,
    )
    if "rollout" in hook_types(tick.rollout) and not tick.obs.gates.get("rollout", False):
        result = _with_webhook_failure(tick, result, state)
    new = result.state
    tick.update(
        iterations=new.iterations,
        failed_checks=new.failed_checks,
        inconclusive_checks=new.inconclusive_checks,
        error_checks=status.error_checks + 1 if result.verdict == "error" else 0,
        analysis_state=new.model_dump(mode="json", include=set(STORED_KEYS)),
        last_analysis_time=tick.stamp,
        message=result.message,
    )
    tick.record(
        result.to_record(tick.stamp, status.phase, status.canary_weight, status.mirror_weight)
    )
    tick.emit(RecordAnalysis(result.verdict, result.message))
    if not act:
        return result
    if result.action == "rollback":
        tick.rollback(result.message)
    elif result.action == "inconclusive":
        # the message says it: "inconclusive N/M, rollout fails as inconclusive: ..."
        tick.rollback(result.message, "inconclusive")
    return result


def _provider_error(tick: Tick, error: str) -> None:
    """Argo's consecutiveErrorLimit: provider errors hold the rollout, then fail it."""
    status = tick.status
    errors = status.error_checks + 1
    limit = tick.analysis.inconclusive_limit
    message = f"metrics provider error {errors}/{limit}: {error}"
    tick.update(error_checks=errors, last_analysis_time=tick.stamp, message=message)
    record = AnalysisRecord(
        time=tick.stamp,
        phase=status.phase,
        canary_weight=status.canary_weight,
        mirror_weight=status.mirror_weight,
        verdict="error",
        message=message,
    )
    tick.record(record)
    tick.emit(RecordAnalysis("error", message))
    if errors >= limit:
        tick.rollback(f"metrics provider failed {errors} intervals in a row: {error}", "error")


def _with_webhook_failure(
    tick: Tick, result: IntervalResult, before: AnalysisState
) -> IntervalResult:
    """A failed ``rollout`` webhook is a failed check of the interval (Flagger)."""
    why = tick.gate_reason("rollout").replace("waiting for ", "")
    failed = before.failed_checks + 1
    action: IntervalAction = (
        "rollback" if failed >= tick.analysis.threshold or result.decisive else "hold"
    )
    state = result.state.model_copy(update={"failed_checks": failed, "inconclusive_checks": 0})
    message = f"failed checks {failed}/{tick.analysis.threshold}: {why}"
    return IntervalResult(
        "fail", action, result.checks, state, message, result.decisive, result.failing
    )


def _advance(tick: Tick) -> None:
    """A passing interval: count it; leave the stage when it is done."""
    status = tick.status
    stage = tick.plan[status.step_index]
    passes = status.stage_passes + 1
    tick.update(stage_passes=passes)
    held = seconds_between(status.step_started_at, tick.now) >= stage.duration * 0.999
    if passes < stage.intervals or not held:
        return
    if stage.pause and not status.approved:
        tick.update(message=f"stage {status.step_index + 1} paused: waiting for approval")
        return
    nxt = status.step_index + 1
    if nxt >= len(tick.plan):
        tick.to_promotion(f"analysis passed ({status.iterations} intervals)")
        return
    more = tick.plan[nxt].weight > stage.weight or (bool(tick.plan[nxt].match) and not stage.match)
    if more and not tick.gate_open("confirm-traffic-increase"):  # an A/B stage gives live traffic
        tick.update(message=tick.gate_reason("confirm-traffic-increase"))
        return
    tick.enter_stage(nxt)
    tick.notify("WeightChanged", "info", tick.status.message)


def _waiting_promotion(tick: Tick) -> None:
    if _interrupted(tick):
        return
    _analyse(tick)
    if tick.status.phase != Phase.WAITING_PROMOTION:
        return  # rolled back
    if tick.gate_open("confirm-promotion") and tick.last_verdict() in (None, "pass"):
        tick.promote("confirm-promotion passed")


def _promoting(tick: Tick) -> None:
    ready = tick.obs.readiness
    if ready is None or not ready.champion_ready:
        _deadline(tick, "promoted champion", ready.message if ready else "")
        return
    tick.update(waiting_since=None)
    tick.shift_back()


def _finalising(tick: Tick) -> None:
    tick.finish()


_HANDLERS: dict[Phase, Callable[[Tick], None]] = {
    Phase.INITIALIZING: _initializing,
    Phase.INITIALIZED: _idle,
    Phase.SUCCEEDED: _idle,
    Phase.FAILED: _idle,
    Phase.WAITING: _waiting,
    Phase.PROGRESSING: _progressing,
    Phase.WAITING_PROMOTION: _waiting_promotion,
    Phase.PROMOTING: _promoting,
    Phase.FINALISING: _finalising,
}
"""The machine's step per phase (Terminating ends in ``step`` itself)."""
