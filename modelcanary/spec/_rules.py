"""Cross-field rules of a ModelRollout, each reported with its exact field path and a fix.

Pydantic checks types and single fields; these rules check how fields fit together
(strategy, provider capabilities, metric definitions). :func:`check_rules` runs them all; the
rules of one concern live in a module of their own (``_rules_traffic``, ``_rules_steps``,
``_rules_metrics``, ``_rules_values``, ``_rules_llm``, ``_rules_knative``), the versions,
provider-object and unique-name rules here. All problems are collected, then raised together
as one :class:`~modelcanary.errors.SpecError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecError, SpecIssue
from ._inference_routing import check_inference_routing
from ._load_reach import load_issues
from ._rules_keys import metric_identity
from ._rules_knative import check_knative
from ._rules_llm import check_llm
from ._rules_metrics import check_metrics
from ._rules_steps import check_steps
from ._rules_traffic import check_strategy
from ._rules_values import check_values

if TYPE_CHECKING:
    from ._rollout import ModelRollout


def check_rules(rollout: ModelRollout) -> None:
    """Raise SpecError listing every cross-field problem of ``rollout`` (none: return)."""
    issues: list[SpecIssue] = []
    issues += _versions(rollout)
    issues += check_strategy(rollout.spec.analysis, rollout.spec.router.provider)
    issues += check_steps(rollout.spec.analysis, rollout.spec.router.provider)
    issues += check_metrics(rollout)
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
