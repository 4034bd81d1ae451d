"""KServe ``LLMInferenceService``: two services in one weighted route group.

KServe (serving.kserve.io/v1alpha2) lets several LLMInferenceServices share one HTTPRoute: every
member naming the same ``spec.router.route.group`` gets a backendRef weighted by its
``spec.router.route.weight`` (proportional, Gateway API semantics; 0 allowed). The champion and
the challenger are the user's LLMInferenceServices (``spec.router.inference.champion`` /
``challenger``, default ``<base>-primary`` / ``<base>-canary``): this router adopts them and
patches only their group and weight, and leaves them in place on finalize (100 % champion).

KServe requires a controller-managed route for a group (``route.http: {}`` or an inline
``route.http.spec``): a member with ``route.http.refs`` is a RouterError, and a member without
``route.http`` gets ``{}``. The two members are written one after the other, the one losing
weight first, so the challenger never briefly holds more than either the old or the new share.
KServe can neither mirror nor match headers.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._inference_routing import inference_routing
from ..spec._traffic import Routes
from ._base import ObjectRouter, disown, require_input, weighted_routes
from ._memory import Key

API = "serving.kserve.io/v1alpha2"
KIND = "LLMInferenceService"


class KServeLLMRouter(ObjectRouter):
    """Group weights on two existing LLMInferenceServices."""

    provider = "kserve-llm"

    def members(self, rollout: ModelRollout) -> tuple[Key, Key]:
        """(champion, challenger) LLMInferenceService keys."""
        n = self.names(rollout)
        config = inference_routing(rollout)
        return (
            self.key(rollout, API, KIND, config.champion or n.primary),
            self.key(rollout, API, KIND, config.challenger or n.canary),
        )

    def group(self, rollout: ModelRollout) -> str:
        """The route group both members join."""
        return inference_routing(rollout).group or self.names(rollout).base

    def inputs(self, rollout: ModelRollout) -> list[Key]:
        """Both LLMInferenceServices (their specs are kept, the route patched)."""
        return list(self.members(rollout))

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The same two (adopted: never deleted)."""
        return list(self.members(rollout))

    def check(self, rollout: ModelRollout, routes: Routes) -> None:
        """Also: two distinct members."""
        super().check(rollout, routes)
        champion, challenger = self.members(rollout)
        if champion == challenger:
            raise RouterError(
                f"kserve-llm: champion and challenger are both LLMInferenceService {champion[3]}; "
                "set spec.router.inference.champion and challenger to different services"
            )

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """Both members with group and weight set; the one losing weight first."""
        champion, challenger = self.members(rollout)
        objs = [
            self._member(rollout, key, require_input(self, inputs, key), weight)
            for key, weight in (
                (champion, routes.champion_weight),
                (challenger, routes.challenger_weight),
            )
        ]
        old = inputs.get(challenger) or {}
        was = ((old.get("spec") or {}).get("router") or {}).get("route") or {}
        if isinstance(was.get("weight"), int) and was["weight"] > routes.challenger_weight:
            objs.reverse()  # the challenger loses weight: write it first
        return objs

    def _member(
        self, rollout: ModelRollout, key: Key, stored: KubeObject, weight: int
    ) -> KubeObject:
        spec = copy.deepcopy(stored.get("spec") or {})
        router = spec.setdefault("router", {})
        route = router.setdefault("route", {})
        if not isinstance(route, dict) or not isinstance(route.get("http", {}), dict):
            raise RouterError(f"kserve-llm: LLMInferenceService {key[2]}/{key[3]} has a bad route")
        if (route.get("http") or {}).get("refs"):
            raise RouterError(
                f"kserve-llm: LLMInferenceService {key[2]}/{key[3]} routes through its own "
                "HTTPRoute (spec.router.route.http.refs); KServe splits a group only over "
                "controller-managed routes: replace refs with route.http: {} or an inline spec"
            )
        if router.get("ingress") is not None:
            raise RouterError(
                f"kserve-llm: LLMInferenceService {key[2]}/{key[3]} uses spec.router.ingress; "
                "weighted route groups need Gateway API routing (spec.router.gateway)"
            )
        route.setdefault("http", {})
        route["group"] = self.group(rollout)
        route["weight"] = weight
        obj = self.new_object(rollout, API, KIND, key[3], spec)
        disown(obj["metadata"])  # the user's object: the rollout does not own it
        return obj

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Weights of the two members in the group (a member outside it: weight 0)."""
        champion, challenger = self.members(rollout)
        group = self.group(rollout)
        weights: dict[str, float] = {}
        for key in (champion, challenger):
            route = (((stored.get(key) or {}).get("spec") or {}).get("router") or {}).get(
                "route"
            ) or {}
            weight = route.get("weight", 0) if route.get("group") == group else 0
            if not isinstance(weight, int) or weight < 0:
                raise RouterError(f"kserve-llm: weight {weight!r} of {key[3]} is not a weight")
            weights[key[3]] = weight
        return weighted_routes(
            weights,
            challenger[3],
            f"kserve-llm: neither {champion[3]} nor {challenger[3]} has weight in route group "
            f"{group!r}",
        )
