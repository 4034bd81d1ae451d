"""A small client of the Prometheus HTTP API (``/api/v1/query``, ``/api/v1/query_range``).

httpx (a core dependency) rather than ``prometheus-api-client``: that client is built on
``requests`` with retries that would stall a tick, folds every non-200 answer into one
exception (so a bad query and an overloaded server look the same) and has no type hints.
Errors are classified for the engine by the shared :class:`.httpapi.Endpoint` (connection
refused, timeouts, HTTP 408/429/5xx are transient; other 4xx are permanent); answers that are
not the Prometheus API are :class:`PermanentProviderError` too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..errors import PermanentProviderError
from . import _promql as promql
from . import _vectors as vectors
from ._httpapi import Endpoint

log = logging.getLogger(__name__)

HINTS = {
    400: "check the PromQL (try it in the Prometheus UI)",
    404: "check provider.address (a path prefix such as /prometheus?)",
    422: "the query cannot be executed as written; check the PromQL",
}
"""Fix hints by HTTP status of the Prometheus HTTP API."""


class PrometheusAPI(Endpoint):
    """Instant and range queries against one Prometheus-compatible endpoint (built by
    :class:`.prometheus.PrometheusProvider` with :data:`HINTS`)."""

    def get(self, path: str, params: Mapping[str, str]) -> Any:
        """The ``data`` of one API call; errors classified as transient or permanent."""
        log.debug("%s %s %s", self.name, path, params.get("query", ""))
        body = self.json(
            "GET", path, params=params, fix="point provider.address at the Prometheus HTTP API root"
        )
        if not isinstance(body, dict) or body.get("status") != "success" or "data" not in body:
            raise PermanentProviderError(
                f"{self.where} answered {path} without a Prometheus API response; "
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


__all__ = ["HINTS", "PrometheusAPI"]
