"""Kuma: a MeshHTTPRoute splitting, matching and mirroring between the two MeshServices.

``<apex>`` MeshHTTPRoute (``kuma.io/v1alpha1``, labelled ``kuma.io/mesh`` from the rollout's
``kuma.io/mesh`` annotation, default ``default``) targeting the whole mesh, for requests to
the ``<apex>`` MeshService: one rule whose ``matches`` (ORed) are the A/B conditions, sending
them to ``<canary>``; then the rule for every path with weighted ``backendRefs``
``<primary>``/``<canary>`` and a ``RequestMirror`` filter (``percentage``) when mirroring.
MeshServices are named after the Kubernetes Services (Kuma with MeshService enabled).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._analysis import MatchCondition, StringMatch
from ..spec._traffic import Routes
from ._base import ObjectRouter, weighted_routes
from ._encoding import match_of_regex, regex_of
from ._matching import listed_condition, parse_listed_condition
from ._memory import Key

API = "kuma.io/v1alpha1"
MESH_ANNOTATION = "kuma.io/mesh"
EVERY_PATH = {"path": {"type": "PathPrefix", "value": "/"}}


def kuma_match(name: str, match: StringMatch, *, prefix: bool = True) -> dict[str, str]:
    """A header/query match: Exact, Prefix (headers only: ``prefix``) or RegularExpression."""
    if match.exact is not None:
        return {"name": name, "type": "Exact", "value": match.exact}
    if match.prefix is not None and prefix:
        return {"name": name, "type": "Prefix", "value": match.prefix}
    return {"name": name, "type": "RegularExpression", "value": regex_of(match)}


def parse_kuma_match(data: Mapping[str, Any]) -> StringMatch:
    """Inverse of :func:`kuma_match`."""
    kind, value = data.get("type", "Exact"), str(data.get("value", ""))
    if kind == "Exact":
        return StringMatch(exact=value)
    if kind == "Prefix":
        return StringMatch(prefix=value)
    if kind == "RegularExpression":
        return match_of_regex(value)
    raise RouterError(f"kuma: unsupported match type {kind!r}")


def kuma_condition(cond: MatchCondition) -> dict[str, Any]:
    """A MeshHTTPRoute match: lowercase header names, query matches without Prefix."""
    return listed_condition(
        cond, kuma_match, lower=True, encode_query=partial(kuma_match, prefix=False)
    )


class KumaRouter(ObjectRouter):
    """MeshHTTPRoute weights/match/mirror (Flagger's kuma provider, on Kuma's current API)."""

    provider = "kuma"

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The MeshHTTPRoute."""
        return [self.key(rollout, API, "MeshHTTPRoute", self.names(rollout).apex)]

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The MeshHTTPRoute."""
        n = self.names(rollout)
        port = rollout.spec.service.port if rollout.spec.service else 80
        mesh = (rollout.metadata.annotations or {}).get(MESH_ANNOTATION, "default")

        def backend(name: str, weight: int | None = None) -> dict[str, Any]:
            ref: dict[str, Any] = {
                "kind": "MeshService",
                "name": name,
                "namespace": n.namespace,
                "port": port,
            }
            if weight is not None:
                ref["weight"] = weight
            return ref

        rules: list[dict[str, Any]] = []
        if routes.match:
            rules.append(
                {
                    "matches": [kuma_condition(c) for c in routes.match],
                    "default": {"backendRefs": [backend(n.canary, 100)]},
                }
            )
        default: dict[str, Any] = {
            "backendRefs": [
                backend(n.primary, routes.champion_weight),
                backend(n.canary, routes.challenger_weight),
            ]
        }
        if routes.mirror_weight:
            default["filters"] = [
                {
                    "type": "RequestMirror",
                    "requestMirror": {
                        "backendRef": backend(n.canary),
                        "percentage": routes.mirror_weight,
                    },
                }
            ]
        rules.append({"matches": [dict(EVERY_PATH)], "default": default})
        spec = {
            "targetRef": {"kind": "Mesh"},
            "to": [
                {
                    "targetRef": {"kind": "MeshService", "name": n.apex, "namespace": n.namespace},
                    "rules": rules,
                }
            ],
        }
        route = self.new_object(rollout, API, "MeshHTTPRoute", n.apex, spec)
        route["metadata"]["labels"][MESH_ANNOTATION] = mesh
        return [route]

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Weights/mirror of the last rule; A/B conditions of the rule before it."""
        n = self.names(rollout)
        route = stored.get(self.owned(rollout)[0]) or {}
        to = (route.get("spec") or {}).get("to") or []
        rules = (to[0].get("rules") if to else None) or []
        if not rules:
            raise RouterError(f"kuma: MeshHTTPRoute {n.namespace}/{n.apex} has no rules")
        default = rules[-1].get("default") or {}
        weights = {n.primary: 0, n.canary: 0}
        for ref in default.get("backendRefs") or []:
            if ref.get("name") in weights:
                weights[ref["name"]] = int(ref.get("weight", 1))
        mirror = 0
        for f in default.get("filters") or []:
            mirrored = f.get("requestMirror") or {}
            if (
                f.get("type") == "RequestMirror"
                and mirrored.get("backendRef", {}).get("name") == n.canary
            ):
                mirror = int(str(mirrored.get("percentage", 100)).rstrip("%"))
        match = [
            parse_listed_condition(m, parse_kuma_match)
            for r in rules[:-1]
            for m in r.get("matches") or []
        ]
        return weighted_routes(
            weights,
            n.canary,
            f"kuma: MeshHTTPRoute {n.apex} sends no traffic to either version",
            mirror_weight=mirror,
            match=tuple(match),
        )
