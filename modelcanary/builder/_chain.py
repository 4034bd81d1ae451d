"""How the plans of one rollout combine: one plan (with a shadow phase), or an ordered chain.

``shadow()``, ``canary()``, ``ab_test()``, ``blue_green()`` and ``steps()`` each add a plan.
The rollout keeps them in the order of their first call; calling a kind again updates that
plan where it stands (tuning a notebook cell never reorders the stages).

- **One plan**, with or without a shadow phase: the Flagger fields, exactly as a single call
  always wrote them (``stepWeights``, ``iterations`` + ``match``, ``mirror`` + ``shadow``...),
  so the rollout still converts to a Flagger Canary. A shadow phase with one plan is Flagger's
  mirror phase and always comes first, whatever the call order.
- **A chain** (two plans or more, or a shadow phase before ``steps()``): ``spec.analysis.steps``
  in call order, as Argo Rollouts' steps: a shadow is a mirror-only step, a canary one step
  per weight (one interval each), an A/B test a match step of ``iterations`` intervals, a
  blue/green a step of ``iterations`` intervals with no live traffic (mirrored if asked), and
  custom steps are kept as given.
"""

from __future__ import annotations

from typing import Any

from modelcanary.spec import Analysis, Step

from ._plans import Plan
from ._util import set_fields


def chained(plans: tuple[Plan, ...], plan: Plan) -> tuple[Plan, ...]:
    """``plans`` with ``plan``: replacing the plan of the same kind in place, else appended."""
    for i, old in enumerate(plans):
        if old.kind == plan.kind:
            return (*plans[:i], plan, *plans[i + 1 :])
    return (*plans, plan)


def is_chain(plans: tuple[Plan, ...]) -> bool:
    """True when the plans need ordered steps (Flagger's fields cannot hold them)."""
    kinds = [p.kind for p in plans]
    traffic = [k for k in kinds if k != "shadow"]
    return len(traffic) > 1 or ("steps" in traffic and "shadow" in kinds)


def plan_fields(plans: tuple[Plan, ...]) -> dict[str, Any]:
    """The Analysis fields (YAML names) the plans set, as one plan or as a chain of steps."""
    if not is_chain(plans):
        fields: dict[str, Any] = {}
        for plan in plans:
            fields |= set_fields(plan.settings)
        return fields
    steps: list[Step] = []
    promotion: int | None = None
    for plan in plans:
        steps += _as_steps(plan.kind, plan.settings)
        promotion = plan.settings.step_weight_promotion or promotion
    out: dict[str, Any] = {"steps": steps}
    if promotion is not None:
        out["stepWeightPromotion"] = promotion
    return out


def _as_steps(kind: str, a: Analysis) -> list[Step]:
    """One plan's stages as custom steps, not validated here: ``draft()`` never raises, and
    ``build()`` validates them with the rest, under their ``spec.analysis.steps[i]`` paths."""
    data: list[dict[str, Any]]
    if kind == "steps":
        return list(a.steps or [])
    if kind == "shadow":
        iterations = a.shadow.iterations if a.shadow else 1
        data = [{"mirror_weight": _mirror(a), "iterations": iterations}]
    elif kind == "canary":
        data = [{"weight": w, "iterations": 1} for w in a.weights()]
    elif kind == "ab":
        data = [{"match": list(a.match or []), "iterations": a.iterations or 1}]
    else:  # blue/green: no live traffic for N intervals, mirrored when asked
        mirror = {"mirror_weight": _mirror(a)} if a.mirror else {}
        data = [{"iterations": a.iterations or 1, **mirror}]
    return [Step.model_construct(**item) for item in data]


def _mirror(a: Analysis) -> int:
    return 100 if a.mirror_weight is None else a.mirror_weight
