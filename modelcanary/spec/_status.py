"""The status of a ModelRollout: where the rollout is and why (all engine state lives here)."""

from __future__ import annotations

from difflib import get_close_matches
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ._base import Model, Severity
from ._phases import ConditionStatus, Phase

PHASES: tuple[str, ...] = tuple(phase.value for phase in Phase)
"""Every phase's name, in order (the CRD's enum)."""


def _phase(value: object) -> Phase:
    """A phase from its name: YAML and JSON give strings, and a rollout document is validated
    strictly (where an enum field would want the member itself)."""
    if isinstance(value, Phase):
        return value
    if isinstance(value, str) and value in PHASES:
        return Phase(value)
    expected = ", ".join(repr(p) for p in PHASES[:-1]) + f" or {PHASES[-1]!r}"
    raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})


PhaseField = Annotated[
    Phase, BeforeValidator(_phase), WithJsonSchema({"enum": list(PHASES), "type": "string"})
]
"""A :class:`Phase` in a model: its name accepted, its values listed where the field is (no
``$ref``), so the CRD and the field reference read as they did when phases were a ``Literal``."""
Verdict = Literal["pass", "fail", "inconclusive", "error", "skipped"]
Outcome = Literal[
    "promoted", "rolled_back", "inconclusive", "aborted", "deadline", "error", "timeout"
]
"""How a rollout ended (``status.outcome``)."""

HISTORY_LIMIT = 100
"""Analysis records kept in ``status.history`` (oldest dropped first)."""
CHAMPIONS_LIMIT = 20
"""Versions kept in ``status.champions`` (oldest dropped first)."""


class Condition(Model):
    """A Kubernetes-style condition, e.g. ``Promoted=True``."""

    type: str
    """Condition type, e.g. ``Promoted``."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: str
    """One CamelCase word, e.g. ``Succeeded``."""
    message: str = ""
    """Human explanation."""
    last_transition_time: str | None = None
    """RFC 3339 time the status last changed."""
    last_update_time: str | None = None
    """RFC 3339 time the condition was last written."""


class CheckRecord(Model):
    """One metric's result in one analysis interval: value, rule, verdict and why."""

    metric: str
    """Metric name."""
    value: float | None = None
    """Measured value (None when there was no data)."""
    champion_value: float | None = None
    """The champion's value when the check compares the two versions."""
    min: float | None = None
    """Lower bound applied."""
    max: float | None = None
    """Upper bound applied."""
    judge: str = "threshold"
    """Judge that decided."""
    p_value: float | None = None
    """p-value of the statistical test, when a test decided (sequential, mann-whitney)."""
    verdict: Verdict
    """pass, fail, inconclusive, error or skipped."""
    reason: str = ""
    """One line explaining the verdict."""


class AnalysisRecord(Model):
    """One analysis interval as kept in the history."""

    time: str
    """RFC 3339 time of the analysis."""
    phase: PhaseField
    """Phase during the analysis."""
    canary_weight: int = 0
    """Challenger weight during the interval."""
    mirror_weight: int = 0
    """Mirror percent during the interval."""
    verdict: Verdict
    """Overall verdict of the interval."""
    checks: list[CheckRecord] = Field(default_factory=list)
    """Each metric's result."""
    message: str = ""
    """Summary of the interval."""
    kind: Literal["rollback"] | None = None
    """None: an analysis interval; ``rollback``: a person asked to roll back to an earlier version (``modelcanary rollback NAME --to VERSION``): no checks, verdict ``skipped``, the analysed rollout back to ``version`` follows."""
    version: str | None = None
    """Rollback entries: the version rolled back to (its source: modelUri, image or url)."""
    requested_by: str | None = None
    """Rollback entries: who asked (their login name, or ``--by``)."""


OneShotHook = Literal["post-rollout"]
"""Webhook types the state machine fires as one-shot effects. A recorded effect naming another
type (a hand-edited status) is refused, so a status writer cannot make the engine call a
gating hook."""


class NotifyEffect(Model):
    """A notification a tick decided to send (the machine's ``Notify`` command, as data)."""

    event: str
    """Short CamelCase event, e.g. ``RolloutPromoted``."""
    severity: Severity
    """info, warn or error (alerts of a higher minimum severity skip it)."""
    message: str = ""
    """What happened, for people."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Extra key/value details of the event."""


class WebhooksEffect(Model):
    """A fire-and-forget webhook call a tick decided on (the machine's ``RunWebhooks``)."""

    type: OneShotHook
    """Webhook type to call: post-rollout (the only one-shot type)."""
    message: str = ""
    """Why, e.g. ``promoted``."""


class PendingEffect(Model):
    """One one-shot effect: exactly one of ``notify`` and ``webhooks``."""

    model_config = ConfigDict(
        json_schema_extra={  # the API server checks it too (CEL), as the validator below does
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.notify) != has(self.webhooks)",
                    "message": "a pending effect has exactly one of notify, webhooks",
                }
            ]
        }
    )

    notify: NotifyEffect | None = None
    """A notification to send."""
    webhooks: WebhooksEffect | None = None
    """Webhooks to call."""

    @model_validator(mode="after")
    def _exactly_one(self) -> PendingEffect:
        if (self.notify is None) == (self.webhooks is None):
            raise ValueError("a pending effect has exactly one of notify, webhooks; give one")
        return self


class PendingEffects(Model):
    """The one-shot effects (webhooks, notifications) a written status still owes.

    The engine writes a tick's status before it executes the tick's commands; webhooks and
    notifications cannot be re-derived from the status after a crash (routes and workloads
    can), so that write records them here and the write after their delivery clears them.
    """

    tick: str
    """Id of the tick that decided them: effect ``i`` is ``<tick>/<i>``, delivered once."""
    effects: list[PendingEffect] = Field(min_length=1)
    """The effects, in the order the tick emitted them."""


LEGACY_PENDING_KEY = "pendingEffects"
"""Where releases before the typed field kept pending effects: ``status.analysisState``."""


def _legacy_pending(data: Any) -> Any:
    """A status as written before ``pendingEffects`` was a field of its own, moved into it.

    The old writers kept ``{tick, effects: [{notify: ...} | {webhooks: ...}]}`` under
    ``analysisState.pendingEffects``; a crash resumes from such a status, so it is still read.
    Entries no tick writes (a gating hook type, an unknown severity, anything else) are
    dropped, as the old reader ignored them: a status alone never runs them.
    """
    if not isinstance(data, dict):
        return data
    key = next((k for k in ("analysisState", "analysis_state") if k in data), "")
    state = data.get(key)
    if not isinstance(state, dict) or LEGACY_PENDING_KEY not in state:
        return data
    rest = {k: v for k, v in state.items() if k != LEGACY_PENDING_KEY}
    moved: dict[str, Any] = {**data, key: rest or None}
    raw = state[LEGACY_PENDING_KEY]
    if any(data.get(k) is not None for k in ("pendingEffects", "pending_effects")):
        return moved  # the typed field wins over a stale copy
    if isinstance(raw, dict) and isinstance(raw.get("effects"), list):
        effects = []
        for item in raw["effects"]:
            try:
                effects.append(PendingEffect.model_validate(item))
            except ValidationError:
                continue
        if effects:
            moved["pendingEffects"] = PendingEffects(tick=str(raw.get("tick", "")), effects=effects)
    return moved


class RolloutStatus(Model):
    """Observed state of a ModelRollout; a runtime resumes from it after a crash."""

    phase: PhaseField = Phase.INITIALIZING
    """Initializing, Initialized, Waiting, Progressing, WaitingPromotion, Promoting, Finalising, Succeeded, Failed or Terminating."""
    canary_weight: int = Field(default=0, ge=0, le=100)
    """Current challenger traffic percent."""
    mirror_weight: int = Field(default=0, ge=0, le=100)
    """Current mirrored traffic percent."""
    iterations: int = Field(default=0, ge=0)
    """Completed analysis intervals in this rollout."""
    failed_checks: int = Field(default=0, ge=0)
    """Failed checks counted towards the threshold."""
    inconclusive_checks: int = Field(default=0, ge=0)
    """Consecutive inconclusive intervals (separate from failures)."""
    error_checks: int = Field(default=0, ge=0)
    """Consecutive intervals with provider errors (separate from failures)."""
    step_index: int = Field(default=0, ge=0)
    """Index of the current stage in the plan (shadow, weights, A/B, blue/green or steps)."""
    step_started_at: str | None = None
    """RFC 3339 time the current stage began."""
    stage_passes: int = Field(default=0, ge=0)
    """Passing analysis intervals in the current stage."""
    pre_rollout_done: bool = False
    """The pre-rollout webhooks passed for this revision."""
    promoted: bool = False
    """The challenger was copied to the champion (promotion in progress or done)."""
    paused: bool = False
    """Paused by a manual action (spec.suspend pauses too)."""
    approved: bool = False
    """A manual approval opens the current gate or pause step once."""
    last_action: str | None = None
    """Id of the last manual action applied (so an action is applied once)."""
    waiting_since: str | None = None
    """RFC 3339 time the rollout started waiting for readiness (progress deadline)."""
    last_analysis_time: str | None = None
    """RFC 3339 end of the last analysed window."""
    analysis_state: dict[str, Any] | None = None
    """Judges' resumable state (e.g. sequential tests' sufficient statistics)."""
    pending_effects: PendingEffects | None = None
    """Webhooks and notifications decided by the last tick and not yet delivered (cleared on delivery; a crash delivers them on the next tick)."""
    last_applied_spec: str | None = None
    """Hash of the challenger spec being rolled out."""
    last_promoted_spec: str | None = None
    """Hash of the spec last promoted to champion."""
    last_transition_time: str | None = None
    """RFC 3339 time of the last phase change."""
    observed_generation: int | None = None
    """Spec generation this status describes."""
    champion: str | None = None
    """Source of the version serving as champion."""
    challenger: str | None = None
    """Source of the version under test."""
    champions: list[str] | None = Field(default=None, max_length=CHAMPIONS_LIMIT)
    """Versions that served as champion, oldest first (at most 20): each rollout's champion and each promoted challenger. ``modelcanary rollback NAME --to VERSION`` names one of them."""
    conditions: list[Condition] = Field(default_factory=list)
    """Kubernetes-style conditions."""
    history: list[AnalysisRecord] = Field(default_factory=list, max_length=HISTORY_LIMIT)
    """Latest analysis records, at most 100, oldest first."""
    message: str = ""
    """Why the rollout is where it is."""
    outcome: Outcome | None = None
    """How the last rollout ended: promoted, rolled_back (analysis failed), inconclusive, aborted (by a person), deadline (not ready in time), error (metrics provider failing) or timeout (`modelcanary run --timeout` ran out: aborted, traffic back on the champion)."""

    @model_validator(mode="before")
    @classmethod
    def _read_legacy_pending(cls, data: Any) -> Any:
        return _legacy_pending(data)

    def updated(self, **fields: Any) -> RolloutStatus:
        """A copy with ``fields`` (snake_case names) set, validated like the status itself.

        Unlike ``model_copy(update=...)``, nothing slips through: an unknown field name is a
        ``TypeError`` naming the closest field, a wrong type or value (``phase="Bogus"``,
        ``canary_weight=150``) a pydantic ``ValidationError``. The fields left as they are
        are not validated again (nested models are taken as they are), so this stays cheap.
        """
        known = type(self).model_fields
        unknown = [name for name in fields if name not in known]
        if unknown:
            hints = [get_close_matches(name, known, n=1) for name in unknown]
            raise TypeError(
                "RolloutStatus has no field "
                + ", ".join(
                    repr(name) + (f" (did you mean {hint[0]!r}?)" if hint else "")
                    for name, hint in zip(unknown, hints, strict=True)
                )
            )
        return type(self).model_validate({**self.__dict__, **fields})

    def _repr_html_(self) -> str:
        """Notebook view: phase badge, weights, counters and the last interval's checks."""
        from ._html import status_html

        return status_html(self)


__all__ = [
    "CHAMPIONS_LIMIT",
    "HISTORY_LIMIT",
    "PHASES",
    "AnalysisRecord",
    "CheckRecord",
    "Condition",
    "NotifyEffect",
    "OneShotHook",
    "Outcome",
    "PendingEffect",
    "PendingEffects",
    "Phase",
    "PhaseField",
    "RolloutStatus",
    "Verdict",
    "WebhooksEffect",
]
