"""APISIX: a canary ApisixRoute cloned from ``spec.routeRef`` with weighted backends.

The ``<route>-canary`` ApisixRoute (``apisix.apache.org/v2``) copies the referenced route's
HTTP rules (names suffixed ``-canary``); in each rule, a backend pointing at the apex Service
becomes two weighted backends ``<primary>``/``<canary>`` (APISIX's traffic-split), and the
rule's ``priority`` is raised by one so it wins over the original for the same paths. Rules
that do not reach the apex Service are left out. Weights only: no mirror, no match.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._traffic import Routes
from ._base import ObjectRouter, require_input, weighted_routes
from ._memory import Key

API = "apisix.apache.org/v2"
KIND = "ApisixRoute"


class ApisixRouter(ObjectRouter):
    """Canary ApisixRoute with weighted backends (Flagger's apisix router)."""

    provider = "apisix"

    def _route_key(self, rollout: ModelRollout) -> Key:
        ref = rollout.spec.route_ref
        if ref is None:
            raise RouterError(
                "apisix needs spec.routeRef (the ApisixRoute to copy for the canary), "
                "e.g. routeRef: {name: my-route}"
            )
        return self.ref_key(rollout, ref, API, KIND)

    def inputs(self, rollout: ModelRollout) -> list[Key]:
        """The referenced ApisixRoute."""
        return [self._route_key(rollout)]

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The canary ApisixRoute."""
        return [self.key(rollout, API, KIND, f"{self._route_key(rollout)[3]}-canary")]

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The canary ApisixRoute."""
        n = self.names(rollout)
        key = self._route_key(rollout)
        source = require_input(self, inputs, key)
        spec = copy.deepcopy(source.get("spec") or {})
        rules: list[dict[str, Any]] = []
        for rule in spec.get("http") or []:
            backends = rule.get("backends") or []
            apex = [b for b in backends if b.get("serviceName") == n.apex]
            if not apex:
                continue
            port = apex[0]["servicePort"]
            rule["name"] = f"{rule['name']}-canary"
            rule["priority"] = int(rule.get("priority", 0)) + 1
            rule["backends"] = [
                {"serviceName": n.primary, "servicePort": port, "weight": routes.champion_weight},
                {"serviceName": n.canary, "servicePort": port, "weight": routes.challenger_weight},
            ]
            rules.append(rule)
        if not rules:
            raise RouterError(
                f"apisix: ApisixRoute {key[2]}/{key[3]} has no http rule with a backend "
                f"{n.apex}; point a rule of spec.routeRef at the apex Service"
            )
        spec["http"] = rules
        spec.pop("stream", None)
        return [self.new_object(rollout, API, KIND, self.owned(rollout)[0][3], spec)]

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Backend weights of the first rule (normalised to percent)."""
        n = self.names(rollout)
        route = stored.get(self.owned(rollout)[0]) or {}
        rules = (route.get("spec") or {}).get("http") or []
        weights = {n.primary: 0, n.canary: 0}
        for backend in (rules[0].get("backends") or []) if rules else []:
            if backend.get("serviceName") in weights:
                weights[backend["serviceName"]] = int(backend.get("weight", 100))
        return weighted_routes(
            weights, n.canary, f"apisix: canary ApisixRoute of {n.apex} weights neither version"
        )
