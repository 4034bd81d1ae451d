"""Gateway API: an HTTPRoute with weighted backendRefs, header/query matches and mirroring.

``<apex>`` HTTPRoute (``gateway.networking.k8s.io/v1``) attached to ``service.gatewayRefs``,
answering ``service.hosts``. Rules, in order: one rule whose ``matches`` (ORed) are the A/B
conditions, sending them to ``<canary>``; session-affinity rules for cookie holders; the
weighted rule ``<primary>``/``<canary>``, with a ``RequestMirror`` filter (``percent``) to
``<canary>`` when mirroring and ``Set-Cookie`` response filters when sessions are sticky.
Cookies are matched as a regex on the ``Cookie`` header; prefix/suffix as regexes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout, parse_duration
from ..spec._analysis import StringMatch
from ..spec._traffic import Routes
from ._base import ObjectRouter, weighted_routes
from ._encoding import match_of_regex, parse_affinity, regex_of, sticky_routing
from ._matching import check_one_cookie, listed_condition, parse_listed_condition
from ._memory import Key

API = "gateway.networking.k8s.io/v1"
COOKIE = "Cookie"
SPLIT, STICKY, AB = "split", "sticky", "ab"


def gateway_match(name: str, match: StringMatch) -> dict[str, str]:
    """An HTTPHeaderMatch/HTTPQueryParamMatch (Exact or RegularExpression)."""
    if match.exact is not None:
        return {"name": name, "type": "Exact", "value": match.exact}
    return {"name": name, "type": "RegularExpression", "value": regex_of(match)}


def parse_gateway_match(data: Mapping[str, Any]) -> StringMatch:
    """Inverse of :func:`gateway_match`."""
    if data.get("type", "Exact") == "Exact":
        return StringMatch(exact=str(data["value"]))
    return match_of_regex(str(data["value"]))


def gateway_duration(text: str) -> str:
    """A Gateway API duration (integers only: ``1.5s`` -> ``1500ms``)."""
    seconds = parse_duration(text)
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{round(seconds * 1000)}ms"


class GatewayAPIRouter(ObjectRouter):
    """HTTPRoute weights/match/mirror (Flagger's gatewayapi router)."""

    provider = "gatewayapi"

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The HTTPRoute."""
        return [self.key(rollout, API, "HTTPRoute", self.names(rollout).apex)]

    def check(self, rollout: ModelRollout, routes: Routes) -> None:
        """Also: gatewayRefs given; one cookie per condition (the Cookie header is matched once)."""
        super().check(rollout, routes)
        service = rollout.spec.service
        if service is None or not service.gateway_refs:
            raise RouterError(
                "gatewayapi needs spec.service.gatewayRefs (the Gateways the HTTPRoute attaches to)"
            )
        check_one_cookie(self.provider, routes)

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The HTTPRoute."""
        n = self.names(rollout)
        service = rollout.spec.service
        assert service is not None and service.gateway_refs  # checked
        parents = []
        for ref in service.gateway_refs:
            parent: dict[str, Any] = {"name": ref.name}
            for key, value in (
                ("namespace", ref.namespace),
                ("group", ref.group),
                ("kind", ref.kind),
                ("sectionName", ref.section_name),
                ("port", ref.port),
            ):
                if value is not None:
                    parent[key] = value
            parents.append(parent)
        spec: dict[str, Any] = {"parentRefs": parents}
        if service.hosts:
            spec["hostnames"] = list(service.hosts)
        rules: list[dict[str, Any]] = []
        if routes.match:
            matches = [
                listed_condition(c, gateway_match, cookie_header=COOKIE) for c in routes.match
            ]
            rules.append(self._rule(rollout, AB, {n.canary: 100}, matches))
        pins, set_cookies = sticky_routing(rollout, routes, n)
        for side, host, cookie in pins:
            header = gateway_match(COOKIE, cookie)
            rules.append(
                self._rule(rollout, f"{STICKY}-{side}", {host: 100}, [{"headers": [header]}])
            )
        split = self._rule(
            rollout,
            SPLIT,
            {n.primary: routes.champion_weight, n.canary: routes.challenger_weight},
            None,
        )
        for ref in split["backendRefs"]:
            if value := set_cookies.get(ref["name"]):
                ref["filters"] = [
                    {
                        "type": "ResponseHeaderModifier",
                        "responseHeaderModifier": {"add": [{"name": "Set-Cookie", "value": value}]},
                    }
                ]
        if routes.mirror_weight:
            split["filters"] = [
                {
                    "type": "RequestMirror",
                    "requestMirror": {
                        "backendRef": {"name": n.canary, "port": service.port},
                        "percent": routes.mirror_weight,
                    },
                }
            ]
        rules.append(split)
        spec["rules"] = rules
        return [self.new_object(rollout, API, "HTTPRoute", n.apex, spec)]

    def _rule(
        self,
        rollout: ModelRollout,
        name: str,
        weights: dict[str, int],
        matches: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        service = rollout.spec.service
        port = service.port if service is not None else 80
        rule: dict[str, Any] = {"name": name}
        if matches:
            rule["matches"] = matches
        rule["backendRefs"] = [
            {"name": host, "port": port, "weight": weight} for host, weight in weights.items()
        ]
        if service is not None and (service.timeout or service.backend_timeout):
            timeouts = {}
            if service.timeout:
                timeouts["request"] = gateway_duration(service.timeout)
            if service.backend_timeout:
                timeouts["backendRequest"] = gateway_duration(service.backend_timeout)
            rule["timeouts"] = timeouts
        return rule

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Weights/mirror of the last rule; A/B matches of the rule sending all to the canary."""
        n = self.names(rollout)
        route = stored.get(self.owned(rollout)[0])
        rules = ((route or {}).get("spec") or {}).get("rules") or []
        if not rules:
            raise RouterError(f"gatewayapi: HTTPRoute {n.namespace}/{n.apex} has no rules")
        split = rules[-1]
        weights = {n.primary: 0, n.canary: 0}
        set_cookies: list[tuple[bool, str]] = []
        for ref in split.get("backendRefs") or []:
            if ref.get("name") in weights:
                weights[ref["name"]] = int(ref.get("weight", 1))
                set_cookies += [
                    (ref["name"] == n.canary, header["value"])
                    for f in ref.get("filters") or []
                    for header in (f.get("responseHeaderModifier") or {}).get("add") or []
                    if header.get("name") == "Set-Cookie"
                ]
        mirror = 0
        for f in split.get("filters") or []:
            mirrored = f.get("requestMirror") or {}
            if (
                f.get("type") == "RequestMirror"
                and mirrored.get("backendRef", {}).get("name") == n.canary
            ):
                fraction = mirrored.get("fraction")
                if fraction:
                    mirror = round(100 * fraction["numerator"] / fraction.get("denominator", 100))
                else:
                    mirror = int(mirrored.get("percent", 100))
        match = [
            parse_listed_condition(m, parse_gateway_match)
            for rule in rules[:-1]
            if rule.get("name") == AB
            for m in rule.get("matches") or []
        ]
        return weighted_routes(
            weights,
            n.canary,
            f"gatewayapi: HTTPRoute {n.apex} sends no traffic to either version",
            mirror_weight=mirror,
            match=tuple(match),
            session_affinity=parse_affinity(set_cookies),
        )
