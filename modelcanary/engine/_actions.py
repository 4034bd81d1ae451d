"""Manual actions as annotations: how people (CLI, notebook buttons, kubectl) steer a rollout.

``modelcanary.io/action: abort`` (or approve, pause, resume, retry, promote) plus an optional
``modelcanary.io/action-id`` (default: the action and its reason) and
``modelcanary.io/action-reason``. The state machine applies an action once per id, so leaving
the annotation in place is harmless.
"""

from __future__ import annotations

from ..rollout._observations import ACTIONS, ManualAction
from ..spec._phases import Action
from ..spec._rollout import ModelRollout

ACTION = "modelcanary.io/action"
ACTION_ID = "modelcanary.io/action-id"
ACTION_REASON = "modelcanary.io/action-reason"


def action_annotations(kind: str, action_id: str, reason: str = "") -> dict[str, str]:
    """Annotations that request ``kind`` (validated) with a unique id."""
    if kind not in ACTIONS:
        raise ValueError(f"unknown action {kind!r}; use one of {', '.join(ACTIONS)}")
    out = {ACTION: kind, ACTION_ID: action_id}
    if reason:
        out[ACTION_REASON] = reason
    return out


def action_from(rollout: ModelRollout) -> ManualAction | None:
    """The manual action annotated on the rollout, if any (unknown kinds are ignored)."""
    notes = rollout.metadata.annotations or {}
    kind = notes.get(ACTION, "").strip().lower()
    if kind not in ACTIONS:
        return None
    reason = notes.get(ACTION_REASON, "")
    return ManualAction(Action(kind), notes.get(ACTION_ID) or f"{kind}:{reason}", reason)


def without_actions(rollout: ModelRollout) -> ModelRollout:
    """``rollout`` with no status and no manual-action annotations (a fresh run of it)."""
    notes = {
        k: v
        for k, v in (rollout.metadata.annotations or {}).items()
        if k not in (ACTION, ACTION_ID, ACTION_REASON)
    }
    meta = rollout.metadata.model_copy(update={"annotations": notes or None})
    return rollout.model_copy(update={"status": None, "metadata": meta})
