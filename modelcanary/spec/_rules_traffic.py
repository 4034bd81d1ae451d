"""Cross-field rules of the traffic plan, and of what the rollout's router can do of it.

One plan (stepWeight, stepWeights, iterations or custom steps), weights in increasing order, A/B
``match`` with iterations; mirroring, body and source-label matching and session affinity only
with a provider that supports them (the capability table of :mod:`._traffic` and the provider
sets of :mod:`._service`, so a spec these rules accept is one the router can realise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecIssue
from ._rules_steps import match_issues
from ._service import BODY_MATCH_PROVIDERS, MIRROR_PROVIDERS, SESSION_AFFINITY_PROVIDERS
from ._traffic import capabilities, providers_with

if TYPE_CHECKING:
    from ._analysis import Analysis


def check_strategy(analysis: Analysis, provider: str) -> list[SpecIssue]:
    """The traffic plan (stepWeight(s), iterations, steps, match, sessionAffinity) and what
    the router ``provider`` can do of it (mirror, body and source-label match, affinity)."""
    base = "spec.analysis"
    out: list[SpecIssue] = []
    plans = [
        n
        for n, v in (
            ("stepWeight", analysis.step_weight),
            ("stepWeights", analysis.step_weights),
            ("iterations", analysis.iterations),
            ("steps", analysis.steps),
        )
        if v
    ]
    if not plans:
        out.append(
            SpecIssue(
                base,
                "has no traffic plan",
                "set stepWeight (e.g. 10), stepWeights (e.g. [5, 10, 25, 50]), iterations (A/B or "
                "blue/green) or steps",
            )
        )
    if analysis.step_weight and analysis.step_weights:
        out.append(
            SpecIssue(
                f"{base}.stepWeight",
                "cannot be combined with stepWeights",
                "keep one: stepWeights lists every weight",
            )
        )
    if analysis.steps and len(plans) > 1:
        others = ", ".join(p for p in plans if p != "steps")
        out.append(
            SpecIssue(
                f"{base}.steps",
                f"cannot be combined with {others}",
                "custom steps define the whole plan: remove the others",
            )
        )
    if analysis.iterations and (analysis.step_weight or analysis.step_weights):
        out.append(
            SpecIssue(
                f"{base}.iterations",
                "cannot be combined with stepWeight/stepWeights",
                "iterations is for A/B or blue/green; remove it for a canary",
            )
        )
    for i, weight in enumerate(analysis.step_weights or []):
        path = f"{base}.stepWeights[{i}]"
        if not 0 < weight <= 100:
            out.append(SpecIssue(path, f"{weight} is outside 1-100", "weights are percents"))
        elif i and weight <= analysis.step_weights[i - 1]:  # type: ignore[index]
            out.append(
                SpecIssue(
                    path,
                    f"{weight} is not greater than the previous weight "
                    f"{analysis.step_weights[i - 1]}",  # type: ignore[index]
                    "list weights in increasing order, e.g. [5, 10, 25, 50]",
                )
            )
    if analysis.step_weights == []:
        out.append(SpecIssue(f"{base}.stepWeights", "is empty", "give e.g. [5, 10, 25, 50]"))
    if analysis.step_weight and analysis.max_weight and analysis.step_weight > analysis.max_weight:
        out.append(
            SpecIssue(
                f"{base}.stepWeight",
                f"{analysis.step_weight} is larger than maxWeight {analysis.max_weight}",
                "lower stepWeight or raise maxWeight",
            )
        )
    if analysis.match and not analysis.iterations and not analysis.steps:
        out.append(
            SpecIssue(
                f"{base}.match",
                "A/B routing needs iterations",
                "add iterations: 10 (intervals to run the A/B test)",
            )
        )
    out += _mirror(analysis, provider)
    out += _match(analysis, provider)
    if analysis.session_affinity is not None:
        weighted = any(s.kind == "canary" for s in analysis.steps or [])
        if analysis.strategy != "canary" and not weighted:
            out.append(
                SpecIssue(
                    f"{base}.sessionAffinity",
                    "only applies to a weighted canary (or canary steps)",
                    "use stepWeight/stepWeights or steps with a weight, or remove sessionAffinity",
                )
            )
        if provider not in SESSION_AFFINITY_PROVIDERS:
            out.append(
                SpecIssue(
                    f"{base}.sessionAffinity",
                    f"is not supported by provider {provider}",
                    f"use one of {', '.join(sorted(SESSION_AFFINITY_PROVIDERS))}",
                )
            )
    return out


def _mirror(analysis: Analysis, provider: str) -> list[SpecIssue]:
    base = "spec.analysis"
    out: list[SpecIssue] = []
    step_mirrors = [i for i, s in enumerate(analysis.steps or []) if s.mirror_weight]
    wants_mirror = analysis.mirror or analysis.shadow is not None or bool(step_mirrors)
    if wants_mirror and provider not in MIRROR_PROVIDERS:
        where = (
            "mirror"
            if analysis.mirror
            else "shadow"
            if analysis.shadow
            else f"steps[{step_mirrors[0]}].mirrorWeight"
        )
        out.append(
            SpecIssue(
                f"{base}.{where}",
                f"provider {provider} cannot mirror traffic",
                f"use one of {', '.join(sorted(MIRROR_PROVIDERS))}, or remove it",
            )
        )
    if analysis.mirror_weight is not None and not analysis.mirror:
        out.append(
            SpecIssue(
                f"{base}.mirrorWeight",
                "is set but mirror is false",
                "add mirror: true, or remove mirrorWeight",
            )
        )
    if analysis.shadow is not None and not analysis.mirror:
        out.append(
            SpecIssue(
                f"{base}.shadow",
                "needs mirror: true",
                "add mirror: true (and mirrorWeight) to send copies to the challenger",
            )
        )
    if analysis.shadow is not None and analysis.strategy == "steps":
        out.append(
            SpecIssue(
                f"{base}.shadow",
                "does not apply to custom steps",
                "set mirrorWeight on the steps that should mirror instead",
            )
        )
    return out


def _match(analysis: Analysis, provider: str) -> list[SpecIssue]:
    out: list[SpecIssue] = []
    for i, cond in enumerate(analysis.match or []):
        path = f"spec.analysis.match[{i}]"
        if cond.body and provider not in BODY_MATCH_PROVIDERS:
            out.append(
                SpecIssue(
                    f"{path}.body",
                    f"provider {provider} cannot route on the body",
                    "use router.provider: local, or match on a header",
                )
            )
        can = capabilities(provider)
        if cond.source_labels and "source_labels" not in can.match:
            meshes = " or ".join(sorted(providers_with("match", "source_labels")))
            out.append(
                SpecIssue(
                    f"{path}.sourceLabels",
                    f"needs a service mesh that routes on the caller's labels ({meshes}); "
                    f"{provider} cannot",
                    f"use router.provider: {meshes}, or only what {provider} supports: "
                    f"{can.describe()}",
                )
            )
    # every other part the router cannot route on (headers on a router without A/B: knative,
    # kserve, linkerd, traefik...), from the one capability table, as steps[].match is checked
    said = {issue.path for issue in out}
    others = match_issues(analysis.match or [], "spec.analysis.match", provider)
    return out + [issue for issue in others if issue.path not in said]
