"""The builder's immutable state and results: fields, copy helpers, ``build()``, ``repr``.

The state is a frozen pydantic model. Fluent methods (in :mod:`.rollout` and :mod:`.checks`)
return ``model_copy(update=...)`` of it, so the original never changes and a notebook can
branch several variants from one base. Fragments are validated at the call that gives them;
cross-field rules run once, in :meth:`RolloutState.build`.
"""

from __future__ import annotations

import warnings
from typing import Any, Self

from pydantic import BaseModel, ConfigDict

from modelcanary.errors import SpecError
from modelcanary.spec import (
    Alert,
    Analysis,
    LoadWarning,
    Metadata,
    MetricSpec,
    ModelRollout,
    RolloutSpec,
    SpecWarning,
    Webhook,
    load_warnings,
    parse_rollout,
    to_yaml,
)
from modelcanary.spec._warnings import other_warnings

from ._chain import chained, plan_fields
from ._html import rollout_html, rollout_summary
from ._plans import Plan
from ._util import drop_none, merged, set_fields, validated

ANALYSIS_PATH = ("spec", "analysis")


class RolloutState(BaseModel):
    """What a rollout builder holds; every part is a validated (partial) spec model."""

    model_config = ConfigDict(frozen=True, defer_build=True)  # validators made on first use

    meta: Metadata
    """Name, namespace, labels."""
    spec_fields: RolloutSpec
    """Partial RolloutSpec: versions, router, service, load, flags (its analysis is unused)."""
    options: Analysis
    """Partial Analysis: interval, threshold, noData and other plan-independent settings."""
    plans: tuple[Plan, ...] = ()
    """The traffic plans in call order (shadow, canary, A/B, blue/green, steps): one plan, or
    an ordered chain of stages (see :mod:`._chain`)."""
    metric_specs: tuple[MetricSpec, ...] = ()
    webhook_specs: tuple[Webhook, ...] = ()
    alert_specs: tuple[Alert, ...] = ()

    def __init__(self, name: str, namespace: str | None = None) -> None:
        meta = validated(Metadata, drop_none(name=name, namespace=namespace), ("metadata",))
        empty = Analysis()
        super().__init__(meta=meta, spec_fields=RolloutSpec(analysis=empty), options=empty)

    def _spec(self, **updates: Any) -> Self:
        """A copy with RolloutSpec fields updated (camelCase keys; None = unchanged)."""
        spec = merged(self.spec_fields, updates, ("spec",))
        return self.model_copy(update={"spec_fields": spec})

    def _options(self, **updates: Any) -> Self:
        """A copy with plan-independent Analysis fields updated."""
        return self.model_copy(update={"options": merged(self.options, updates, ANALYSIS_PATH)})

    def _with_plan(self, plan: Plan, interval: str | None, threshold: int | None) -> Self:
        """A copy with ``plan`` added to the chain (or updating the plan of its kind)."""
        new = self._options(interval=interval, threshold=threshold)
        return new.model_copy(update={"plans": chained(self.plans, plan)})

    def draft(self) -> ModelRollout:
        """The resource as built so far, NOT validated (for display); use :meth:`build`."""
        fields = set_fields(self.options) | plan_fields(self.plans)
        analysis = Analysis.model_construct(
            **fields,
            metrics=list(self.metric_specs),
            webhooks=list(self.webhook_specs),
            alerts=list(self.alert_specs),
        )
        spec = self.spec_fields.model_copy(update={"analysis": analysis})
        return ModelRollout.model_construct(metadata=self.meta, spec=spec)

    def build(self) -> ModelRollout:
        """The validated ModelRollout; SpecError lists every problem with its field path.

        Warns (:class:`~modelcanary.spec.LoadWarning`) about each stage the
        local load cannot feed (see :meth:`load_warnings`)."""
        return self._validated(stacklevel=3)

    def _validated(self, stacklevel: int) -> ModelRollout:
        """``build()``; its load warnings point ``stacklevel`` frames up (the user's line)."""
        rollout = parse_rollout(self.draft().to_dict())
        for issue in load_warnings(rollout):
            warnings.warn(str(issue), LoadWarning, stacklevel=stacklevel)
        for issue in other_warnings(rollout):
            warnings.warn(str(issue), SpecWarning, stacklevel=stacklevel)
        return rollout

    def load_warnings(self) -> list[str]:
        """Stages the local load (``load()``) cannot feed, with the field and the fix: an A/B
        match that no request (or every request) satisfies, a weight too small for the rate,
        a stage that starts after ``duration``. Empty without ``load()``."""
        return [str(issue) for issue in load_warnings(parse_rollout(self.draft().to_dict()))]

    def to_dict(self) -> dict[str, Any]:
        """The validated resource as plain data (YAML field names)."""
        return self._validated(stacklevel=3).to_dict()

    def to_yaml(self) -> str:
        """The validated resource as YAML, ready for ``kubectl apply`` or ``modelcanary run``."""
        return to_yaml(self._validated(stacklevel=3))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({rollout_summary(self.draft())})"

    __str__ = __repr__

    def _repr_html_(self) -> str:
        """Notebook view: the validated rollout, or the draft and what is still wrong."""
        try:
            return rollout_html(self.build())
        except SpecError as exc:
            return rollout_html(self.draft(), exc.issues)
