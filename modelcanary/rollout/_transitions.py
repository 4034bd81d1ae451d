"""One tick in the making: the status being rewritten, the commands being emitted, and the
transitions shared by every phase (start, advance, promote, finish, roll back, terminate)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..spec._phases import Phase
from ..spec._plan import Stage, promotion_weights, stages
from ..spec._rollout import ModelRollout
from ..spec._status import HISTORY_LIMIT, AnalysisRecord, Condition, Outcome, RolloutStatus
from ._commands import (
    Command,
    EnsureChallenger,
    Finalize,
    Notify,
    PromoteChallenger,
    Routes,
    RunWebhooks,
    ScaleChallenger,
    SetRoutes,
    Severity,
)
from ._observations import Observations, hook_types
from ._rollback import champions_after_promotion, rollback_entry
from ._times import format_time


class Tick:
    """Accumulates the new status and the commands of one ``step``."""

    def __init__(
        self, rollout: ModelRollout, status: RolloutStatus, obs: Observations, now: datetime
    ) -> None:
        self.rollout = rollout
        self.analysis = rollout.spec.analysis
        self.status = status
        self.obs = obs
        self.now = now
        self.stamp = format_time(now)
        self.commands: list[Command] = []
        self.plan: list[Stage] = stages(self.analysis)

    # -- primitives -------------------------------------------------------------------------
    def update(self, **fields: Any) -> None:
        """Set status fields (snake_case names), validated: a misspelt name is a ``TypeError``,
        a wrong type or value (``phase="Bogus"``) a ``ValidationError``, raised here and not
        when the status is next read (see :meth:`RolloutStatus.updated`)."""
        self.status = self.status.updated(**fields)

    def emit(self, *commands: Command) -> None:
        """Append commands, in execution order."""
        self.commands.extend(commands)

    def notify(self, event: str, severity: Severity, message: str) -> None:
        """Tell people (alerts) and event webhooks."""
        self.emit(Notify(event, severity, message, {"phase": self.status.phase.value}))

    def phase(self, phase: Phase, message: str) -> None:
        """Move to ``phase`` with a reason; keeps the Promoted condition in step."""
        changed = phase != self.status.phase
        condition = Condition(
            type="Promoted",
            status=phase.traits.promoted_condition,
            reason=phase.value,
            message=message,
            last_transition_time=self.stamp if changed else self._condition_time(),
            last_update_time=self.stamp,
        )
        others = [c for c in self.status.conditions if c.type != "Promoted"]
        self.update(
            phase=phase,
            message=message,
            conditions=[*others, condition],
            last_transition_time=self.stamp if changed else self.status.last_transition_time,
        )

    def _condition_time(self) -> str | None:
        return next(
            (c.last_transition_time for c in self.status.conditions if c.type == "Promoted"), None
        )

    def set_routes(self, routes: Routes) -> None:
        """Route traffic and record the weights in the status."""
        self.emit(SetRoutes(routes))
        self.update(canary_weight=routes.challenger_weight, mirror_weight=routes.mirror_weight)

    def record(self, entry: AnalysisRecord) -> None:
        """Append to the bounded history."""
        history = [*self.status.history, entry][-HISTORY_LIMIT:]
        self.update(history=history)

    def gate_open(self, kind: str) -> bool:
        """A gating webhook type passed, was approved manually, or is not configured."""
        if kind not in hook_types(self.rollout):
            return True
        return self.status.approved or self.obs.gates.get(kind, False)

    def last_verdict(self) -> str | None:
        """Verdict of the latest analysis of this rollout (None before the first)."""
        if self.status.iterations == 0 or not self.status.history:
            return None
        return self.status.history[-1].verdict

    def gate_reason(self, kind: str) -> str:
        why = self.obs.gate_messages.get(kind, "")
        return f"waiting for {kind} webhook" + (f": {why}" if why else "")

    # -- transitions -------------------------------------------------------------------------
    def start(self, revision: str, message: str) -> None:
        """A new rollout of ``revision`` begins: reset counters, shift no traffic yet."""
        spec = self.rollout.spec
        self.update(
            iterations=0,
            outcome=None,
            failed_checks=0,
            inconclusive_checks=0,
            error_checks=0,
            step_index=0,
            stage_passes=0,
            pre_rollout_done=False,
            promoted=False,
            approved=False,
            analysis_state=None,
            last_applied_spec=revision,
            step_started_at=self.stamp,
            waiting_since=self.stamp,
            last_analysis_time=self.stamp,
            champion=spec.champion.source if spec.champion else None,
            challenger=spec.challenger.source if spec.challenger else revision,
        )
        if (entry := rollback_entry(self.rollout, self.status.history)) is not None:
            self.record(entry)  # `modelcanary rollback`: who asked for which version
            message = f"{entry.message}; {message}"
        self.emit(EnsureChallenger())
        self.set_routes(Routes())
        self.phase(Phase.PROGRESSING, message)
        self.notify("RolloutStarted", "info", message)

    def enter_stage(self, index: int) -> None:
        """Move to stage ``index`` of the plan and route its traffic."""
        stage = self.plan[index]
        self.update(step_index=index, stage_passes=0, step_started_at=self.stamp, approved=False)
        self.set_routes(stage.routes(self.analysis.session_affinity))
        self.update(message=f"stage {index + 1}/{len(self.plan)}: {stage.describe()}")

    def to_promotion(self, why: str) -> None:
        """Analysis done: wait for confirm-promotion, or promote."""
        if not self.gate_open("confirm-promotion"):
            if self.status.phase != Phase.WAITING_PROMOTION:
                self.notify("WaitingPromotion", "info", self.gate_reason("confirm-promotion"))
            self.phase(Phase.WAITING_PROMOTION, self.gate_reason("confirm-promotion"))
            return
        self.promote(why)

    def promote(self, why: str) -> None:
        """Copy the challenger to the champion; traffic moves back on the next ticks."""
        self.emit(PromoteChallenger())
        self.update(promoted=True, approved=False, waiting_since=self.stamp)
        self.phase(Phase.PROMOTING, f"promoting: {why}")
        self.notify("Promoting", "info", f"copying challenger to champion: {why}")

    def shift_back(self) -> None:
        """Promoting: move traffic to the promoted champion (at once or by stepWeightPromotion)."""
        weights = promotion_weights(self.analysis, self.status.canary_weight)
        self.set_routes(Routes(champion_weight=100 - weights[0], challenger_weight=weights[0]))
        if weights[0] == 0:
            self.phase(Phase.FINALISING, "all traffic on the promoted champion")
        else:
            self.update(message=f"promotion: challenger weight {weights[0]}%")

    def finish(self) -> None:
        """Finalising: scale the challenger down; the rollout succeeded."""
        self.emit(ScaleChallenger(0), RunWebhooks("post-rollout", "promoted"))
        self.update(
            last_promoted_spec=self.status.last_applied_spec,
            approved=False,
            outcome="promoted",
            champions=champions_after_promotion(self.rollout, self.status),
        )
        self.phase(Phase.SUCCEEDED, "challenger promoted")
        self.notify("RolloutSucceeded", "info", f"promotion of {self.status.challenger} complete")

    def rollback(self, reason: str, outcome: Outcome = "rolled_back") -> None:
        """All traffic to the champion, challenger down, Failed (with why and how)."""
        self.set_routes(Routes())
        self.emit(ScaleChallenger(0), RunWebhooks("post-rollout", "rolled back"))
        self.update(approved=False, waiting_since=None, outcome=outcome)
        self.phase(Phase.FAILED, f"rolled back: {reason}")
        self.notify("RolloutFailed", "error", f"rolled back: {reason}")

    def terminate(self) -> None:
        """Deleted: revert routing if asked, then let the runtime remove the rollout."""
        if self.rollout.spec.revert_on_deletion:
            self.set_routes(Routes())
            self.emit(Finalize())
        self.phase(Phase.TERMINATING, "rollout deleted")
