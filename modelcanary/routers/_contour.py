"""Contour: an HTTPProxy splitting, matching and mirroring between the two Services.

``<apex>`` HTTPProxy (``projectcontour.io/v1``), as Flagger's contour router: no virtual host
(include it from your root HTTPProxy). One route per A/B condition (the service's path prefix
and the condition's header/query conditions, ANDed) to ``<canary>``, then the route for the
prefix with weighted services ``<primary>``/``<canary>`` and, when mirroring, ``<canary>`` again
with ``mirror: true`` and ``weight`` = the mirror percent (Contour's fractional mirroring). Each
service sets ``l5d-dst-override`` in its ``requestHeadersPolicy`` (Linkerd behind Contour), as
Flagger does; ``service.timeout``/``retries``/``headers`` become the routes' ``timeoutPolicy``,
``retryPolicy`` and request/response header policies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._analysis import MatchCondition, StringMatch
from ..spec._traffic import Routes
from ._base import ObjectRouter, weighted_routes
from ._encoding import match_of_regex, regex_of
from ._matching import condition_of, header_matches, match_kind, parse_match_kind, path_prefix
from ._memory import Key

API = "projectcontour.io/v1"
RETRY_ON = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)
"""Contour's ``retryPolicy.retryOn`` values (others of ``service.retries.retryOn`` are dropped)."""


def contour_header(name: str, match: StringMatch) -> dict[str, str]:
    """A header condition: ``exact``, else a full-match ``regex``."""
    if match.exact is not None:
        return {"name": name, "exact": match.exact}
    return {"name": name, "regex": regex_of(match)}


def contour_query(name: str, match: StringMatch) -> dict[str, str]:
    """A query parameter condition (Contour has exact, prefix, suffix and regex)."""
    kind, value = match_kind(match)
    return {"name": name, kind: value}


class ContourRouter(ObjectRouter):
    """HTTPProxy weights/match/mirror (Flagger's contour router, plus mirroring)."""

    provider = "contour"

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The HTTPProxy."""
        return [self.key(rollout, API, "HTTPProxy", self.names(rollout).apex)]

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The HTTPProxy."""
        n = self.names(rollout)
        service = rollout.spec.service
        port = service.port if service else 80
        prefix = path_prefix(rollout)

        def backend(name: str, weight: int, *, mirror: bool = False) -> dict[str, Any]:
            out: dict[str, Any] = {"name": name, "port": port}
            if mirror:
                out["mirror"] = True
            out["weight"] = weight
            out["requestHeadersPolicy"] = {
                "set": [
                    {
                        "name": "l5d-dst-override",
                        "value": f"{name}.{n.namespace}.svc.cluster.local:{port}",
                    }
                ]
            }
            return out

        proxy_routes: list[dict[str, Any]] = [
            {
                "conditions": [{"prefix": prefix}, *_conditions(cond)],
                **self._policies(rollout),
                "services": [backend(n.canary, 100)],
            }
            for cond in routes.match
        ]
        services = [
            backend(n.primary, routes.champion_weight),
            backend(n.canary, routes.challenger_weight),
        ]
        if routes.mirror_weight:
            services.append(backend(n.canary, routes.mirror_weight, mirror=True))
        proxy_routes.append(
            {"conditions": [{"prefix": prefix}], **self._policies(rollout), "services": services}
        )
        return [self.new_object(rollout, API, "HTTPProxy", n.apex, {"routes": proxy_routes})]

    def _policies(self, rollout: ModelRollout) -> dict[str, Any]:
        service = rollout.spec.service
        out: dict[str, Any] = {}
        if service is None:
            return out
        for field, key in (
            ("requestHeadersPolicy", "request"),
            ("responseHeadersPolicy", "response"),
        ):
            given = (service.headers or {}).get(key) or {}
            values = {**(given.get("add") or {}), **(given.get("set") or {})}
            policy: dict[str, Any] = {}
            if values:
                policy["set"] = [{"name": k, "value": str(v)} for k, v in values.items()]
            if given.get("remove"):
                policy["remove"] = list(given["remove"])
            if policy:
                out[field] = policy
        if service.timeout:
            out["timeoutPolicy"] = {"response": service.timeout}
        if service.retries is not None:
            retries = service.retries
            # Contour: count -1 disables retries, 0 would mean Envoy's default (1)
            count = 1 if retries.attempts is None else retries.attempts or -1
            retry: dict[str, Any] = {"count": count}
            if retries.per_try_timeout:
                retry["perTryTimeout"] = retries.per_try_timeout
            on = [e.strip() for e in (retries.retry_on or "").split(",") if e.strip() in RETRY_ON]
            if on:
                retry["retryOn"] = on
            out["retryPolicy"] = retry
        return out

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Weights/mirror of the last route; A/B conditions of the routes before it."""
        n = self.names(rollout)
        proxy = stored.get(self.owned(rollout)[0]) or {}
        proxy_routes = (proxy.get("spec") or {}).get("routes") or []
        if not proxy_routes:
            raise RouterError(f"contour: HTTPProxy {n.namespace}/{n.apex} has no routes")
        weights = {n.primary: 0, n.canary: 0}
        mirror = 0
        for svc in proxy_routes[-1].get("services") or []:
            if svc.get("mirror"):
                if svc.get("name") == n.canary:
                    mirror = int(svc.get("weight") or 100)  # omitted or 0: all mirrored
            elif svc.get("name") in weights:
                weights[svc["name"]] = int(svc.get("weight", 1))
        match = [_parse_conditions(r.get("conditions") or []) for r in proxy_routes[:-1]]
        return weighted_routes(
            weights,
            n.canary,
            f"contour: HTTPProxy {n.apex} sends no traffic to either version",
            mirror_weight=mirror,
            match=tuple(m for m in match if m is not None),
        )


def _conditions(cond: MatchCondition) -> list[dict[str, Any]]:
    out = [{"header": contour_header(k, v)} for k, v in header_matches(cond)]
    out += [{"queryParameter": contour_query(k, v)} for k, v in (cond.query_params or {}).items()]
    return out


def _parse_conditions(conditions: list[Mapping[str, Any]]) -> MatchCondition | None:
    headers: list[tuple[str, StringMatch]] = []
    query: dict[str, StringMatch] = {}
    for item in conditions:
        if header := item.get("header"):
            name = str(header.get("name", ""))
            if "exact" in header:
                headers.append((name, StringMatch(exact=str(header["exact"]))))
            elif "regex" in header:
                headers.append((name, match_of_regex(str(header["regex"]))))
            else:
                raise RouterError(f"contour: unsupported header condition {dict(header)!r}")
        elif param := item.get("queryParameter"):
            value = parse_match_kind(param)
            if value is None:
                raise RouterError(f"contour: unsupported query condition {dict(param)!r}")
            query[str(param["name"])] = value
    return condition_of(headers, query) if headers or query else None
