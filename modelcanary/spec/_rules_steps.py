"""Rules of custom steps (``spec.analysis.steps``), each with its exact field path and a fix.

A step is one stage of an ordered plan (Argo Rollouts' steps, or a builder chain such as
shadow -> canary -> A/B). What it routes is read from its fields (see :class:`Step`):

- an A/B step (``match``) routes only the matching requests to the challenger, so its
  ``weight`` must be 0: a weight beside a match would also send a share of the *other*
  requests, which is a canary step, written as one;
- every part of its match conditions must be one the router can route on, read from the one
  capability table (:data:`~modelcanary.spec._traffic.CAPABILITIES`): a router without header
  matching is refused here, before any traffic moves, not at the first A/B stage;
- ``analysis.match`` is the A/B field of a Flagger-style plan and is not used by steps;
- a router that cannot split traffic (``split`` false in the table, e.g. ``kubernetes``, which
  switches a Service's selector) takes no weight between 0 and 100 anywhere in the plan:
  ``stepWeight``/``stepWeights``, a step's ``weight``, ``stepWeightPromotion``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecIssue
from ._traffic import MATCH_PARTS, PART_NAMES, capabilities, providers_with

if TYPE_CHECKING:
    from ._analysis import Analysis, MatchCondition


def check_steps(analysis: Analysis, provider: str) -> list[SpecIssue]:
    """Every problem of ``analysis.steps`` for router ``provider`` (none: ``[]``)."""
    base = "spec.analysis"
    out: list[SpecIssue] = []
    if analysis.steps and analysis.match:
        out.append(
            SpecIssue(
                f"{base}.match",
                "is not used with steps: each A/B step carries its own match",
                "move the conditions to the A/B step: steps: [{match: [...], iterations: 3}]",
            )
        )
    for i, step in enumerate(analysis.steps or []):
        path = f"{base}.steps[{i}]"
        if step.match and step.weight:
            out.append(
                SpecIssue(
                    f"{path}.weight",
                    f"must be 0 with match (got {step.weight}): an A/B step routes only the "
                    "matching requests to the challenger",
                    "remove weight, or add a canary step {weight: N} before or after it",
                )
            )
        out += match_issues(step.match or [], f"{path}.match", provider)
    return out + switch_issues(analysis, provider)


def switch_issues(analysis: Analysis, provider: str) -> list[SpecIssue]:
    """Every weight strictly between 0 and 100 in the plan of a provider that cannot split."""
    if capabilities(provider).split:
        return []
    base = "spec.analysis"
    fix = (
        "use a blue/green plan (iterations: 10, without stepWeight/stepWeights), or a mesh or "
        "ingress provider that splits traffic (e.g. istio, linkerd, nginx, gatewayapi)"
    )
    why = f"provider {provider} sends all traffic to one version (0 or 100%)"
    found: list[tuple[str, int]] = []
    if analysis.step_weight and analysis.step_weight < 100:
        found.append(("stepWeight", analysis.step_weight))
    for i, weight in enumerate(analysis.step_weights or []):
        if 0 < weight < 100:
            found.append((f"stepWeights[{i}]", weight))
    for i, step in enumerate(analysis.steps or []):
        if 0 < step.weight < 100:
            found.append((f"steps[{i}].weight", step.weight))
    out = [
        SpecIssue(f"{base}.{field}", f"{why}: it cannot send {weight}% to the challenger", fix)
        for field, weight in found
    ]
    if analysis.step_weight_promotion:
        out.append(
            SpecIssue(
                f"{base}.stepWeightPromotion",
                f"{why}: traffic cannot move back by steps",
                "remove stepWeightPromotion (the switch back is one step)",
            )
        )
    return out


def match_issues(conditions: list[MatchCondition], path: str, provider: str) -> list[SpecIssue]:
    """Each part of each condition ``provider`` cannot route on, from the capability table."""
    out: list[SpecIssue] = []
    can = capabilities(provider)
    for i, cond in enumerate(conditions):
        for part in MATCH_PARTS:
            if getattr(cond, part) is None or part in can.match:
                continue
            name = PART_NAMES.get(part, part)
            able = ", ".join(sorted(providers_with("match", part)))
            out.append(
                SpecIssue(
                    f"{path}[{i}].{name}",
                    f"provider {provider} cannot route A/B traffic on {name} "
                    f"(it supports {can.describe()})",
                    f"use router.provider: one of {able}, or match on what {provider} supports",
                )
            )
    return out
