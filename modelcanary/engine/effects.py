"""Pending one-shot effects: the webhooks and notifications of a tick, recorded in its status.

The engine writes a tick's new status before it executes the tick's commands. Idempotent
commands (routes, workloads) are re-derived from the status after a crash
(:func:`modelcanary.rollout.converge.converge`); one-shot effects cannot be re-derived, so the
status written first carries them, under a tick id: the engine delivers them, then writes the
status again without them. A tick whose first write loses the optimistic-concurrency race
delivered nothing; an engine that dies after the write delivers them on the next tick (each
effect at least once, and at most once while the engine lives: it remembers the effect ids it
delivered, ``<tick id>/<index>``).

They are kept in ``status.analysisState`` under :data:`PENDING_KEY`, the status's one field
for engine state beside the judges' (``sequential``): a field of its own would need a CRD
change, and nothing but this module reads or writes the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..rollout.commands import SEVERITY_RANK, Command, Notify, RunWebhooks
from ..spec.status import RolloutStatus

PENDING_KEY = "pendingEffects"
"""Key of the pending effects in ``status.analysisState``."""

OneShot = Notify | RunWebhooks
ONE_SHOT_HOOKS = ("post-rollout",)
"""Webhook types the state machine fires as one-shot effects; a recorded effect naming another
type (a hand-edited status) is ignored, so a status writer cannot call gating hooks."""


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


def _encode(command: OneShot) -> dict[str, Any]:
    if isinstance(command, Notify):
        return {
            "notify": {
                "event": command.event,
                "severity": command.severity,
                "message": command.message,
                "fields": dict(command.fields),
            }
        }
    return {"webhooks": {"type": command.type, "message": command.message}}


def _decode(item: dict[str, Any]) -> OneShot | None:
    if "notify" in item:
        note = item["notify"]
        if note.get("severity") not in SEVERITY_RANK:
            return None
        return Notify(
            str(note["event"]),
            note["severity"],
            str(note["message"]),
            {str(k): str(v) for k, v in (note.get("fields") or {}).items()},
        )
    if "webhooks" in item and item["webhooks"].get("type") in ONE_SHOT_HOOKS:
        hooks = item["webhooks"]
        return RunWebhooks(str(hooks["type"]), str(hooks.get("message", "")))
    return None  # not something a tick records: never run from a status alone


def pending_of(status: RolloutStatus) -> Pending | None:
    """The effects ``status`` still owes (None when there are none, or they are unreadable)."""
    raw = (status.analysis_state or {}).get(PENDING_KEY)
    if not isinstance(raw, dict) or not isinstance(raw.get("effects"), list):
        return None
    try:
        decoded = [_decode(item) for item in raw["effects"] if isinstance(item, dict)]
    except (KeyError, TypeError, AttributeError):  # not as a tick writes it
        return None
    effects = tuple(e for e in decoded if e is not None)
    return Pending(str(raw.get("tick", "")), effects) if effects else None


def with_pending(status: RolloutStatus, tick: str, commands: list[Command]) -> RolloutStatus:
    """``status`` recording the one-shot ``commands`` of tick ``tick`` as pending."""
    shots = [c for c in commands if isinstance(c, Notify | RunWebhooks)]
    if not shots:
        return status
    state = dict(status.analysis_state or {})
    state[PENDING_KEY] = {"tick": tick, "effects": [_encode(c) for c in shots]}
    return status.updated(analysis_state=state)


def without_pending(status: RolloutStatus) -> RolloutStatus:
    """``status`` with no pending effects (exactly as ``step`` returned it)."""
    state = status.analysis_state
    if not state or PENDING_KEY not in state:
        return status
    rest = {k: v for k, v in state.items() if k != PENDING_KEY}
    return status.updated(analysis_state=rest or None)
