"""A small client of the Prometheus HTTP API (``/api/v1/query``, ``/api/v1/query_range``).

httpx (a core dependency) rather than ``prometheus-api-client``: that client is built on
``requests`` with retries that would stall a tick, folds every non-200 answer into one
exception (so a bad query and an overloaded server look the same) and has no type hints.
Errors are classified for the engine: connection refused, timeouts, HTTP 408/429/5xx are
:class:`TransientProviderError`; other 4xx (bad PromQL, bad credentials, wrong path) and
answers that are not the Prometheus API are :class:`PermanentProviderError`. Messages show
the address without credentials and never a header.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import PermanentProviderError, SpecError, TransientProviderError
from . import promql, vectors
from .credentials import authorization

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

_HINTS = {
    400: "check the PromQL (try it in the Prometheus UI)",
    401: "check provider.secretRef (credentials refused)",
    403: "check provider.secretRef (credentials lack access)",
    404: "check provider.address (a path prefix such as /prometheus?)",
    422: "the query cannot be executed as written; check the PromQL",
}


def safe_address(address: str) -> str:
    """The address without user:password, for messages and logs."""
    parts = urlsplit(address)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class PrometheusAPI:
    """Instant and range queries against one Prometheus-compatible endpoint."""

    def __init__(
        self,
        address: str,
        *,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        secret: str | None = None,
        timeout: float = 5.0,
        verify: bool = True,
        name: str = "prometheus",
    ) -> None:
        if urlsplit(address).scheme not in ("http", "https"):
            raise SpecError(
                f"metric provider address {safe_address(address)!r} is not an http(s) URL "
                "(fix: e.g. http://prometheus.monitoring:9090)"
            )
        self.address = address.rstrip("/")
        self.name = name
        self.timeout = timeout
        self._verify = verify
        self._headers: list[tuple[str, str]] = [
            (k, v)
            for k, vs in (headers or {}).items()
            for v in ([vs] if isinstance(vs, str) else vs)
        ]
        if secret:
            self._headers = [(k, v) for k, v in self._headers if k.lower() != "authorization"]
            self._headers.append(("Authorization", authorization(secret)))
        self._http: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"PrometheusAPI({safe_address(self.address)!r})"

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._http = httpx.Client(
                headers=self._headers, timeout=self.timeout, verify=self._verify
            )
        return self._http

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def get(self, path: str, params: Mapping[str, str]) -> Any:
        """The ``data`` of one API call; errors classified as transient or permanent."""
        import httpx

        where = safe_address(self.address)
        log.debug("%s %s %s", self.name, path, params.get("query", ""))
        try:
            response = self._client().get(self.address + path, params=dict(params))
        except httpx.UnsupportedProtocol as exc:
            raise PermanentProviderError(f"{self.name} at {where}: {exc}") from None
        except httpx.TimeoutException:
            raise TransientProviderError(
                f"{self.name} at {where} did not answer within {self.timeout:g}s"
            ) from None
        except httpx.TransportError as exc:
            raise TransientProviderError(
                f"{self.name} at {where} is unreachable ({type(exc).__name__}: {exc})"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        code = response.status_code
        detail = body.get("error", "") if isinstance(body, dict) else ""
        detail = str(detail) or response.text[:200].strip()
        if code == 429 or code == 408 or code >= 500:
            raise TransientProviderError(f"{self.name} at {where} answered HTTP {code}: {detail}")
        if code != 200:
            hint = _HINTS.get(code, "check the query and provider settings")
            raise PermanentProviderError(
                f"{self.name} at {where} refused the query (HTTP {code}: {detail}); fix: {hint}"
            )
        if not isinstance(body, dict) or body.get("status") != "success" or "data" not in body:
            raise PermanentProviderError(
                f"{where} answered {path} without a Prometheus API response; "
                "fix: point provider.address at the Prometheus HTTP API root"
            )
        for warning in body.get("warnings") or ():
            log.warning("%s: %s", self.name, warning)
        return body["data"]

    def instant(self, query: str, at: float) -> tuple[str, Any]:
        """Run an instant query at time ``at``: ``(resultType, result)``."""
        data = self.get("/api/v1/query", {"query": query, "time": promql.timestamp(at)})
        try:
            return str(data["resultType"]), data["result"]
        except (KeyError, TypeError):
            raise PermanentProviderError("Prometheus answer has no resultType/result") from None

    def vector(self, query: str, at: float) -> list[vectors.Row]:
        """An instant query that must return an instant vector."""
        kind, result = self.instant(query, at)
        if kind != "vector":
            raise PermanentProviderError(f"expected an instant vector from {query}, got {kind}")
        return vectors.vector_rows(result)

    def matrix(self, query: str, start: float, end: float, step: float) -> list[vectors.MatrixRow]:
        """A range query's series (points at ``start + k * step`` up to ``end``)."""
        params = {
            "query": query,
            "start": promql.timestamp(start),
            "end": promql.timestamp(end),
            "step": promql.duration(step),
        }
        data = self.get("/api/v1/query_range", params)
        return vectors.matrix_rows(data.get("result") if isinstance(data, dict) else None)
