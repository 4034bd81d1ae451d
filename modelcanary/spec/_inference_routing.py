"""``spec.router.inference``: the LLM objects the inference routers weight.

Three cluster routers serve LLM rollouts (routers/_inference_gateway.py, routers/_kserve_llm.py):

- ``inference-pool``: an HTTPRoute whose weighted backendRefs are two ``InferencePool``s
  (Gateway API Inference Extension), for base-model or model-server upgrades;
- ``inference-model-rewrite``: an ``InferenceModelRewrite`` (llm-d) that rewrites the model name
  clients send to the champion's or the challenger's model name, by weight, within one pool:
  LoRA-adapter and model-name rollouts with no new pods;
- ``kserve-llm``: two KServe ``LLMInferenceService``s in one weighted route group.

Every field has a default from the rollout's names (spec/_naming.py), so a rollout following
the ``<base>-primary`` / ``<base>-canary`` convention needs none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..errors import SpecIssue
from ._base import SpecModel

if TYPE_CHECKING:
    from ._rollout import ModelRollout

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
REWRITE_APIS = ("llm-d.ai/v1alpha2", "inference.networking.x-k8s.io/v1alpha2")
"""InferenceModelRewrite API versions: llm-d-router's (default), and the Gateway API Inference
Extension's up to its v1.5 release (the same schema)."""
RewriteApiVersion = Literal["llm-d.ai/v1alpha2", "inference.networking.x-k8s.io/v1alpha2"]


class InferenceRouting(SpecModel):
    """Names of the LLM objects the inference routers weight (every one optional)."""

    champion: str | None = Field(default=None, max_length=253)
    """Champion InferencePool or LLMInferenceService (default ``<base>-primary``)."""
    challenger: str | None = Field(default=None, max_length=253)
    """Challenger InferencePool or LLMInferenceService (default ``<base>-canary``)."""
    pool: str | None = Field(default=None, max_length=253)
    """inference-model-rewrite: the InferencePool serving both models (default ``<base>``)."""
    model: str | None = None
    """inference-model-rewrite: the model name clients send (default ``<base>``)."""
    champion_model: str | None = None
    """inference-model-rewrite: champion model or LoRA name (default ``<model>-primary``)."""
    challenger_model: str | None = None
    """inference-model-rewrite: challenger model or LoRA name (default ``<model>-canary``)."""
    group: str | None = Field(default=None, max_length=63, pattern=_DNS_LABEL)
    """kserve-llm: the route group both LLMInferenceServices join (default ``<base>``)."""
    rewrite_api_version: RewriteApiVersion | None = None
    """inference-model-rewrite: ``llm-d.ai/v1alpha2`` (default) or the Inference Extension's."""


def inference_routing(rollout: ModelRollout) -> InferenceRouting:
    """``spec.router.inference``, or all defaults when it is not given."""
    return rollout.spec.router.inference or InferenceRouting()


def rewrite_models(rollout: ModelRollout) -> tuple[str, str, str]:
    """(client-facing model, champion model, challenger model) of an inference-model-rewrite
    rollout, defaults filled: what the router writes and what the metric providers match."""
    from ._naming import names  # _naming imports the rollout model, which imports this file

    config = inference_routing(rollout)
    model = config.model or names(rollout).base
    return (
        model,
        config.champion_model or f"{model}-primary",
        config.challenger_model or f"{model}-canary",
    )


_USED_BY = {
    "champion": ("inference-pool", "kserve-llm"),
    "challenger": ("inference-pool", "kserve-llm"),
    "pool": ("inference-model-rewrite",),
    "model": ("inference-model-rewrite",),
    "champion_model": ("inference-model-rewrite",),
    "challenger_model": ("inference-model-rewrite",),
    "group": ("kserve-llm",),
    "rewrite_api_version": ("inference-model-rewrite",),
}
LLM_ROUTERS = ("inference-pool", "inference-model-rewrite", "kserve-llm")


def check_inference_routing(rollout: ModelRollout) -> list[SpecIssue]:
    """Cross-field rules of the LLM routers: ``spec.router.inference`` fields only with the
    provider that reads them, two distinct model names, gateways for ``inference-pool``."""
    spec = rollout.spec
    provider = spec.router.provider
    config = spec.router.inference
    out: list[SpecIssue] = []
    if provider == "inference-pool" and not (spec.service and spec.service.gateway_refs):
        out.append(
            SpecIssue(
                "spec.service.gatewayRefs",
                "is required with provider inference-pool (the HTTPRoute's parent Gateways)",
                "add gatewayRefs: [{name: inference-gateway, namespace: gateway-ns}]",
            )
        )
    if config is None:
        return out
    if provider not in LLM_ROUTERS:
        return [
            *out,
            SpecIssue(
                "spec.router.inference",
                f"is not used by provider {provider}",
                f"remove it, or use one of {', '.join(LLM_ROUTERS)}",
            ),
        ]
    for field, providers in _USED_BY.items():
        if getattr(config, field) is not None and provider not in providers:
            alias = InferenceRouting.model_fields[field].alias or field
            out.append(
                SpecIssue(
                    f"spec.router.inference.{alias}",
                    f"is not used by provider {provider}",
                    f"remove it (it applies to {' and '.join(providers)})",
                )
            )
    if (
        provider == "inference-model-rewrite"
        and config.champion_model is not None
        and config.champion_model == config.challenger_model
    ):
        out.append(
            SpecIssue(
                "spec.router.inference.challengerModel",
                f"is the champion's model too ({config.champion_model!r})",
                "give the challenger the model or LoRA name it serves under",
            )
        )
    return out
