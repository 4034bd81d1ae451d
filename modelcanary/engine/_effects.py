"""Pending one-shot effects: the webhooks and notifications of a tick, recorded in its status.

The engine writes a tick's new status before it executes the tick's commands. Idempotent
commands (routes, workloads) are re-derived from the status after a crash
(:func:`modelcanary.rollout._converge.converge`); one-shot effects cannot be re-derived, so the
status written first carries them, under a tick id: the engine delivers them, then writes the
status again without them. A tick whose first write loses the optimistic-concurrency race
delivered nothing; an engine that dies after the write delivers them on the next tick (each
effect at least once, and at most once while the engine lives: it remembers the effect ids it
delivered, ``<tick id>/<index>``).

They are kept in the status's typed field ``pendingEffects``
(:class:`~modelcanary.spec._status.PendingEffects`); the record <-> command translation is
:func:`~modelcanary.rollout._converge.pending_record` and
:func:`~modelcanary.rollout._converge.owed`. A status written by a release that kept them under
``analysisState.pendingEffects`` is moved into the field when it is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..rollout._commands import Command, Notify, RunWebhooks
from ..rollout._converge import OneShot, owed, pending_record
from ..spec._status import RolloutStatus


@dataclass(frozen=True)
class Pending:
    """The one-shot effects a written status still owes, and the tick that emitted them."""

    tick: str
    effects: tuple[OneShot, ...]

    def ids(self) -> list[str]:
        """One id per effect: ``<tick>/<index>``."""
        return [effect_id(self.tick, i) for i in range(len(self.effects))]


def effect_id(tick: str, index: int) -> str:
    """Id of the ``index``-th one-shot effect of tick ``tick``."""
    return f"{tick}/{index}"


def is_one_shot(command: Command) -> bool:
    """True for commands that must not run twice (webhook calls, notifications)."""
    return isinstance(command, Notify | RunWebhooks)


def pending_of(status: RolloutStatus) -> Pending | None:
    """The effects ``status`` still owes (None when there are none)."""
    record = status.pending_effects
    effects = tuple(owed(status))
    return Pending(record.tick, effects) if record is not None and effects else None


def with_pending(status: RolloutStatus, tick: str, commands: list[Command]) -> RolloutStatus:
    """``status`` recording the one-shot ``commands`` of tick ``tick`` as pending."""
    record = pending_record(tick, commands)
    return status if record is None else status.updated(pending_effects=record)


def without_pending(status: RolloutStatus) -> RolloutStatus:
    """``status`` with no pending effects (exactly as ``step`` returned it)."""
    if status.pending_effects is None:
        return status
    return status.updated(pending_effects=None)
