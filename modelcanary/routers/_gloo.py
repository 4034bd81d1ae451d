"""Gloo Edge: a RouteTable weighting two Upstreams, one per version.

As Flagger's gloo router: Upstreams ``<ns>-<apex>-primaryupstream-<port>`` and
``<ns>-<apex>-canaryupstream-<port>`` (``gloo.solo.io/v1``, ``kube`` upstreams of the
``<primary>``/``<canary>`` Services, so Gloo's discovery is not needed) and the ``<apex>``
RouteTable (``gateway.solo.io/v1``) that your VirtualService delegates to. With
``spec.upstreamRef``, both Upstreams copy the settings of that Upstream (circuit breakers,
connection and TLS settings... everything but its upstream type), as Flagger does. The
RouteTable's routes inherit the parent's path (``inheritablePathMatchers``): one route whose
``matchers`` (ORed) are the A/B conditions, to the canary Upstream, then the route with
``multi`` destinations weighting the two Upstreams and, when mirroring,
``options.shadowing`` (the canary Upstream, ``percentage``). ``service.retries`` becomes every
route's ``options.retries``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._analysis import StringMatch
from ..spec._base import parse_duration
from ..spec._traffic import Routes
from ._base import ObjectRouter, require_input, weighted_routes
from ._encoding import match_of_regex, regex_of
from ._matching import listed_condition, parse_listed_condition
from ._memory import Key

GATEWAY_API = "gateway.solo.io/v1"
GLOO_API = "gloo.solo.io/v1"
UPSTREAM_TYPES = frozenset({"kube", "static", "pipe", "aws", "awsEc2", "azure", "consul"})
"""Upstream spec fields naming where the upstream is (not copied from ``upstreamRef``)."""
QUERY = "queryParameters"
"""Key of a matcher's query parameter matches."""


def gloo_match(name: str, match: StringMatch) -> dict[str, Any]:
    """A header/query matcher: ``value`` when exact, else a full-match regex."""
    if match.exact is not None:
        return {"name": name, "value": match.exact}
    return {"name": name, "value": regex_of(match), "regex": True}


def parse_gloo_match(data: Mapping[str, Any]) -> StringMatch:
    """Inverse of :func:`gloo_match`."""
    value = str(data.get("value", ""))
    return match_of_regex(value) if data.get("regex") else StringMatch(exact=value)


class GlooRouter(ObjectRouter):
    """RouteTable over per-version Upstreams (Flagger's gloo router)."""

    provider = "gloo"

    def upstream_names(self, rollout: ModelRollout) -> tuple[str, str]:
        """(primary, canary) Upstream names, as Flagger names them."""
        n = self.names(rollout)
        port = rollout.spec.service.port if rollout.spec.service else 80
        return (
            f"{n.namespace}-{n.apex}-primaryupstream-{port}",
            f"{n.namespace}-{n.apex}-canaryupstream-{port}",
        )

    def inputs(self, rollout: ModelRollout) -> list[Key]:
        """The Upstream of ``spec.upstreamRef`` (settings to copy), if any."""
        ref = rollout.spec.upstream_ref
        if ref is None:
            return []
        return [self.ref_key(rollout, ref, GLOO_API, "Upstream")]

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The two Upstreams, then the RouteTable."""
        primary, canary = self.upstream_names(rollout)
        return [
            self.key(rollout, GLOO_API, "Upstream", primary),
            self.key(rollout, GLOO_API, "Upstream", canary),
            self.key(rollout, GATEWAY_API, "RouteTable", self.names(rollout).apex),
        ]

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The two Upstreams, then the RouteTable."""
        n = self.names(rollout)
        port = rollout.spec.service.port if rollout.spec.service else 80
        primary, canary = self.upstream_names(rollout)
        settings: dict[str, Any] = {}
        for key in self.inputs(rollout):
            config = require_input(self, inputs, key).get("spec") or {}
            settings = {k: v for k, v in config.items() if k not in UPSTREAM_TYPES}

        def upstream(name: str, service: str) -> KubeObject:
            kube = {"serviceName": service, "serviceNamespace": n.namespace, "servicePort": port}
            spec = {**copy.deepcopy(settings), "kube": kube}
            return self.new_object(rollout, GLOO_API, "Upstream", name, spec)

        upstreams = [upstream(primary, n.primary), upstream(canary, n.canary)]

        def ref(name: str) -> dict[str, Any]:
            return {"upstream": {"name": name, "namespace": n.namespace}}

        def options(mirror: int = 0) -> dict[str, Any]:
            out: dict[str, Any] = {}
            retries = self._retries(rollout)
            if retries:
                out["retries"] = retries
            if mirror:
                out["shadowing"] = {**ref(canary), "percentage": float(mirror)}
            return {"options": out} if out else {}

        table_routes: list[dict[str, Any]] = []
        if routes.match:
            table_routes.append(
                {
                    "name": "ab",
                    "inheritablePathMatchers": True,
                    "matchers": [
                        listed_condition(c, gloo_match, query_key=QUERY) for c in routes.match
                    ],
                    **options(),
                    "routeAction": {"single": ref(canary)},
                }
            )
        destinations = [
            {"destination": ref(primary), "weight": routes.champion_weight},
            {"destination": ref(canary), "weight": routes.challenger_weight},
        ]
        table_routes.append(
            {
                "name": "split",
                "inheritablePathMatchers": True,
                **options(routes.mirror_weight),
                "routeAction": {"multi": {"destinations": destinations}},
            }
        )
        table = self.new_object(
            rollout, GATEWAY_API, "RouteTable", n.apex, {"routes": table_routes}
        )
        return [*upstreams, table]

    def _retries(self, rollout: ModelRollout) -> dict[str, Any] | None:
        """``service.retries`` as Gloo route retries (durations in seconds, as protobuf's)."""
        retries = rollout.spec.service.retries if rollout.spec.service else None
        if retries is None:
            return None
        out: dict[str, Any] = {}
        if retries.attempts is not None:
            out["numRetries"] = retries.attempts
        if retries.per_try_timeout:
            out["perTryTimeout"] = f"{parse_duration(retries.per_try_timeout):g}s"
        if retries.retry_on:
            out["retryOn"] = retries.retry_on
        return out or None

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Weights/mirror of the last route; A/B conditions of the routes before it."""
        n = self.names(rollout)
        primary, canary = self.upstream_names(rollout)
        table = stored.get(self.owned(rollout)[-1]) or {}
        table_routes = (table.get("spec") or {}).get("routes") or []
        if not table_routes:
            raise RouterError(f"gloo: RouteTable {n.namespace}/{n.apex} has no routes")
        weights = {primary: 0, canary: 0}
        multi = (table_routes[-1].get("routeAction") or {}).get("multi") or {}
        for dest in multi.get("destinations") or []:
            name = ((dest.get("destination") or {}).get("upstream") or {}).get("name")
            if name in weights:
                weights[name] = int(dest.get("weight") or 0)
        shadow = (table_routes[-1].get("options") or {}).get("shadowing") or {}
        mirror = 0
        if (shadow.get("upstream") or {}).get("name") == canary:
            mirror = round(float(shadow.get("percentage") or 0))
        match = [
            parse_listed_condition(m, parse_gloo_match, query_key=QUERY)
            for r in table_routes[:-1]
            for m in r.get("matchers") or []
        ]
        return weighted_routes(
            weights,
            canary,
            f"gloo: RouteTable {n.apex} sends no traffic to either Upstream",
            mirror_weight=mirror,
            match=tuple(match),
        )
