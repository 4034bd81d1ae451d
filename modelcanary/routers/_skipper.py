"""Skipper: a canary Ingress carrying both backends and ``zalando.org/backend-weights``.

The ``<ingress>-canary`` Ingress copies ``service.ingressRef``; every path whose backend is the
apex Service points at ``<primary>`` and gets a twin path to ``<canary>``. The weights are
the ``zalando.org/backend-weights`` annotation (JSON, percent). ``zalando.org/skipper-predicate``
starts with ``Weight(100)`` so the canary Ingress wins over the original for the same
host/path, or with ``False()`` when the challenger gets nothing (the original Ingress then
serves as if there were no canary). Skipper cannot mirror or match here (weights only).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._traffic import Routes
from ._base import ObjectRouter, require_input
from ._ingress import API, DROPPED, ingress_ref_key
from ._memory import Key

WEIGHTS = "zalando.org/backend-weights"
PREDICATE = "zalando.org/skipper-predicate"
WIN, DISABLE = "Weight(100)", "False()"


def predicate(raw: str, first: str) -> str:
    """``first`` then the other predicates of ``raw`` (ours dropped), joined with ``&&``."""
    others = [p.strip() for p in raw.split("&&") if p.strip() and p.strip() not in (WIN, DISABLE)]
    return " && ".join([first, *others])


class SkipperRouter(ObjectRouter):
    """Canary Ingress with backend weights (Flagger's skipper router)."""

    provider = "skipper"

    def inputs(self, rollout: ModelRollout) -> list[Key]:
        """The referenced Ingress."""
        return [ingress_ref_key(self, rollout)]

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The canary Ingress."""
        return [self.key(rollout, API, "Ingress", f"{ingress_ref_key(self, rollout)[3]}-canary")]

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The canary Ingress."""
        n = self.names(rollout)
        key = ingress_ref_key(self, rollout)
        source = require_input(self, inputs, key)
        spec = copy.deepcopy(source.get("spec") or {})
        found = False
        for rule in spec.get("rules") or []:
            paths = (rule.get("http") or {}).get("paths") or []
            for path in list(paths):
                service = (path.get("backend") or {}).get("service") or {}
                if service.get("name") == n.apex:
                    found = True
                    service["name"] = n.primary
                    twin = copy.deepcopy(path)
                    twin["backend"]["service"]["name"] = n.canary
                    paths.append(twin)
        if not found:
            raise RouterError(
                f"skipper: Ingress {key[2]}/{key[3]} has no path to Service {n.apex}; "
                "point a path of spec.service.ingressRef at the apex Service"
            )
        src_meta = source.get("metadata") or {}
        annotations = {
            k: v
            for k, v in (src_meta.get("annotations") or {}).items()
            if k not in DROPPED and k != WEIGHTS and not k.startswith("modelcanary.io/")
        }
        weights = {n.primary: routes.champion_weight, n.canary: routes.challenger_weight}
        annotations[WEIGHTS] = json.dumps(weights, separators=(",", ":"))
        first = WIN if routes.challenger_weight else DISABLE
        annotations[PREDICATE] = predicate(annotations.get(PREDICATE, ""), first)
        canary = self.new_object(rollout, API, "Ingress", self.owned(rollout)[0][3], spec)
        meta = canary["metadata"]
        meta["labels"] = {**(src_meta.get("labels") or {}), **meta["labels"]}
        meta["annotations"] = annotations
        return [canary]

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Weights from ``zalando.org/backend-weights`` (ratios, normalised to percent)."""
        n = self.names(rollout)
        ingress = stored.get(self.owned(rollout)[0]) or {}
        annotations = (ingress.get("metadata") or {}).get("annotations") or {}
        try:
            weights: Any = json.loads(annotations.get(WEIGHTS, ""))
            primary, canary = float(weights[n.primary]), float(weights[n.canary])
        except (ValueError, KeyError, TypeError):
            raise RouterError(
                f"skipper: {WEIGHTS} of Ingress {ingress.get('metadata', {}).get('name')} "
                f"does not weight {n.primary} and {n.canary}"
            ) from None
        if annotations.get(PREDICATE, "").startswith(DISABLE) or primary + canary <= 0:
            return Routes()
        challenger = round(100 * canary / (primary + canary))
        return Routes(champion_weight=100 - challenger, challenger_weight=challenger)
