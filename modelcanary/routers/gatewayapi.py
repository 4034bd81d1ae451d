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
from ..rollout.commands import Routes
from ..spec import ModelRollout, parse_duration
from ..spec.analysis import MatchCondition, SessionAffinity, StringMatch
from .base import Features, ObjectRouter
from .encoding import (
    cookie_regex,
    match_of_regex,
    parse_cookie_regex,
    parse_set_cookie,
    regex_of,
    session_token,
    set_cookie,
)
from .memory import Key

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
    features = Features(
        mirror=True, match=frozenset({"headers", "cookies", "query_params"}), session_affinity=True
    )

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
        for i, cond in enumerate(routes.match):
            headers = {h.lower() for h in cond.headers or {}}
            if len(cond.cookies or {}) > 1 or (cond.cookies and "cookie" in headers):
                raise RouterError(
                    f"gatewayapi matches one cookie per condition (match[{i}]); "
                    "split it into several conditions"
                )

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
            matches = [_http_match(c) for c in routes.match]
            rules.append(self._rule(rollout, AB, {n.canary: 100}, matches))
        affinity = routes.session_affinity
        sticky = affinity is not None and 0 < routes.challenger_weight < 100
        token = session_token(rollout)
        if affinity is not None and sticky:
            pins = [(affinity.cookie_name, n.canary)]
            if affinity.primary_cookie_name:
                pins.append((affinity.primary_cookie_name, n.primary))
            for pin, host in pins:
                header = gateway_match(
                    COOKIE, StringMatch(regex=cookie_regex(pin, StringMatch(exact=token)))
                )
                side = "canary" if host == n.canary else "primary"
                rules.append(
                    self._rule(rollout, f"{STICKY}-{side}", {host: 100}, [{"headers": [header]}])
                )
        split = self._rule(
            rollout,
            SPLIT,
            {n.primary: routes.champion_weight, n.canary: routes.challenger_weight},
            None,
        )
        if affinity is not None and sticky:
            for ref in split["backendRefs"]:
                cookie = (
                    affinity.cookie_name
                    if ref["name"] == n.canary
                    else affinity.primary_cookie_name
                )
                if cookie:
                    value = set_cookie(affinity, cookie, token)
                    ref["filters"] = [
                        {
                            "type": "ResponseHeaderModifier",
                            "responseHeaderModifier": {
                                "add": [{"name": "Set-Cookie", "value": value}]
                            },
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
        return [
            {
                "apiVersion": API,
                "kind": "HTTPRoute",
                "metadata": self.metadata(rollout, n.apex),
                "spec": spec,
            }
        ]

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
        affinity: dict[str, Any] = {}
        for ref in split.get("backendRefs") or []:
            if ref.get("name") in weights:
                weights[ref["name"]] = int(ref.get("weight", 1))
                for f in ref.get("filters") or []:
                    for header in (f.get("responseHeaderModifier") or {}).get("add") or []:
                        if header.get("name") == "Set-Cookie":
                            name, fields = parse_set_cookie(header["value"])
                            affinity.update(fields)
                            side = (
                                "cookie_name" if ref["name"] == n.canary else "primary_cookie_name"
                            )
                            affinity[side] = name
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
        total = sum(weights.values())
        if total == 0:
            raise RouterError(f"gatewayapi: HTTPRoute {n.apex} sends no traffic to either version")
        challenger = round(100 * weights[n.canary] / total)
        match = [
            _parse_http_match(m)
            for rule in rules[:-1]
            if rule.get("name") == AB
            for m in rule.get("matches") or []
        ]
        return Routes(
            champion_weight=100 - challenger,
            challenger_weight=challenger,
            mirror_weight=mirror,
            match=tuple(match),
            session_affinity=SessionAffinity(**affinity) if "cookie_name" in affinity else None,
        )


def _http_match(cond: MatchCondition) -> dict[str, Any]:
    match: dict[str, Any] = {}
    headers = [gateway_match(k, v) for k, v in (cond.headers or {}).items()]
    for name, value in (cond.cookies or {}).items():
        headers.append(gateway_match(COOKIE, StringMatch(regex=cookie_regex(name, value))))
    if headers:
        match["headers"] = headers
    if cond.query_params:
        match["queryParams"] = [gateway_match(k, v) for k, v in cond.query_params.items()]
    return match


def _parse_http_match(match: Mapping[str, Any]) -> MatchCondition:
    headers: dict[str, StringMatch] = {}
    cookies: dict[str, StringMatch] = {}
    for header in match.get("headers") or []:
        cookie = None
        if header.get("name", "").lower() == "cookie" and header.get("type") == "RegularExpression":
            cookie = parse_cookie_regex(header.get("value", ""))
        if cookie is not None:
            cookies[cookie[0]] = cookie[1]
        else:
            headers[header["name"]] = parse_gateway_match(header)
    query = {q["name"]: parse_gateway_match(q) for q in match.get("queryParams") or []}
    return MatchCondition(
        headers=headers or None, cookies=cookies or None, query_params=query or None
    )
