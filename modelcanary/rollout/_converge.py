"""What the world must look like for a stored status: the idempotent commands that realise it.

The engine writes a tick's new status *before* it executes the tick's commands (so a writer
that loses the optimistic-concurrency race has done nothing). If the engine then dies, or a
router or workload call fails, the status is ahead of the world; the next tick of any engine
first runs :func:`converge` to bring routes and workloads to what the status says, then steps
on. Only idempotent commands appear here (routes, ensure, scale, promote, finalize): one-shot
effects (webhooks, notifications) cannot be re-derived, so the status records them in its typed
``pendingEffects`` field (:func:`pending_record`) and :func:`owed` turns that record back into
the commands still owed.
"""

from __future__ import annotations

from ..spec._phases import Phase
from ..spec._plan import stages
from ..spec._rollout import ModelRollout
from ..spec._status import (
    NotifyEffect,
    PendingEffect,
    PendingEffects,
    RolloutStatus,
    WebhooksEffect,
)
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
)

IDEMPOTENT = (SetRoutes, EnsureChallenger, ScaleChallenger, PromoteChallenger, Finalize)
"""Commands that may run again with no harm: :func:`converge` re-issues them from status."""


def routes_of(rollout: ModelRollout, status: RolloutStatus) -> Routes:
    """The routes ``status`` describes.

    The weights come from the status; the stage the status points at adds what the weights do
    not say (A/B match, session affinity) when its weights are the ones in force. Phases
    without ``challenger_traffic`` send all traffic to the champion.
    """
    if not status.phase.traits.challenger_traffic:
        return Routes()
    weight, mirror = status.canary_weight, status.mirror_weight
    plain = Routes(champion_weight=100 - weight, challenger_weight=weight, mirror_weight=mirror)
    if not status.pre_rollout_done or rollout.spec.skip_analysis:
        return plain  # no stage entered yet
    stage = _stage_routes(rollout, status)
    if stage is not None and (stage.challenger_weight, stage.mirror_weight) == (weight, mirror):
        return stage
    return plain


def _stage_routes(rollout: ModelRollout, status: RolloutStatus) -> Routes | None:
    plan = stages(rollout.spec.analysis)
    if not 0 <= status.step_index < len(plan):
        return None
    return plan[status.step_index].routes(rollout.spec.analysis.session_affinity)


def converge(rollout: ModelRollout, status: RolloutStatus) -> list[Command]:
    """Idempotent commands that make routes and workloads match ``status`` (in order).

    Initializing re-issues its own commands every tick, so nothing is needed there; a
    Terminating rollout reverts routing when ``revertOnDeletion`` asks for it.
    """
    phase = status.phase
    if phase == Phase.INITIALIZING:
        return []
    if phase == Phase.TERMINATING:
        return [SetRoutes(Routes()), Finalize()] if rollout.spec.revert_on_deletion else []
    commands: list[Command] = []
    if phase.traits.analyses:
        commands.append(EnsureChallenger())
    if phase == Phase.PROMOTING:
        commands.append(PromoteChallenger())
    commands.append(SetRoutes(routes_of(rollout, status)))
    if phase.traits.decided:
        commands.append(ScaleChallenger(0))
    return commands


OneShot = Notify | RunWebhooks
"""Commands that must not run twice: they are recorded in the status, never re-derived."""


def _record(command: OneShot) -> PendingEffect:
    if isinstance(command, Notify):
        note = NotifyEffect(
            event=command.event,
            severity=command.severity,
            message=command.message,
            fields=dict(command.fields),
        )
        return PendingEffect(notify=note)
    hooks = WebhooksEffect.model_validate({"type": command.type, "message": command.message})
    return PendingEffect(webhooks=hooks)


def pending_record(tick: str, commands: list[Command]) -> PendingEffects | None:
    """The one-shot ``commands`` of tick ``tick`` as the status records them (None: none)."""
    shots = [_record(c) for c in commands if isinstance(c, Notify | RunWebhooks)]
    return PendingEffects(tick=tick, effects=shots) if shots else None


def owed(status: RolloutStatus) -> list[OneShot]:
    """The one-shot commands ``status`` records as decided and not yet delivered, in order."""
    record = status.pending_effects
    if record is None:
        return []
    commands: list[OneShot] = []
    for effect in record.effects:
        if effect.notify is not None:
            note = effect.notify
            commands.append(Notify(note.event, note.severity, note.message, dict(note.fields)))
        elif effect.webhooks is not None:
            commands.append(RunWebhooks(effect.webhooks.type, effect.webhooks.message))
    return commands
