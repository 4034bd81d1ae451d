"""A JSON-over-HTTP client for the vendor metric providers (Datadog, New Relic, Google Cloud
Monitoring, Kayenta), classifying failures for the engine as :mod:`promapi` does.

Connection refused, DNS failures, timeouts and HTTP 408/429/5xx are
:class:`TransientProviderError` (retry next tick); any other non-2xx answer (a rejected query,
refused credentials, a wrong path) is :class:`PermanentProviderError` with a fix hint. Messages
show the address without ``user:password@`` and never a header, so credentials sent as headers
(API keys, bearer tokens) cannot leak into errors, logs or ``repr``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..analysis.measurements import Window
from ..errors import PermanentProviderError, SpecError, SpecIssue, TransientProviderError
from ..secrets import read_key, require_reader
from ..spec import MetricSpec, ModelRollout, SecretRef
from ..spec.base import parse_duration
from . import promql
from .promapi import safe_address

if TYPE_CHECKING:
    import httpx

    from ..secrets import SecretReader

log = logging.getLogger(__name__)

DEFAULT_HINTS: dict[int, str] = {
    400: "check the query",
    401: "check provider.secretRef (credentials refused)",
    403: "check provider.secretRef (credentials lack access)",
    404: "check provider.address",
}
"""Fix hints by HTTP status for permanent errors (each provider adds its own)."""


def error_text(body: Any, fallback: str) -> str:
    """The error message of a JSON error body (``errors: [...]``, ``error: {message}``,
    ``error: "..."``, ``message``), else ``fallback`` (the raw text, shortened)."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = [e.get("message", e) if isinstance(e, dict) else e for e in errors]
            return "; ".join(str(p) for p in parts)[:300]
        error, message = body.get("error"), body.get("message")
        if isinstance(error, dict):
            return str(error.get("message") or error)[:300]
        if error and message:
            return f"{error}: {message}"[:300]
        if error or message:
            return str(error or message)[:300]
    return fallback[:200].strip()


def render_query(metric: MetricSpec, rollout: ModelRollout, window: Window, backend: str) -> str:
    """The metric's query with the Prometheus provider's template variables filled in
    (``{{ namespace }}``, ``{{ target }}``, ``{{ name }}``, ``{{ interval }}``,
    ``{{ variables.X }}``; see :func:`promql.render`)."""
    if not metric.query:
        raise PermanentProviderError(
            f"metric {metric.name!r} has no query for {backend} "
            "(fix: set query, or resolve its templateRef first)"
        )
    seconds = parse_duration(metric.interval) if metric.interval else window.seconds
    values = {
        "namespace": rollout.metadata.namespace or "default",
        "target": rollout.name,
        "name": rollout.name,
        "interval": promql.duration(seconds),
    }
    return promql.render(metric.query, values, metric.template_variables or {})


def builtins_unsupported(backend: str, example: str) -> PermanentProviderError:
    """The error ``collect()`` raises on a backend without the router's metrics."""
    return PermanentProviderError(
        f"built-in SLIs are not supported on {backend}: it does not store the router's "
        f"modelcanary_router_* metrics under documented names; give each metric a custom "
        f"query (e.g. {example}) or use a prometheus provider for built-ins"
    )


def secret_keys(
    secret_ref: SecretRef,
    keys: Sequence[str],
    *,
    reader: SecretReader | None,
    namespace: str,
    path: str,
) -> dict[str, str | None]:
    """Several keys of the Kubernetes Secret ``secretRef.name`` (None for a missing key)."""
    found = require_reader(reader, secret_ref, namespace, path)
    return {
        key: read_key(found, secret_ref, key, namespace, TransientProviderError) for key in keys
    }


def header_items(headers: Mapping[str, str | Sequence[str]] | None) -> list[tuple[str, str]]:
    """``MetricProviderSpec.headers`` (values may be lists) as (name, value) pairs."""
    return [
        (k, v) for k, vs in (headers or {}).items() for v in ([vs] if isinstance(vs, str) else vs)
    ]


def require_http(address: str, path: str, example: str) -> str:
    """``address`` without a trailing slash; SpecError when it is not an http(s) URL."""
    if urlsplit(address).scheme not in ("http", "https"):
        raise SpecError(
            SpecIssue(
                path, f"address {safe_address(address)!r} is not an http(s) URL", f"e.g. {example}"
            )
        )
    return address.rstrip("/")


class JSONClient:
    """JSON requests to one vendor API; secret headers are sent, never shown."""

    def __init__(
        self,
        address: str,
        *,
        name: str,
        headers: Sequence[tuple[str, str]] = (),
        timeout: float = 5.0,
        verify: bool = True,
        hints: Mapping[int, str] | None = None,
    ) -> None:
        self.address = address.rstrip("/")
        self.name = name
        self.timeout = timeout
        self.hints = {**DEFAULT_HINTS, **(hints or {})}
        self._headers = list(headers)
        self._verify = verify
        self._http: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"JSONClient({safe_address(self.address)!r}, name={self.name!r})"

    @property
    def where(self) -> str:
        """The address for messages (no credentials)."""
        return safe_address(self.address)

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._http = httpx.Client(
                headers=self._headers, timeout=self.timeout, verify=self._verify
            )
        return self._http

    def set_header(self, name: str, value: str) -> None:
        """Replace a header (e.g. a refreshed bearer token) for the next requests."""
        self._headers = [(k, v) for k, v in self._headers if k.lower() != name.lower()]
        self._headers.append((name, value))
        if self._http is not None:
            self._http.headers[name] = value

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        url: str | None = None,
        detail: Callable[[Any, str], str] = error_text,
    ) -> Any:
        """The decoded JSON answer of one call (``None`` for an empty body).

        ``url`` replaces ``address + path`` (e.g. a metadata server). Raises
        TransientProviderError or PermanentProviderError as the module docstring says.
        """
        import httpx

        target = url or self.address + path
        where = safe_address(url) if url else self.where
        log.debug("%s %s %s", self.name, method, path)
        try:
            response = self._client().request(
                method, target, params=dict(params) if params else None, json=body
            )
        except httpx.UnsupportedProtocol as exc:
            raise PermanentProviderError(f"{self.name} at {where}: {exc}") from None
        except httpx.TimeoutException:
            raise TransientProviderError(
                f"{self.name} at {where} did not answer within {self.timeout:g}s"
            ) from None
        except httpx.TransportError as exc:
            raise TransientProviderError(
                f"{self.name} at {where} is unreachable ({type(exc).__name__})"
            ) from None
        text = response.text
        try:
            decoded: Any = response.json() if text.strip() else None
        except (ValueError, json.JSONDecodeError):
            decoded = None
        code = response.status_code
        if code == 429 or code == 408 or code >= 500:
            raise TransientProviderError(
                f"{self.name} at {where} answered HTTP {code}: {detail(decoded, text)}"
            )
        if not 200 <= code < 300:
            hint = self.hints.get(code, "check the query and provider settings")
            raise PermanentProviderError(
                f"{self.name} at {where} refused {method} {path} (HTTP {code}: "
                f"{detail(decoded, text)}); fix: {hint}"
            )
        if text.strip() and decoded is None:
            raise PermanentProviderError(
                f"{self.name} at {where} answered {path} with something that is not JSON; "
                "fix: check provider.address"
            )
        return decoded


__all__ = [
    "DEFAULT_HINTS",
    "JSONClient",
    "builtins_unsupported",
    "error_text",
    "header_items",
    "render_query",
    "require_http",
    "secret_keys",
]
