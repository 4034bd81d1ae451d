"""Phases and manual actions of a rollout, and the one table of what each phase means.

Every question about a phase (does it analyse? may the challenger get traffic? is the rollout
decided? which gating webhooks does it ask?) is answered by :data:`PHASE_TABLE`, read through
``phase.traits``: the state machine, the engine, the runner, the CLI, the HTML views and the
engine's self-metrics all read it, so a new phase or a changed rule is one edit here.
``tests/rollout/test_phase_table.py`` fails when a second set of phase names appears
elsewhere in the package.

:class:`Phase` and :class:`Action` are ``StrEnum``s: a member *is* its string (``Phase.FAILED
== "Failed"``), so the status YAML/JSON, the CRD enum and the webhook payloads are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal


class Phase(StrEnum):
    """Where a rollout is (``status.phase``); Flagger's phases plus ``Terminating``."""

    INITIALIZING = "Initializing"
    INITIALIZED = "Initialized"
    WAITING = "Waiting"
    PROGRESSING = "Progressing"
    WAITING_PROMOTION = "WaitingPromotion"
    PROMOTING = "Promoting"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TERMINATING = "Terminating"

    @property
    def traits(self) -> PhaseTraits:
        """This phase's row of :data:`PHASE_TABLE`."""
        return PHASE_TABLE[self]


class Action(StrEnum):
    """A person's decision on a rollout (the ``modelcanary.io/action`` annotation, the CLI
    commands and the notebook buttons)."""

    APPROVE = "approve"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    RETRY = "retry"
    PROMOTE = "promote"


ConditionStatus = Literal["True", "False", "Unknown"]
GateType = Literal[
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "rollback",
]
"""Webhook types whose answer the state machine waits for (the others are fire-and-forget)."""


@dataclass(frozen=True)
class PhaseTraits:
    """What one phase means, for everything that reads a phase."""

    analyses: bool = False
    """Analysis intervals run and the ``rollback`` webhook is asked (the machine holds the
    interval clock)."""
    active: bool = False
    """A challenger's rollout is under way: a person may promote it now, or abort it."""
    unstarted: bool = False
    """No rollout has started yet (only the champion exists): an abort marks the current
    revision as never to start, and may come before any traffic moved."""
    challenger_traffic: bool = False
    """The challenger may get traffic: the status's weights are the routes in force (every
    other phase sends everything to the champion)."""
    fast: bool = False
    """Waits for readiness or moves traffic: ticked every second, not once per interval."""
    promoted: bool = False
    """The analysis is over and the challenger won: it is being, or has been, promoted."""
    decided: bool = False
    """The rollout's outcome is known (``status.outcome``)."""
    final: bool = False
    """Nothing more happens to this revision: a runner stops here."""
    idle_target: bool = False
    """Between rollouts: the target of a ``targetRef`` rollout runs no pods (the operator puts
    it back to 0 if a GitOps re-apply scales it up)."""
    gates: tuple[GateType, ...] = ()
    """Gating webhook types asked before each step (``pre-rollout`` until it has passed)."""
    promoted_condition: ConditionStatus = "Unknown"
    """Status of the ``Promoted`` condition written with the phase."""
    status_gauge: int = 0
    """``modelcanary_rollout_status``: 0 running, 1 succeeded, 2 failed (Flagger's
    ``canary_status``)."""
    colour: str = "#757575"
    """Badge colour in the HTML views (grey for phases with nothing to say)."""


PHASE_TABLE: Mapping[Phase, PhaseTraits] = MappingProxyType(
    {
        Phase.INITIALIZING: PhaseTraits(unstarted=True, fast=True),
        Phase.INITIALIZED: PhaseTraits(
            unstarted=True, fast=True, idle_target=True, gates=("confirm-rollout",)
        ),
        Phase.WAITING: PhaseTraits(
            active=True, idle_target=True, gates=("confirm-rollout",), colour="#6d4c41"
        ),
        Phase.PROGRESSING: PhaseTraits(
            analyses=True,
            active=True,
            challenger_traffic=True,
            gates=(
                "pre-rollout",
                "rollout",
                "confirm-traffic-increase",
                "confirm-promotion",
                "rollback",
            ),
            colour="#1565c0",
        ),
        Phase.WAITING_PROMOTION: PhaseTraits(
            analyses=True,
            active=True,
            challenger_traffic=True,
            gates=("rollout", "confirm-promotion", "rollback"),
            colour="#ef6c00",
        ),
        Phase.PROMOTING: PhaseTraits(
            challenger_traffic=True, fast=True, promoted=True, colour="#00838f"
        ),
        Phase.FINALISING: PhaseTraits(fast=True, promoted=True, colour="#00838f"),
        Phase.SUCCEEDED: PhaseTraits(
            promoted=True,
            decided=True,
            final=True,
            idle_target=True,
            gates=("confirm-rollout",),
            promoted_condition="True",
            status_gauge=1,
            colour="#2e7d32",
        ),
        Phase.FAILED: PhaseTraits(
            decided=True,
            idle_target=True,
            final=True,
            gates=("confirm-rollout",),
            promoted_condition="False",
            status_gauge=2,
            colour="#c62828",
        ),
        Phase.TERMINATING: PhaseTraits(final=True, colour="#616161"),
    }
)
"""Every phase's traits (one row per :class:`Phase`)."""

GATE_TYPES: tuple[GateType, ...] = GateType.__args__  # type: ignore[attr-defined]


__all__ = [
    "GATE_TYPES",
    "PHASE_TABLE",
    "Action",
    "GateType",
    "Phase",
    "PhaseTraits",
]
