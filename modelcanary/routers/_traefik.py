"""Traefik: a weighted TraefikService splitting between the two Services.

``<apex>`` TraefikService (``traefik.io/v1alpha1``) with ``weighted.services``
``<primary>``/``<canary>`` (Kubernetes Services, weights in percent). Point the IngressRoute
of the model at it (``services: [{name: <apex>, kind: TraefikService}]``), as with Flagger's
traefik provider. Weights only: no mirror, no match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._traffic import Routes
from ._base import ObjectRouter, weighted_routes
from ._memory import Key

API = "traefik.io/v1alpha1"


class TraefikRouter(ObjectRouter):
    """Weighted TraefikService (Flagger's traefik router)."""

    provider = "traefik"

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The TraefikService."""
        return [self.key(rollout, API, "TraefikService", self.names(rollout).apex)]

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The TraefikService."""
        n = self.names(rollout)
        port = rollout.spec.service.port if rollout.spec.service else 80
        services: list[dict[str, Any]] = [
            {"name": name, "kind": "Service", "port": port, "weight": weight}
            for name, weight in (
                (n.primary, routes.champion_weight),
                (n.canary, routes.challenger_weight),
            )
        ]
        spec = {"weighted": {"services": services}}
        return [self.new_object(rollout, API, "TraefikService", n.apex, spec)]

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Weights of the two Services (normalised to percent)."""
        n = self.names(rollout)
        service = stored.get(self.owned(rollout)[0]) or {}
        weights = {n.primary: 0, n.canary: 0}
        for item in ((service.get("spec") or {}).get("weighted") or {}).get("services") or []:
            if item.get("name") in weights:
                weights[item["name"]] = int(item.get("weight", 1))
        return weighted_routes(
            weights, n.canary, f"traefik: TraefikService {n.apex} weights neither version"
        )
