"""The pure rollout state machine: ``step(rollout, status, observations, now)``, no I/O.

See :mod:`modelcanary.rollout.machine` for the phases and rules, :mod:`modelcanary.spec.plan`
for how each strategy becomes stages (the one plan, shared with the backtest),
:mod:`.commands` for what the engine is asked to do and :mod:`.observations` for what it
must observe first.
"""

from ..spec.plan import Stage, stages
from .commands import (
    Command,
    EnsureChallenger,
    Finalize,
    Notify,
    PromoteChallenger,
    RecordAnalysis,
    Routes,
    RunWebhooks,
    ScaleChallenger,
    SetRoutes,
)
from .machine import step
from .observations import (
    ACTIONS,
    GATE_TYPES,
    ManualAction,
    Observations,
    Readiness,
    analysis_due,
    gates_needed,
    revision,
)

__all__ = [
    "ACTIONS",
    "GATE_TYPES",
    "Command",
    "EnsureChallenger",
    "Finalize",
    "ManualAction",
    "Notify",
    "Observations",
    "PromoteChallenger",
    "Readiness",
    "RecordAnalysis",
    "Routes",
    "RunWebhooks",
    "ScaleChallenger",
    "SetRoutes",
    "Stage",
    "analysis_due",
    "gates_needed",
    "revision",
    "stages",
    "step",
]
