"""What each metrics backend type can answer: the one home of that fact, below the rollout
machine (which decides whether looks between intervals are worth making) and the engine (which
asks the backend it holds).

The built-in SLIs reach the sequential tests as per-request data: request and error counts,
latency samples or histogram buckets of both versions. Some backends answer custom queries
only (one scalar value per query: Graphite, CloudWatch, Datadog, New Relic, Kayenta's score,
the Keptn and External Metrics APIs); their ``collect()`` has no such data to give, so a look
between intervals on them could only spend a request and feed nothing
(``docs/providers.md``, the "built-in SLIs" column).
"""

from __future__ import annotations

from ._metric_spec import MetricProviderSpec

SCALAR_ONLY_PROVIDERS: frozenset[str] = frozenset(
    {"graphite", "cloudwatch", "datadog", "newrelic", "kayenta", "keptn", "externalmetrics"}
)
"""Provider types (also their providers' ``name``) that answer custom queries only: no counts
or latencies of the built-in SLIs, so nothing a sequential test or a look can use."""


def gives_per_request_data(provider: str | MetricProviderSpec | None) -> bool:
    """True when a backend of this type (or spec, or provider ``name``) can answer the
    built-in SLIs with per-request data, the only data a sequential look can feed on.

    ``None`` (the runtime's default backend, not known from the spec) is True: the engine
    asks the backend it actually holds."""
    if provider is None:
        return True
    kind = provider if isinstance(provider, str) else provider.type
    return kind not in SCALAR_ONLY_PROVIDERS


__all__ = ["SCALAR_ONLY_PROVIDERS", "gives_per_request_data"]
