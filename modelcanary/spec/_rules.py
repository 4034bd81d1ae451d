"""Cross-field rules of a ModelRollout, each reported with its exact field path and a fix.

Pydantic checks types and single fields; these rules check how fields fit together
(strategy, provider capabilities, metric definitions). All problems are collected, then
raised together as one :class:`~modelcanary.errors.SpecError`.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from ..errors import SpecError, SpecIssue
from ._catalogue import BUILTIN_METRICS, DRIFT_METRICS, FRACTION_METRICS, SEQUENTIAL_METRICS
from ._inference_routing import check_inference_routing
from ._load_reach import load_issues
from ._metric_spec import MetricSpec
from ._rules_keys import metric_identity
from ._rules_knative import check_knative
from ._rules_llm import check_llm
from ._rules_steps import check_steps
from ._rules_values import check_values
from ._service import BODY_MATCH_PROVIDERS, MIRROR_PROVIDERS, SESSION_AFFINITY_PROVIDERS
from ._traffic import capabilities, providers_with

if TYPE_CHECKING:
    from ._analysis import Analysis
    from ._rollout import ModelRollout


def check_rules(rollout: ModelRollout) -> None:
    """Raise SpecError listing every cross-field problem of ``rollout`` (none: return)."""
    issues: list[SpecIssue] = []
    issues += _versions(rollout)
    issues += _strategy(rollout.spec.analysis, rollout.spec.router.provider)
    issues += check_steps(rollout.spec.analysis, rollout.spec.router.provider)
    issues += _metrics(rollout)
    issues += _provider(rollout)
    issues += check_knative(rollout)
    issues += check_inference_routing(rollout)
    issues += _unique_names(rollout)
    issues += check_values(rollout)
    issues += check_llm(rollout)
    issues += load_issues(rollout)
    if issues:
        raise SpecError(issues)


def _versions(rollout: ModelRollout) -> list[SpecIssue]:
    spec = rollout.spec
    out: list[SpecIssue] = []
    if spec.target_ref is not None:
        for side in ("champion", "challenger"):
            if getattr(spec, side) is not None:
                out.append(
                    SpecIssue(
                        f"spec.{side}",
                        "cannot be combined with spec.targetRef",
                        "use targetRef (operator, new Deployment revisions) or champion+challenger",
                    )
                )
        if spec.router.provider == "local":
            out.append(
                SpecIssue(
                    "spec.targetRef",
                    "the local router cannot follow a Deployment",
                    "give spec.champion and spec.challenger, or set spec.router.provider to a mesh",
                )
            )
        return out
    for side in ("champion", "challenger"):
        if getattr(spec, side) is None:
            out.append(
                SpecIssue(
                    f"spec.{side}",
                    "is required (or give spec.targetRef)",
                    f"add {side}: {{modelUri: models:/NAME@{side}}} or {{url: http://host:port}}",
                )
            )
    return out


def _strategy(analysis: Analysis, provider: str) -> list[SpecIssue]:
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
    return out


def _metrics(rollout: ModelRollout) -> list[SpecIssue]:
    analysis = rollout.spec.analysis
    out: list[SpecIssue] = []  # no metrics at all is valid, with a warning (spec/_warnings.py)
    for i, metric in enumerate(analysis.metrics):
        out += _metric(metric, f"spec.analysis.metrics[{i}]")
    return out


def _metric(m: MetricSpec, path: str) -> list[SpecIssue]:
    out: list[SpecIssue] = []
    custom = m.query is not None or m.template_ref is not None
    if not custom and m.name not in BUILTIN_METRICS:
        close = difflib.get_close_matches(m.name, list(BUILTIN_METRICS), n=1, cutoff=0.6)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else f"use a built-in SLI ({', '.join(BUILTIN_METRICS)}) or add a query"
        )
        out.append(
            SpecIssue(f"{path}.name", f"{m.name!r} is not a built-in SLI and has no query", hint)
        )
    if m.query is not None and m.template_ref is not None:
        out.append(
            SpecIssue(
                f"{path}.templateRef",
                "cannot be combined with query",
                "keep the inline query or the template, not both",
            )
        )
    if m.threshold is not None and m.threshold_range is not None:
        out.append(
            SpecIssue(
                f"{path}.threshold",
                "cannot be combined with thresholdRange",
                "remove the deprecated threshold",
            )
        )
    has_effect = m.allowed_increase is not None or m.allowed_decrease is not None
    # win-rate's sequential judge tests non-inferiority by its margin: no range needed
    by_margin = m.name == "win-rate" and not custom and m.judge in (None, "sequential")
    if m.effective_range() is None and not (
        (m.judge == "mann-whitney" and has_effect) or by_margin
    ):
        out.append(
            SpecIssue(
                f"{path}.thresholdRange",
                "is required",
                "add thresholdRange: {max: ...} or {min: ...}",
            )
        )
    rng = m.threshold_range
    if m.name in FRACTION_METRICS and m.relative_to is None and rng is not None and not custom:
        for bound, value in (("min", rng.min), ("max", rng.max)):
            if value is not None and not 0 <= value <= 1:
                out.append(
                    SpecIssue(
                        f"{path}.thresholdRange.{bound}",
                        f"{value:g} is outside 0-1: {m.name} is a fraction",
                        f"write {value / 100:g} for {value:g}%",
                    )
                )
    if m.name == "request-success-rate" and rng is not None and m.relative_to is None:
        for bound, value in (("min", rng.min), ("max", rng.max)):
            if value is not None and not 0 <= value <= 100:
                out.append(
                    SpecIssue(
                        f"{path}.thresholdRange.{bound}",
                        f"{value:g} is outside 0-100: request-success-rate is a percent",
                        "write 99 for 99%",
                    )
                )
    if m.method is not None and m.name not in DRIFT_METRICS:
        out.append(
            SpecIssue(
                f"{path}.method",
                "only applies to prediction-drift and output-length-drift",
                "remove method",
            )
        )
    if m.tolerance is not None and m.name != "prediction-agreement":
        out.append(
            SpecIssue(
                f"{path}.tolerance", "only applies to prediction-agreement", "remove tolerance"
            )
        )
    if m.comparison is not None and m.relative_to is None:
        out.append(
            SpecIssue(
                f"{path}.comparison", "needs relativeTo: champion", "add relativeTo: champion"
            )
        )
    if m.judge == "sequential" and (custom or m.name not in SEQUENTIAL_METRICS | {"win-rate"}):
        out.append(
            SpecIssue(
                f"{path}.judge",
                "the sequential judge needs per-request data",
                "use it with error-rate, request-success-rate, a request-latency SLI "
                "(latency-pNN, request-duration) or win-rate",
            )
        )
    if m.alpha is not None and m.judge not in (None, "sequential"):
        out.append(
            SpecIssue(
                f"{path}.alpha",
                f"is not used by the {m.judge} judge",
                "remove alpha or use judge: sequential",
            )
        )
    if m.outlier_factor is not None and m.judge != "mann-whitney":
        out.append(
            SpecIssue(
                f"{path}.outlierFactor",
                "only applies to the mann-whitney judge",
                "add judge: mann-whitney, or remove outlierFactor",
            )
        )
    if has_effect and m.judge not in (None, "mann-whitney"):
        out.append(
            SpecIssue(
                f"{path}.allowedIncrease",
                f"is not used by the {m.judge} judge",
                "use judge: mann-whitney",
            )
        )
    return out


def _provider(rollout: ModelRollout) -> list[SpecIssue]:
    spec = rollout.spec
    provider = spec.router.provider
    out: list[SpecIssue] = []
    service = spec.service
    if provider == "gatewayapi" and not (service and service.gateway_refs):
        out.append(
            SpecIssue(
                "spec.service.gatewayRefs",
                "is required with provider gatewayapi",
                "add gatewayRefs: [{name: my-gateway, namespace: gateway-ns}]",
            )
        )
    if provider == "nginx" and not (service and service.ingress_ref):
        out.append(
            SpecIssue(
                "spec.service.ingressRef",
                "is required with provider nginx",
                "add ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, "
                "name: my-ingress}",
            )
        )
    if spec.load is not None and provider != "local":
        out.append(
            SpecIssue(
                "spec.load",
                f"is only used by the local router, not {provider}",
                "remove spec.load and generate traffic with a rollout webhook",
            )
        )
    if spec.router.listen is not None and provider != "local":
        out.append(
            SpecIssue("spec.router.listen", "only applies to the local router", "remove listen")
        )
    return out


def _unique_names(rollout: ModelRollout) -> list[SpecIssue]:
    analysis = rollout.spec.analysis
    out: list[SpecIssue] = []
    groups: list[tuple[str, list[str]]] = [
        # a metric is identified by its name, whether it compares with the champion and the
        # errorClass it counts (the analysis' metric key: error-rate[rate-limit]@champion)
        ("metrics", [metric_identity(m) for m in analysis.metrics]),
        ("webhooks", [w.name for w in analysis.webhooks]),
        ("alerts", [a.name for a in analysis.alerts]),
    ]
    for field, keys in groups:
        seen: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key in seen:
                name = key.partition("@")[0]
                hint = "give each a unique name"
                if "[" in name:  # an errorClass
                    hint = (
                        "check each errorClass once per comparison (another errorClass, or "
                        "no errorClass for all errors, is a separate check)"
                    )
                out.append(
                    SpecIssue(
                        f"spec.analysis.{field}[{i}].name",
                        f"{name!r} is already used by {field}[{seen[key]}]",
                        hint,
                    )
                )
            seen.setdefault(key, i)
    return out
