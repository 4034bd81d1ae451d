"""What the vendor metric providers (Datadog, New Relic) share beyond HTTP: the error for
built-in SLIs on a backend that does not store the router's metrics.

Their HTTP (error classification, headers, address check, query templates) is
:mod:`.httpapi`, shared with the Prometheus, InfluxDB and Graphite providers; their
multi-part credentials are read by :mod:`.credentials`.
"""

from __future__ import annotations

from ..errors import PermanentProviderError


def builtins_unsupported(backend: str, example: str) -> PermanentProviderError:
    """The error ``collect()`` raises on a backend without the router's metrics."""
    return PermanentProviderError(
        f"built-in SLIs are not supported on {backend}: it does not store the router's "
        f"modelcanary_router_* metrics under documented names; give each metric a custom "
        f"query (e.g. {example}) or use a prometheus provider for built-ins"
    )


__all__ = ["builtins_unsupported"]
