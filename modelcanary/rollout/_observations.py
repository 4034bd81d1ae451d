"""Observations: what the engine saw this tick, the only input of ``step`` besides the spec.

The engine gathers them through the ports: readiness of both versions, the measurements of
the window since the last analysis (only when :func:`analysis_due`), the results of the gating
webhooks :func:`gates_needed` asks for, a manual action, and whether the rollout is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..analysis._measurements import IntervalData
from ..spec._base import parse_duration
from ..spec._phases import GATE_TYPES, Action
from ..spec._rollout import ModelRollout
from ..spec._status import RolloutStatus
from ._times import parse_time

ACTIONS: tuple[str, ...] = tuple(action.value for action in Action)
"""Every manual action's name (``approve``, ``pause``, ...), in order."""

__all__ = [
    "ACTIONS",
    "GATE_TYPES",
    "ManualAction",
    "Observations",
    "Readiness",
    "analysis_due",
    "gates_needed",
    "hook_types",
    "next_delay",
    "revision",
]


@dataclass(frozen=True)
class Readiness:
    """Workload readiness as observed (per the ready thresholds)."""

    champion_ready: bool
    challenger_ready: bool
    challenger_revision: str | None = None
    """Identity of the challenger version; a new value mid-rollout restarts the analysis."""
    message: str = ""
    challenger_failed: str = ""
    """Why the challenger failed after it was ready (its process exited, nothing listens any
    more, or it hangs: its health check timed out again and again for at least an analysis
    interval): a failure, not a start-up wait, so an analysing rollout rolls back at once."""
    champion_revision: str | None = None
    """Identity of the version serving as champion, when the workloads know it apart from the
    challenger's (Knative: the revision the Service pins now, while a newer one may still be
    starting); a rollout that initialises records it as the promoted revision."""


@dataclass(frozen=True)
class ManualAction:
    """A person's decision: approve a gate, pause, resume, abort, retry or promote now."""

    kind: Action
    id: str
    """Unique id (e.g. a timestamp) so the same action is applied once."""
    reason: str = ""


@dataclass(frozen=True)
class Observations:
    """Everything ``step`` may look at besides spec, status and time."""

    readiness: Readiness | None = None
    data: IntervalData | None = None
    """Measurements of the window since the last analysis; None when no analysis is due."""
    gates: Mapping[str, bool] = field(default_factory=dict)
    """Webhook type -> every webhook of that type passed (only types asked for)."""
    gate_messages: Mapping[str, str] = field(default_factory=dict)
    """Webhook type -> why it did not pass."""
    action: ManualAction | None = None
    deleted: bool = False
    provider_error: str | None = None
    """The metrics backend failed this interval (counted apart from failures, never a pass)."""
    providers_offline: str | None = None
    """At initialisation: which metrics providers fail ``is_online()`` (holds Initializing)."""
    look: IntervalData | None = None
    """Measurements since the last look (:mod:`._looks`): alone, a look between intervals
    (sequential tests only, rollback only); beside ``data``, the rest of the interval the
    looks have not fed yet."""


def revision(rollout: ModelRollout, readiness: Readiness | None) -> str:
    """The challenger revision: the workload's own, else a hash of the challenger spec."""
    if readiness is not None and readiness.challenger_revision:
        return readiness.challenger_revision
    return rollout.spec_hash()


def hook_types(rollout: ModelRollout) -> set[str]:
    """Webhook types configured in the rollout."""
    return {hook.type for hook in rollout.spec.analysis.webhooks}


def gates_needed(rollout: ModelRollout, status: RolloutStatus) -> set[str]:
    """Gating webhook types the engine must call before ``step`` this tick (the phase's
    ``gates``; ``pre-rollout`` only until it has passed)."""
    wanted: set[str] = set(status.phase.traits.gates)
    if status.pre_rollout_done:
        wanted.discard("pre-rollout")
    return wanted & hook_types(rollout)


def analysis_due(rollout: ModelRollout, status: RolloutStatus, now: datetime) -> bool:
    """True when an analysis interval has elapsed in a phase that analyses."""
    if not status.phase.traits.analyses or rollout.spec.skip_analysis:
        return False
    if rollout.spec.suspend or status.paused:
        return False
    if status.last_analysis_time is None:
        return True
    elapsed = (now - parse_time(status.last_analysis_time)).total_seconds()
    return elapsed >= parse_duration(rollout.spec.analysis.interval) * 0.999


def next_delay(rollout: ModelRollout, status: RolloutStatus, now: datetime) -> float:
    """Seconds until the engine should tick this rollout again: a second in the ``fast``
    phases (readiness waits, traffic moves), else until the next analysis is due."""
    interval = parse_duration(rollout.spec.analysis.interval)
    traits = status.phase.traits
    if traits.fast:
        return min(1.0, interval)
    if traits.analyses and status.last_analysis_time:
        elapsed = (now - parse_time(status.last_analysis_time)).total_seconds()
        return max(0.0, min(interval, interval - elapsed))
    return interval
