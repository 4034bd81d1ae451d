"""Istio: a VirtualService splitting, matching and mirroring, plus two DestinationRules.

``<apex>`` VirtualService (``networking.istio.io/v1``), one HTTP route per A/B condition (all to
``<canary>``), session-affinity routes pinning cookie holders, then the weighted route to the
``<primary>``/``<canary>`` hosts with ``mirror`` + ``mirrorPercentage``. Flagger's service
fields apply to every route: ``match`` (prepended), ``retries``, ``timeout``, ``corsPolicy``,
``headers``, ``rewrite``. DestinationRules ``<primary>``/``<canary>`` carry ``trafficPolicy``
(as Flagger: both get the same copy, ``outlierDetection`` included, checked by the spec).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._analysis import MatchCondition, StringMatch
from ..spec._traffic import Routes
from ._base import ObjectRouter
from ._encoding import parse_affinity, regex_of, sticky_routing
from ._matching import check_one_cookie, condition_of, header_matches, parse_match_kind
from ._memory import Key

API = "networking.istio.io/v1"
SPLIT, STICKY, AB = "split", "sticky", "ab"


def istio_string(match: StringMatch) -> dict[str, str]:
    """Istio StringMatch (exact/prefix/regex; a suffix becomes a regex)."""
    if match.exact is not None:
        return {"exact": match.exact}
    if match.prefix is not None:
        return {"prefix": match.prefix}
    return {"regex": regex_of(match)}


def parse_istio_string(data: Mapping[str, Any]) -> StringMatch:
    """Inverse of :func:`istio_string`."""
    match = parse_match_kind(data, ("exact", "prefix", "regex"))
    if match is None:
        raise RouterError(f"istio: unsupported string match {dict(data)!r}")
    return match


class IstioRouter(ObjectRouter):
    """VirtualService weights/match/mirror and DestinationRules (Flagger's istio router)."""

    provider = "istio"

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """DestinationRules first, the VirtualService (weights) last."""
        n = self.names(rollout)
        return [
            self.key(rollout, API, "DestinationRule", n.primary),
            self.key(rollout, API, "DestinationRule", n.canary),
            self.key(rollout, API, "VirtualService", n.apex),
        ]

    def check(self, rollout: ModelRollout, routes: Routes) -> None:
        """Also: one cookie per condition (Istio matches the cookie header once)."""
        super().check(rollout, routes)
        check_one_cookie(self.provider, routes, explain=True)

    # -- render ----------------------------------------------------------------------------
    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """Two DestinationRules and the VirtualService."""
        n = self.names(rollout)
        service = rollout.spec.service
        rules = []
        for host in (n.primary, n.canary):
            spec: dict[str, Any] = {"host": host}
            if service is not None and service.traffic_policy:
                spec["trafficPolicy"] = copy.deepcopy(service.traffic_policy)
            rules.append(self.new_object(rollout, API, "DestinationRule", host, spec))
        vs = self.new_object(rollout, API, "VirtualService", n.apex, self._vs_spec(rollout, routes))
        return [*rules, vs]

    def _vs_spec(self, rollout: ModelRollout, routes: Routes) -> dict[str, Any]:
        n = self.names(rollout)
        service = rollout.spec.service
        spec: dict[str, Any] = {}
        if not (service and service.delegation):
            spec["hosts"] = list(dict.fromkeys([*(service.hosts or [] if service else []), n.apex]))
            if service and service.gateways:
                spec["gateways"] = list(service.gateways)
        http: list[dict[str, Any]] = []
        for i, cond in enumerate(routes.match):
            http.append(self._route(rollout, f"{AB}-{i}", {n.canary: 100}, _match_request(cond)))
        pins, set_cookies = sticky_routing(rollout, routes, n)
        for side, host, cookie in pins:
            condition = {"headers": {"cookie": istio_string(cookie)}}
            http.append(self._route(rollout, f"{STICKY}-{side}", {host: 100}, condition))
        split = self._route(
            rollout,
            SPLIT,
            {n.primary: routes.champion_weight, n.canary: routes.challenger_weight},
            None,
        )
        for dest in split["route"]:
            if value := set_cookies.get(dest["destination"]["host"]):
                dest["headers"] = {"response": {"add": {"Set-Cookie": value}}}
        if routes.mirror_weight:
            split["mirror"] = self._destination(rollout, n.canary)
            split["mirrorPercentage"] = {"value": float(routes.mirror_weight)}
        http.append(split)
        spec["http"] = http
        return spec

    def _destination(self, rollout: ModelRollout, host: str) -> dict[str, Any]:
        service = rollout.spec.service
        port = service.port if service is not None else 80
        return {"host": host, "port": {"number": port}}

    def _route(
        self,
        rollout: ModelRollout,
        name: str,
        weights: dict[str, int],
        condition: dict[str, Any] | None,
    ) -> dict[str, Any]:
        service = rollout.spec.service
        route: dict[str, Any] = {"name": name}
        apex = [copy.deepcopy(m) for m in (service.match or [])] if service else []
        if condition is not None:
            route["match"] = [_merge(m, condition) for m in apex] if apex else [condition]
        elif apex:
            route["match"] = apex
        if service is not None:
            if service.rewrite:
                route["rewrite"] = copy.deepcopy(service.rewrite)
            if service.timeout:
                route["timeout"] = service.timeout
            if service.retries is not None:
                retries = service.retries
                route["retries"] = {
                    k: v
                    for k, v in (
                        ("attempts", retries.attempts),
                        ("perTryTimeout", retries.per_try_timeout),
                        ("retryOn", retries.retry_on),
                    )
                    if v is not None
                }
            if service.cors_policy:
                route["corsPolicy"] = copy.deepcopy(service.cors_policy)
            if service.headers:
                route["headers"] = copy.deepcopy(service.headers)
        route["route"] = [
            {"destination": self._destination(rollout, host), "weight": weight}
            for host, weight in weights.items()
        ]
        return route

    # -- parse -----------------------------------------------------------------------------
    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Weights and mirror of the last route, A/B conditions and affinity before it."""
        n = self.names(rollout)
        vs = stored.get(self.key(rollout, API, "VirtualService", n.apex))
        if vs is None:
            raise RouterError(f"istio: VirtualService {n.namespace}/{n.apex} does not exist")
        http = (vs.get("spec") or {}).get("http") or []
        if not http:
            raise RouterError(f"istio: VirtualService {n.apex} has no http routes")
        split = http[-1]
        weights = {n.primary: 0, n.canary: 0}
        set_cookies: list[tuple[bool, str]] = []
        for dest in split.get("route") or []:
            host = (dest.get("destination") or {}).get("host")
            if host in weights:
                weights[host] = int(dest.get("weight", 100))
                cookie = (((dest.get("headers") or {}).get("response") or {}).get("add") or {}).get(
                    "Set-Cookie"
                )
                if cookie:
                    set_cookies.append((host == n.canary, cookie))
        mirror = 0
        if (split.get("mirror") or {}).get("host") == n.canary:
            mirror = round(float((split.get("mirrorPercentage") or {}).get("value", 100)))
        apex = (rollout.spec.service.match or []) if rollout.spec.service else []
        match = [
            _parse_match_request((r.get("match") or [{}])[0], apex[0] if apex else {})
            for r in http[:-1]
            if not str(r.get("name", "")).startswith(STICKY)
        ]
        if sum(weights.values()) != 100:
            raise RouterError(f"istio: VirtualService {n.apex} weights {weights} do not sum to 100")
        return Routes(
            champion_weight=weights[n.primary],
            challenger_weight=weights[n.canary],
            mirror_weight=mirror,
            match=tuple(match),
            session_affinity=parse_affinity(set_cookies),
        )


def _match_request(cond: MatchCondition) -> dict[str, Any]:
    request: dict[str, Any] = {}
    headers = {k: istio_string(v) for k, v in header_matches(cond, lower=True)}
    if headers:
        request["headers"] = headers
    if cond.query_params:
        request["queryParams"] = {k: istio_string(v) for k, v in cond.query_params.items()}
    if cond.source_labels:
        request["sourceLabels"] = dict(cond.source_labels)
    return request


def _parse_match_request(request: Mapping[str, Any], apex: Mapping[str, Any]) -> MatchCondition:
    apex_headers = apex.get("headers") or {}
    headers = [
        (name, parse_istio_string(value))
        for name, value in (request.get("headers") or {}).items()
        if not (name in apex_headers and apex_headers[name] == value)
    ]
    apex_query = apex.get("queryParams") or {}
    query = {
        k: parse_istio_string(v)
        for k, v in (request.get("queryParams") or {}).items()
        if apex_query.get(k) != v
    }
    return condition_of(headers, query, request.get("sourceLabels"))


def _merge(apex: dict[str, Any], condition: dict[str, Any]) -> dict[str, Any]:
    merged = dict(apex)
    for key, value in condition.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged
