"""How traffic reaches the two versions: the router provider and the service it exposes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic.alias_generators import to_camel

from ._base import Duration, SpecModel, parse_duration
from ._inference_routing import InferenceRouting
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
    "kubernetes",
    "knative",
    "inference-pool",
    "inference-model-rewrite",
    "kserve-llm",
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
    """``local`` (embedded router on 127.0.0.1) or a mesh/ingress: istio, gatewayapi, nginx, linkerd, smi, kserve, appmesh, apisix, kuma, gloo, contour, skipper, traefik, knative; kubernetes (blue/green of plain Services); for LLMs inference-pool, inference-model-rewrite, kserve-llm."""
    listen: ListenAddress | None = None
    """Local router only: ``host:port`` to listen on, port 1-65535 (default ``127.0.0.1`` and a free port)."""
    inference: InferenceRouting | None = None
    """inference-pool, inference-model-rewrite and kserve-llm: the LLM objects to weight (names default from the rollout's)."""


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


UINT32 = 4294967295
"""Largest count Istio's outlier detection takes (``uint32`` in its API)."""
EjectionCount = Annotated[int, Field(ge=0, le=UINT32)]


class OutlierDetection(SpecModel):
    """Istio's ``trafficPolicy.outlierDetection`` (Flagger copies it to both DestinationRules).

    Field names are Istio's. Envoy ejects a host of the champion's or the challenger's pool
    after these errors; checked here so a typo or an out-of-range value is refused when the
    rollout is read, not by the API server when the DestinationRule is applied.
    """

    consecutive_errors: int | None = Field(default=None, ge=0, le=2**31 - 1)
    """Deprecated by Istio (use consecutive5xxErrors): 5xx errors before a host is ejected."""
    consecutive_5xx_errors: EjectionCount | None = Field(default=None, alias="consecutive5xxErrors")
    """5xx responses (and connection errors) in a row before a host is ejected (Istio default 5; 0 turns this check off)."""
    consecutive_gateway_errors: EjectionCount | None = None
    """Gateway errors (502, 503, 504) in a row before a host is ejected (default off)."""
    consecutive_local_origin_failures: EjectionCount | None = None
    """Locally originated failures (connect timeouts, resets) in a row before a host is ejected; takes effect only with splitExternalLocalOriginErrors."""
    split_external_local_origin_errors: bool | None = None
    """Count locally originated failures apart from upstream 5xx responses."""
    interval: Duration | None = None
    """Time between ejection sweeps, at least 1ms (Istio default 10s)."""
    base_ejection_time: Duration | None = None
    """Minimum ejection time, at least 1ms; grows with each ejection of a host (Istio default 30s)."""
    max_ejection_percent: int | None = Field(default=None, ge=0, le=100)
    """Most hosts of a pool ejected at once, 0-100 percent (Istio default 10)."""
    min_health_percent: int | None = Field(default=None, ge=0, le=100)
    """Outlier detection applies while at least this percent of a pool's hosts are healthy (0-100)."""
    outlier_detection_http_error_codes: list[Annotated[int, Field(ge=100, le=599)]] | None = None
    """HTTP status codes counted as errors (100-599; Istio default 5xx)."""

    @field_validator("interval", "base_ejection_time")
    @classmethod
    def _at_least_a_millisecond(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) < 0.001:
            raise ValueError(f"{value!r} is shorter than 1ms, Istio's minimum; give e.g. '10s'")
        return value


def _outlier_detection(where: str, value: Any) -> None:
    """Check one ``outlierDetection`` block; ValueError naming the field and the fix."""
    from pydantic import ValidationError

    if not isinstance(value, dict):
        raise ValueError(
            f"{where} is not a mapping; give fields such as consecutive5xxErrors: 5, interval: "
            "10s, baseEjectionTime: 30s, maxEjectionPercent: 50"
        )
    try:
        OutlierDetection.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        known = ", ".join(f.alias or to_camel(n) for n, f in OutlierDetection.model_fields.items())
        hint = f" (known fields: {known})" if first["type"] == "extra_forbidden" else ""
        text = str(first["msg"]).removeprefix("Value error, ")
        raise ValueError(f"{where}.{field}: {text}{hint}") from None


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
    """Istio DestinationRule traffic policy, kept as given and copied to both DestinationRules; its ``outlierDetection`` (and each ``portLevelSettings[].outlierDetection``) is checked against Istio's fields and ranges."""
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

    @field_validator("traffic_policy")
    @classmethod
    def _outlier_detection(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """``outlierDetection`` as Istio takes it (kept as given once checked)."""
        if value and "outlierDetection" in value:
            _outlier_detection("outlierDetection", value["outlierDetection"])
        ports = (value or {}).get("portLevelSettings")
        for i, port in enumerate(ports if isinstance(ports, list) else ()):
            if isinstance(port, dict) and "outlierDetection" in port:
                _outlier_detection(
                    f"portLevelSettings[{i}].outlierDetection", port["outlierDetection"]
                )
        return value


def _header(where: str, name: Any, text: Any) -> None:
    try:
        check_token(str(name))
        if not isinstance(text, str):
            raise ValueError("the value is not a string; quote it")
        check_header_value(text)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
