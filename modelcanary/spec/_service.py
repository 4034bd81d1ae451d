"""How traffic reaches the two versions: the router provider and the service it exposes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from ._base import Duration, SpecModel
from ._traffic import providers_with
from ._wire import ListenAddress, check_header_value, check_token

RouterProvider = Literal[
    "local",
    "istio",
    "gatewayapi",
    "nginx",
    "linkerd",
    "smi",
    "kserve",
    "appmesh",
    "apisix",
    "kuma",
    "gloo",
    "contour",
    "skipper",
    "traefik",
]
ROUTER_PROVIDERS: tuple[str, ...] = RouterProvider.__args__  # type: ignore[attr-defined]

MIRROR_PROVIDERS = providers_with("mirror")
"""Providers that can mirror (shadow) traffic to the challenger (from ``traffic.CAPABILITIES``)."""
SESSION_AFFINITY_PROVIDERS = providers_with("session_affinity")
"""Providers that can pin a user to the version they first saw (cookie based)."""
BODY_MATCH_PROVIDERS = providers_with("match", "body")
"""Providers that can route on a JSON body field (payload-based routing)."""


class RouterSpec(SpecModel):
    """Which traffic router shifts and mirrors requests."""

    provider: RouterProvider = "local"
    """``local`` (embedded router on 127.0.0.1) or a mesh/ingress: istio, gatewayapi, nginx, linkerd, smi, kserve, appmesh, apisix, kuma, gloo, contour, skipper, traefik."""
    listen: ListenAddress | None = None
    """Local router only: ``host:port`` to listen on, port 1-65535 (default ``127.0.0.1`` and a free port)."""


class ObjectRef(SpecModel):
    """A reference to a Kubernetes object by name (and optionally kind/namespace)."""

    api_version: str | None = None
    """API version of the referenced object."""
    kind: str | None = None
    """Kind of the referenced object."""
    name: str = Field(min_length=1)
    """Name of the referenced object."""
    namespace: str | None = None
    """Namespace (default: the rollout's)."""


class GatewayRef(SpecModel):
    """A Gateway API parent reference (``spec.parentRefs`` of the generated HTTPRoute)."""

    name: str = Field(min_length=1)
    """Gateway name."""
    namespace: str | None = None
    """Gateway namespace (default: the rollout's)."""
    group: str | None = None
    """API group (default ``gateway.networking.k8s.io``)."""
    kind: str | None = None
    """Kind (default ``Gateway``)."""
    section_name: str | None = None
    """Listener name on the gateway."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Listener port on the gateway."""


class Retries(SpecModel):
    """Retry policy of the generated route."""

    attempts: int | None = Field(default=None, ge=0, le=100)
    """Number of retries for a request (at most 100)."""
    per_try_timeout: Duration | None = None
    """Timeout per attempt, e.g. ``2s``."""
    retry_on: str | None = None
    """Conditions that trigger a retry, e.g. ``gateway-error,connect-failure``."""


PortNumber = Annotated[int, Field(ge=1, le=65535)]
PortName = Annotated[str, Field(max_length=15, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
_HEADER_OPS = ("set", "add")


class ServiceSpec(SpecModel):
    """The service that fronts the two versions (Flagger's ``spec.service``)."""

    name: str | None = None
    """Service name (default: the rollout's name)."""
    port: int = Field(default=80, ge=1, le=65535)
    """Port the service exposes."""
    target_port: PortNumber | PortName | None = None
    """Container port (number 1-65535 or IANA name such as ``http``) behind the service."""
    port_name: str | None = None
    """Port name, e.g. ``http``."""
    port_discovery: bool | None = None
    """Expose every container port (Flagger's portDiscovery)."""
    hosts: list[str] | None = None
    """Host names the route answers for (Istio/Gateway API/ingress)."""
    gateways: list[str] | None = None
    """Istio gateways (``namespace/name`` or ``mesh``)."""
    gateway_refs: list[GatewayRef] | None = None
    """Gateway API parent gateways (required with provider gatewayapi)."""
    ingress_ref: ObjectRef | None = None
    """Ingress to copy for the canary ingress (required with provider nginx)."""
    headers: dict[str, Any] | None = None
    """Request/response header manipulation of the route (Istio/Gateway API format)."""
    timeout: Duration | None = None
    """Request timeout of the route, e.g. ``30s``."""
    retries: Retries | None = None
    """Retry policy of the route."""
    match: list[dict[str, Any]] | None = None
    """Apex route match conditions (Istio HTTPMatchRequest), kept as given."""
    rewrite: dict[str, Any] | None = None
    """Apex route rewrite (Istio HTTPRewrite), kept as given."""
    traffic_policy: dict[str, Any] | None = None
    """Istio DestinationRule traffic policy, kept as given."""
    cors_policy: dict[str, Any] | None = None
    """Istio CORS policy, kept as given."""
    apex: dict[str, Any] | None = None
    """Labels/annotations for the apex service."""
    primary: dict[str, Any] | None = None
    """Labels/annotations for the champion (``-primary``) service."""
    canary: dict[str, Any] | None = None
    """Labels/annotations for the challenger (``-canary``) service."""
    app_protocol: str | None = None
    """Application protocol of the port (Service ``appProtocol``), e.g. ``http``."""
    headless: bool | None = None
    """Also create headless services for the two versions."""
    backend_timeout: Duration | None = None
    """Timeout of the route's backend requests (Gateway API)."""
    traffic_distribution: Literal["PreferClose", "PreferSameZone", "PreferSameNode"] | None = None
    """Service traffic distribution preference."""
    mesh_name: str | None = None
    """App Mesh mesh name."""
    backends: list[str] | None = None
    """App Mesh virtual service backends."""
    delegation: bool | None = None
    """Generate an Istio delegate VirtualService."""
    unmanaged_metadata: dict[str, Any] | None = None
    """Label/annotation keys on generated objects that the operator must not overwrite."""

    @field_validator("headers")
    @classmethod
    def _header_operations(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Header names and values a mesh will send (Istio ``{request|response: {set, add,
        remove}}``): names must be tokens, values printable ASCII without line breaks."""
        for direction in ("request", "response"):
            ops = (value or {}).get(direction)
            ops = ops if isinstance(ops, dict) else {}
            for op in ("set", "add"):
                pairs = ops.get(op)
                for name, text in pairs.items() if isinstance(pairs, dict) else ():
                    _header(f"{direction}.{op}", name, text)
            removed = ops.get("remove")
            for name in removed if isinstance(removed, list) else ():
                _header(f"{direction}.remove", name, "")
        return value


def _header(where: str, name: Any, text: Any) -> None:
    try:
        check_token(str(name))
        if not isinstance(text, str):
            raise ValueError("the value is not a string; quote it")
        check_header_value(text)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
