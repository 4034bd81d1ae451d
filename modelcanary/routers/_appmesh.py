"""AWS App Mesh: virtual nodes per version, a virtual router weighting them, virtual services.

As Flagger's App Mesh v1beta2 router (``appmesh.k8s.aws/v1beta2``):

- VirtualNodes ``<primary>`` and ``<canary>``: a listener on the service's target port (``grpc``
  when ``service.portName`` says so, else ``http``), DNS discovery at
  ``<service>.<namespace>.svc.cluster.local``, pods selected by ``app: <workload>``, and
  ``service.backends`` as VirtualService backends;
- VirtualRouter ``<canary>`` (all traffic to the canary node) and VirtualService ``<canary>``,
  so the challenger is reachable by its own name inside the mesh (acceptance/load tests);
- VirtualService ``<apex>`` served by VirtualRouter ``<apex>``, whose routes are one per A/B
  condition (header matches, priority 10, 11...) to the canary node, then ``<apex>``
  (priority 1000) with the weighted targets. With ``service.hosts``, the apex VirtualService
  carries Flagger's ``gateway.appmesh.k8s.aws/*`` annotations for the App Mesh gateway.

Weights and header/cookie matches; no mirror (App Mesh cannot mirror) and no query matches.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._analysis import MatchCondition, StringMatch
from ..spec._base import parse_duration
from ..spec._traffic import Routes
from ._base import ObjectRouter, weighted_routes
from ._matching import condition_of, header_matches, match_kind, parse_match_kind, path_prefix
from ._memory import Key

API = "appmesh.k8s.aws/v1beta2"
SPLIT_PRIORITY = 1000
"""Priority of the weighted route (App Mesh's lowest: A/B routes win)."""
AB_PRIORITY = 10
HTTP_RETRY_EVENTS = ("server-error", "gateway-error", "client-error", "stream-error")
_TCP_RETRY_ON = {"connect-failure", "reset", "connection-error"}
_ENVOY_RETRY_ON = {"5xx": "server-error", "retriable-4xx": "client-error"}
"""Envoy/Istio ``retryOn`` names with an App Mesh HTTP event."""
MAX_VALUE, MAX_NAME, MAX_HEADERS = 255, 50, 10
"""App Mesh limits of a header match: value length, header name length, headers per route."""


def appmesh_match(match: StringMatch) -> dict[str, str]:
    """A HeaderMatchMethod: exact, prefix, suffix or regex, as given."""
    kind, value = match_kind(match)
    return {kind: value}


class AppMeshRouter(ObjectRouter):
    """Virtual nodes/router/services (Flagger's App Mesh v1beta2 router)."""

    provider = "appmesh"

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """Nodes, the canary router and service, the apex service, the apex router last."""
        n = self.names(rollout)
        return [
            self.key(rollout, API, "VirtualNode", n.primary),
            self.key(rollout, API, "VirtualNode", n.canary),
            self.key(rollout, API, "VirtualRouter", n.canary),
            self.key(rollout, API, "VirtualService", n.canary),
            self.key(rollout, API, "VirtualService", n.apex),
            self.key(rollout, API, "VirtualRouter", n.apex),
        ]

    def check(self, rollout: ModelRollout, routes: Routes) -> None:
        """Also App Mesh's limits: one cookie, 10 headers, 50-char names, 255-char values."""
        super().check(rollout, routes)
        for i, cond in enumerate(routes.match):
            headers = _headers(cond)
            names = [h["name"] for h in headers]
            if len(cond.cookies or {}) > 1 or names.count("cookie") > 1:
                raise RouterError(
                    f"appmesh matches one cookie per condition (match[{i}]); "
                    "split it into several conditions"
                )
            if len(headers) > MAX_HEADERS:
                raise RouterError(
                    f"appmesh matches at most {MAX_HEADERS} headers per route (match[{i}] has "
                    f"{len(headers)}); split the condition"
                )
            for header in headers:
                value = next(iter(header["match"].values()))
                if len(header["name"]) > MAX_NAME or not 0 < len(value) <= MAX_VALUE:
                    raise RouterError(
                        f"appmesh: header {header['name']!r} of match[{i}] is beyond App Mesh's "
                        f"limits (name up to {MAX_NAME}, value 1 to {MAX_VALUE} characters)"
                    )

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """Nodes, canary router/service, apex service, then the apex router (the weights)."""
        n = self.names(rollout)
        service = rollout.spec.service
        target = service.target_port if service else None
        port = target if isinstance(target, int) else (service.port if service else 80)
        protocol = "grpc" if service and "grpc" in (service.port_name or "") else "http"

        def listeners() -> list[dict[str, Any]]:
            return [{"portMapping": {"port": port, "protocol": protocol}}]

        backends = [
            {"virtualService": {"virtualServiceRef": {"name": name}}}
            for name in (service.backends or [] if service else [])
        ]

        def node(name: str, workload: str) -> KubeObject:
            spec: dict[str, Any] = {
                "listeners": listeners(),
                "serviceDiscovery": {
                    "dns": {"hostname": f"{name}.{n.namespace}.svc.cluster.local"}
                },
                "podSelector": {"matchLabels": {"app": workload}},
            }
            if backends:
                spec["backends"] = copy.deepcopy(backends)
            return self.new_object(rollout, API, "VirtualNode", name, spec)

        def router(name: str, mesh_routes: list[dict[str, Any]]) -> KubeObject:
            spec = {"listeners": listeners(), "routes": mesh_routes}
            return self.new_object(rollout, API, "VirtualRouter", name, spec)

        def virtual_service(name: str) -> KubeObject:
            spec = {"provider": {"virtualRouter": {"virtualRouterRef": {"name": name}}}}
            return self.new_object(rollout, API, "VirtualService", name, spec)

        retry = self._retry_policy(rollout)

        def route(name: str, targets: list[tuple[str, int]], **match: Any) -> dict[str, Any]:
            http: dict[str, Any] = {
                "match": {"prefix": path_prefix(rollout), **match},
                "action": {
                    "weightedTargets": [
                        {"virtualNodeRef": {"name": t}, "weight": w} for t, w in targets
                    ]
                },
            }
            if retry:
                http["retryPolicy"] = copy.deepcopy(retry)
            return {"name": name, "httpRoute": http}

        apex_routes = [
            {
                **route(f"{n.apex}-ab-{i}", [(n.canary, 100)], headers=_headers(cond)),
                "priority": AB_PRIORITY + i,
            }
            for i, cond in enumerate(routes.match)
        ]
        split = [(n.canary, routes.challenger_weight), (n.primary, routes.champion_weight)]
        apex_routes.append({**route(n.apex, split), "priority": SPLIT_PRIORITY})
        apex_service = virtual_service(n.apex)
        if service and service.hosts:
            notes = {
                "gateway.appmesh.k8s.aws/expose": "true",
                "gateway.appmesh.k8s.aws/domain": ",".join(service.hosts) + ",",
            }
            if service.timeout:
                notes["gateway.appmesh.k8s.aws/timeout"] = service.timeout
            if service.retries is not None and service.retries.attempts:
                notes["gateway.appmesh.k8s.aws/retries"] = str(service.retries.attempts)
            apex_service["metadata"]["annotations"] = notes
        return [
            node(n.primary, n.primary_workload),
            node(n.canary, n.challenger_workload),
            router(n.canary, [route(n.canary, [(n.canary, 100)])]),
            virtual_service(n.canary),
            apex_service,
            router(n.apex, apex_routes),
        ]

    def _retry_policy(self, rollout: ModelRollout) -> dict[str, Any] | None:
        """``service.retries`` as an App Mesh retry policy (Flagger's defaults: 1, 250ms)."""
        service = rollout.spec.service
        retries = service.retries if service else None
        if retries is None:
            return None
        millis = 250
        if retries.per_try_timeout:
            millis = round(parse_duration(retries.per_try_timeout) * 1000)
        given = [e.strip() for e in (retries.retry_on or "").split(",") if e.strip()]
        events = list(dict.fromkeys(_ENVOY_RETRY_ON.get(e, e) for e in given))
        policy: dict[str, Any] = {
            "maxRetries": retries.attempts or 1,
            "perRetryTimeout": {"unit": "ms", "value": millis},
            "httpRetryEvents": [e for e in events if e in HTTP_RETRY_EVENTS] or ["gateway-error"],
        }
        if _TCP_RETRY_ON & set(given):
            policy["tcpRetryEvents"] = ["connection-error"]
        return policy

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Weights of the apex router's ``<apex>`` route; A/B conditions of the others."""
        n = self.names(rollout)
        router = stored.get(self.owned(rollout)[-1]) or {}
        mesh_routes = (router.get("spec") or {}).get("routes") or []
        split = next((r for r in mesh_routes if r.get("name") == n.apex), None)
        if split is None:
            raise RouterError(
                f"appmesh: VirtualRouter {n.namespace}/{n.apex} has no route {n.apex}"
            )
        weights = {n.primary: 0, n.canary: 0}
        action = (split.get("httpRoute") or {}).get("action") or {}
        for target in action.get("weightedTargets") or []:
            name = (target.get("virtualNodeRef") or {}).get("name")
            if name in weights:
                weights[name] = int(target.get("weight") or 0)
        ab = sorted(
            (r for r in mesh_routes if r is not split),
            key=lambda r: int(r.get("priority") or 0),
        )
        match = [
            _parse_headers(((r.get("httpRoute") or {}).get("match") or {}).get("headers") or [])
            for r in ab
        ]
        return weighted_routes(
            weights,
            n.canary,
            f"appmesh: VirtualRouter {n.apex} sends no traffic to either node",
            match=tuple(match),
        )


def _headers(cond: MatchCondition) -> list[dict[str, Any]]:
    return [{"name": k, "match": appmesh_match(v)} for k, v in header_matches(cond)]


def _parse_headers(headers: list[Mapping[str, Any]]) -> MatchCondition:
    parsed: list[tuple[str, StringMatch]] = []
    for header in headers:
        match = parse_match_kind(header.get("match") or {})
        if match is None or header.get("invert"):
            raise RouterError(f"appmesh: unsupported header match {dict(header)!r}")
        parsed.append((str(header.get("name", "")), match))
    if not parsed:
        raise RouterError("appmesh: an A/B route of the VirtualRouter has no header match")
    return condition_of(parsed)
