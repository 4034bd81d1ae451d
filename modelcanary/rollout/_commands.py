"""Commands: what the state machine asks the engine to do, as plain data (no I/O here).

``step()`` returns a list of these; the engine executes them in order through the ports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..spec._base import Severity as Severity  # its home is the spec vocabulary
from ..spec._traffic import Routes as Routes  # its home is the traffic vocabulary

SEVERITY_RANK: dict[str, int] = {"info": 0, "warn": 1, "error": 2}


@dataclass(frozen=True)
class SetRoutes:
    """Apply these routes through the TrafficRouter."""

    routes: Routes


@dataclass(frozen=True)
class EnsureChallenger:
    """Create or update the challenger workload (and the champion's, on first use)."""


@dataclass(frozen=True)
class ScaleChallenger:
    """Scale the challenger: 0 after promotion or rollback, its replicas to start."""

    replicas: int


@dataclass(frozen=True)
class PromoteChallenger:
    """Make the challenger the champion (copy its spec/model to the primary)."""


@dataclass(frozen=True)
class RunWebhooks:
    """Call the webhooks of this type (non-gating ones: results are only recorded)."""

    type: str
    message: str = ""


@dataclass(frozen=True)
class Notify:
    """Send an event to the alert providers whose severity admits it."""

    event: str
    """Short CamelCase event, e.g. ``RolloutFailed``."""
    severity: Severity
    message: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Finalize:
    """The rollout is deleted: revert routing to the champion and remove generated objects."""


@dataclass(frozen=True)
class RecordAnalysis:
    """An analysis interval was decided (for self-metrics and logs; history is in status)."""

    verdict: str
    message: str


Command = (
    SetRoutes
    | EnsureChallenger
    | ScaleChallenger
    | PromoteChallenger
    | RunWebhooks
    | Notify
    | Finalize
    | RecordAnalysis
)
