"""Metric providers behind the ``MetricProvider`` port, and their registry.

``PROVIDERS`` (a ``Registry``) maps a ``provider.type`` to a factory; :func:`provider_for` builds
the provider a spec asks for (an unknown name is a ``SpecError`` listing the known ones, never a
silent fallback). ``embedded`` reads the local router's recorder; ``prometheus`` and the
PromQL-compatible ``victoriametrics``, ``thanos`` and ``mimir`` query an HTTP API.
:class:`MetricDispatch` is the engine's one metrics port when rollouts name their own backends
(one per rollout and per custom metric). ``OTLPReceiver`` with an ``OTLPStore`` (the
process-wide one is ``default_store()``) takes OTLP/HTTP metrics pushed by model servers, for
``type: opentelemetry``; they load lazily (``http.server``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_exports
from .._registry import Registry
from ..errors import SpecError, SpecIssue
from ..ports import MetricProvider
from ..spec import MetricProviderSpec
from ._context import ProviderContext, ProviderFactory
from ._credentials import SecretReader
from ._dispatch import MetricDispatch
from ._embedded import EmbeddedProvider, IntervalSource
from ._prometheus import PrometheusProvider, api_factory

if TYPE_CHECKING:
    from ._otlp_receiver import OTLPReceiver
    from ._otlp_store import OTLPStore, default_store

_LAZY: dict[str, str] = {
    "OTLPReceiver": "._otlp_receiver",
    "OTLPStore": "._otlp_store",
    "default_store": "._otlp_store",
}

LAZY_PROVIDERS: dict[str, str] = {
    "datadog": "_datadog",
    "newrelic": "_newrelic",
    "stackdriver": "_stackdriver",
    "cloudwatch": "_cloudwatch",
    "graphite": "_graphite",
    "influxdb": "_influxdb",
    "opentelemetry": "_opentelemetry",
    "kayenta": "_kayenta",
    "keptn": "_keptn",
    "externalmetrics": "_externalmetrics",
}
"""Provider type -> module of ``modelcanary.providers`` defining ``factory`` (imported lazily)."""


def _embedded(spec: MetricProviderSpec, ctx: ProviderContext) -> MetricProvider:
    if ctx.recorder is None:
        raise SpecError(
            SpecIssue(
                f"{ctx.path}.type",
                "the embedded provider reads the local router's recorder, which this "
                "runtime does not have",
                "use type: prometheus with an address in a cluster",
            )
        )
    return EmbeddedProvider(ctx.recorder)


PROVIDERS: Registry[ProviderFactory] = Registry(
    "metric provider",
    {
        "embedded": _embedded,
        "prometheus": api_factory("prometheus"),
        "victoriametrics": api_factory("victoriametrics"),
        "thanos": api_factory("thanos"),
        "mimir": api_factory("mimir"),
    },
    package=__name__,
    attribute="factory",
)
"""Provider type -> factory. victoriametrics, thanos, mimir are Prometheus-HTTP-API aliases;
the ``LAZY_PROVIDERS`` backends each live in one module with a ``factory(spec, ctx)`` function,
imported when a spec first asks for them (optional clients stay out of ``import modelcanary``)."""
for _type, _module in LAZY_PROVIDERS.items():
    PROVIDERS.add_lazy(_type, _module)


def provider_for(
    spec: MetricProviderSpec | None,
    *,
    default: MetricProvider | None = None,
    recorder: IntervalSource | None = None,
    env: Mapping[str, str] = os.environ,
    secret_reader: SecretReader | None = None,
    namespace: str = "",
    path: str = "provider",
    **options: Any,
) -> MetricProvider:
    """The provider ``spec`` asks for; ``default`` (the runtime's) when there is no spec.

    An embedded spec reuses ``default`` when it is embedded and no ``recorder`` is given.
    Raises :class:`SpecError` for an unknown type (listing the known ones), a missing
    address or unresolvable credentials.
    """
    if spec is None:
        if default is not None:
            return default
        if recorder is not None:
            return EmbeddedProvider(recorder)
        raise SpecError(
            SpecIssue(path, "no metrics provider configured", "set metricsProvider.type/address")
        )
    if spec.type == "embedded" and recorder is None and isinstance(default, EmbeddedProvider):
        return default
    factory = PROVIDERS.lookup(
        spec.type,
        path=f"{path}.type",
        message=f"no metric provider named {spec.type!r} in this runtime",
    )
    ctx = ProviderContext(recorder, env, secret_reader, namespace, path, options)
    return factory(spec, ctx)


__all__ = [
    "PROVIDERS",
    "EmbeddedProvider",
    "IntervalSource",
    "MetricDispatch",
    "OTLPReceiver",
    "OTLPStore",
    "PrometheusProvider",
    "ProviderContext",
    "ProviderFactory",
    "SecretReader",
    "default_store",
    "provider_for",
]


if not TYPE_CHECKING:  # type checkers use the imports above
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
