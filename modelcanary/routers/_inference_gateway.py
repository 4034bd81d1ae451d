"""Gateway API Inference Extension: weighted InferencePools and weighted model-name rewrites.

Two routers for LLM rollouts behind an inference gateway (an Envoy-based Gateway whose endpoint
picker chooses the model server of an ``InferencePool``):

- ``inference-pool`` splits an HTTPRoute between two ``InferencePool`` backendRefs
  (``group: inference.networking.k8s.io``, ``kind: InferencePool``; a pool has no port on a
  backendRef): a base-model or model-server upgrade, each version being its own pool. The
  HTTPRoute is the gatewayapi router's (A/B header, cookie and query matches, sticky sessions),
  with pools in place of Services. No mirroring: the inference gateways do not mirror to a pool.
- ``inference-model-rewrite`` writes an ``InferenceModelRewrite`` (``llm-d.ai/v1alpha2``, as
  llm-d's router defines it, or ``inference.networking.x-k8s.io/v1alpha2``, the Inference
  Extension's up to v1.5, with ``rewriteApiVersion``) on one pool: requests whose OpenAI
  ``model`` is the client-facing name are rewritten to the champion's or the challenger's
  model name by weight. LoRA-adapter and model-name rollouts need no new pods: both names are
  served by the same pool. The CRD allows weights 1..1000000, so a version at 0 % is left out
  of ``targets`` (a lone target takes everything).

Object names come from ``spec.router.inference`` (spec/_inference_routing.py), defaulting to
the rollout's names: pools ``<base>-primary``/``<base>-canary``, rewrite ``<base>`` on pool
``<base>``, model names ``<model>-primary``/``<model>-canary``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._inference_routing import inference_routing, rewrite_models
from ..spec._naming import Names
from ..spec._traffic import Routes
from ._base import ObjectRouter, weighted_routes
from ._gatewayapi import GatewayAPIRouter
from ._memory import Key

POOL_GROUP = "inference.networking.k8s.io"
POOL_KIND = "InferencePool"
REWRITE_API = "llm-d.ai/v1alpha2"
"""Default InferenceModelRewrite API (``spec.router.inference.rewriteApiVersion``)."""
REWRITE_KIND = "InferenceModelRewrite"


class InferencePoolRouter(GatewayAPIRouter):
    """An HTTPRoute weighting two InferencePools (base model or model server upgrades)."""

    provider = "inference-pool"

    def names(self, rollout: ModelRollout) -> Names:
        """The rollout's names, the two versions being the champion and challenger pools."""
        n = super().names(rollout)
        config = inference_routing(rollout)
        return dataclasses.replace(
            n, primary=config.champion or n.primary, canary=config.challenger or n.canary
        )

    def check(self, rollout: ModelRollout, routes: Routes) -> None:
        """The gatewayapi checks, with this provider's name in the messages."""
        service = rollout.spec.service
        if service is None or not service.gateway_refs:
            raise RouterError(
                "inference-pool needs spec.service.gatewayRefs (the inference Gateways the "
                "HTTPRoute attaches to)"
            )
        super().check(rollout, routes)

    def _rule(
        self,
        rollout: ModelRollout,
        name: str,
        weights: dict[str, int],
        matches: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        """A gatewayapi rule whose backendRefs are InferencePools (no port)."""
        rule = super()._rule(rollout, name, weights, matches)
        rule["backendRefs"] = [
            {"group": POOL_GROUP, "kind": POOL_KIND, "name": ref["name"], "weight": ref["weight"]}
            for ref in rule["backendRefs"]
        ]
        return rule

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """The gatewayapi parse over InferencePool backendRefs only (a Service of the same
        name is another backend: it counts for neither version)."""
        kept: dict[Key, KubeObject] = {}
        for key, obj in stored.items():
            spec = dict(obj.get("spec") or {})
            spec["rules"] = [
                {
                    **rule,
                    "backendRefs": [
                        ref
                        for ref in rule.get("backendRefs") or []
                        if ref.get("kind") == POOL_KIND and ref.get("group") == POOL_GROUP
                    ],
                }
                for rule in spec.get("rules") or []
            ]
            kept[key] = {**obj, "spec": spec}
        return super().parse(rollout, kept)


class InferenceModelRewriteRouter(ObjectRouter):
    """An InferenceModelRewrite splitting one client model name between two model names."""

    provider = "inference-model-rewrite"

    def models(self, rollout: ModelRollout) -> tuple[str, str, str]:
        """(client-facing model, champion model, challenger model)."""
        return rewrite_models(rollout)

    def api_version(self, rollout: ModelRollout) -> str:
        """llm-d's API, or the Inference Extension's (v1.5 and before) when the spec says so."""
        return inference_routing(rollout).rewrite_api_version or REWRITE_API

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The InferenceModelRewrite ``<apex>``."""
        api = self.api_version(rollout)
        return [self.key(rollout, api, REWRITE_KIND, self.names(rollout).apex)]

    def check(self, rollout: ModelRollout, routes: Routes) -> None:
        """Also: the two model names differ (else no split could be told apart)."""
        super().check(rollout, routes)
        _, champion, challenger = self.models(rollout)
        if champion == challenger:
            raise RouterError(
                f"inference-model-rewrite: champion and challenger model are both {champion!r}; "
                "set spec.router.inference.championModel and challengerModel to different names"
            )

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The rewrite: one rule matching the client model, weighted targets."""
        n = self.names(rollout)
        model, champion, challenger = self.models(rollout)
        targets = [
            {"modelRewrite": name, "weight": weight}
            for name, weight in (
                (champion, routes.champion_weight),
                (challenger, routes.challenger_weight),
            )
            if weight > 0
        ]
        spec = {
            "poolRef": {
                "group": POOL_GROUP,
                "kind": POOL_KIND,
                "name": inference_routing(rollout).pool or n.base,
            },
            "rules": [
                {"matches": [{"model": {"type": "Exact", "value": model}}], "targets": targets}
            ],
        }
        return [self.new_object(rollout, self.api_version(rollout), REWRITE_KIND, n.apex, spec)]

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Weights of the targets of the rule matching the client model (a target's weight
        defaults to 1; weights are proportional, normalised to percent)."""
        model, champion, challenger = self.models(rollout)
        obj = stored.get(self.owned(rollout)[0]) or {}
        weights = {champion: 0.0, challenger: 0.0}
        for rule in (obj.get("spec") or {}).get("rules") or []:
            values = {(m.get("model") or {}).get("value") for m in rule.get("matches") or []}
            if model not in values:
                continue
            for target in rule.get("targets") or []:
                if target.get("modelRewrite") in weights:
                    weights[target["modelRewrite"]] += float(target.get("weight", 1))
            break
        return weighted_routes(
            weights,
            challenger,
            f"inference-model-rewrite: InferenceModelRewrite {self.names(rollout).apex} "
            f"rewrites model {model!r} to neither {champion!r} nor {challenger!r}",
        )
