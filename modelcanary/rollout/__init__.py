"""The pure rollout state machine: ``step(rollout, status, observations, now)``, no I/O.

:func:`step` applies the phase rules; :func:`stages` (defined in :mod:`modelcanary.spec`, the
one plan shared with the backtest) says how each strategy becomes stages; the commands
(:class:`SetRoutes`, :class:`PromoteChallenger`...) are what the engine is asked to do, the
:class:`Observations` what it must observe first, and :func:`converge` the idempotent commands
that bring routes and workloads back to what a stored status says.
"""

from ..spec import Stage, stages
from ._commands import (
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
from ._converge import converge
from ._machine import step
from ._observations import (
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
    "converge",
    "gates_needed",
    "revision",
    "stages",
    "step",
]
