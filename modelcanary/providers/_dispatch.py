"""The engine's one metrics port when rollouts name their own backends: :class:`MetricDispatch`.

A rollout's built-in SLIs come from ``spec.metricsProvider`` (else the runtime's default: the
local router's recorder, or the operator's ``--metrics-server``); a custom metric may name its
own ``provider``. :class:`MetricDispatch` is a ``MetricProvider`` that sends each call to that
backend, built once per namespace and spec through :func:`modelcanary.providers.provider_for`,
and lists them in :meth:`~MetricDispatch.backends` for the engine's online check. The local
runtime and the operator (``controller.metrics.RolloutMetrics``) both use it, so the engine
never asks what kind of provider it holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..analysis._measurements import IntervalData, NoData, Scalar, Window
from ..ports import MetricProvider
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout

Build = Callable[..., MetricProvider]
"""``provider_for(spec, *, default, namespace, path, **options)`` or a stand-in."""
ResolveMetric = Callable[[MetricSpec, ModelRollout], MetricSpec]
"""Turns a metric into the one to query (the operator resolves Flagger ``templateRef``\\ s)."""


class MetricDispatch:
    """MetricProvider dispatching on the rollout's ``spec.metricsProvider`` and a custom
    metric's own ``provider``.

    ``default``: the provider of rollouts that name none (and of ``type: embedded``, when it is
    the embedded one); ``default_spec``: built for rollouts that name none, in their namespace.
    With neither, such a rollout is a ``SpecError`` at ``spec.metricsProvider``. ``options``
    go to every build (``secret_reader``, ``env``, ``timeout``...).
    """

    name = "per-rollout"
    last_error = ""

    def __init__(
        self,
        *,
        default: MetricProvider | None = None,
        default_spec: MetricProviderSpec | None = None,
        resolve: ResolveMetric | None = None,
        build: Build | None = None,
        **options: Any,
    ) -> None:
        self.default = default
        self.default_spec = default_spec
        self._resolve = resolve
        self._build = build
        self._options = options
        self._cache: dict[tuple[str, str], MetricProvider] = {}
        self._lock = threading.Lock()

    # -- which backend --------------------------------------------------------------------
    def for_rollout(self, rollout: ModelRollout) -> MetricProvider:
        """The backend of ``rollout``'s built-in SLIs (SpecError when none is configured)."""
        spec = rollout.spec.metrics_provider or self.default_spec
        return self._get(spec, rollout, "spec.metricsProvider")

    def for_metric(self, metric: MetricSpec, rollout: ModelRollout) -> MetricProvider:
        """The backend of one custom query: its own ``provider`` (or its template's), else the
        rollout's."""
        return self._backend(self.resolve(metric, rollout), rollout)

    def resolve(self, metric: MetricSpec, rollout: ModelRollout) -> MetricSpec:
        """``metric`` as it is queried (a ``templateRef`` read from the cluster, if any)."""
        return metric if self._resolve is None else self._resolve(metric, rollout)

    def _backend(self, metric: MetricSpec, rollout: ModelRollout) -> MetricProvider:
        if metric.provider is None:
            return self.for_rollout(rollout)
        return self._get(metric.provider, rollout, f"metric {metric.name}.provider")

    def _get(
        self, spec: MetricProviderSpec | None, rollout: ModelRollout, path: str
    ) -> MetricProvider:
        if spec is None and self.default is not None:
            return self.default
        namespace = rollout.metadata.namespace or "default"
        key = (namespace, spec.model_dump_json() if spec is not None else "")
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        provider = self._builder()(
            spec, default=self.default, namespace=namespace, path=path, **self._options
        )
        with self._lock:
            self._cache.setdefault(key, provider)
            return self._cache[key]

    def _builder(self) -> Build:
        if self._build is not None:
            return self._build
        from . import provider_for  # (lazily: the registry imports this package's modules)

        return provider_for

    def forget(self, rollout: ModelRollout) -> None:
        """Drop the backends cached for ``rollout``'s namespace (e.g. a Secret was rotated)."""
        namespace = rollout.metadata.namespace or "default"
        with self._lock:
            for key in [k for k in self._cache if k[0] == namespace]:
                del self._cache[key]

    # -- MetricProvider -------------------------------------------------------------------
    def is_online(self) -> bool:
        """Always True: the engine checks each rollout's :meth:`backends` instead."""
        return True

    def backends(self, rollout: ModelRollout) -> Sequence[MetricProvider]:
        """The rollout's backend, then each custom metric's, each once (building them: a
        provider spec that cannot be built raises its SpecError here, before any traffic)."""
        chosen = [self.for_rollout(rollout)]
        chosen += [
            self.for_metric(m, rollout) for m in rollout.spec.analysis.metrics if not m.is_builtin
        ]
        unique: dict[int, MetricProvider] = {}
        for provider in chosen:
            for backend in provider.backends(rollout):
                unique.setdefault(id(backend), backend)
        return list(unique.values())

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """Built-in SLIs from the rollout's backend."""
        return self.for_rollout(rollout).collect(rollout, window)

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """A custom query on the metric's backend (or the rollout's); a ``templateRef`` is
        resolved first (SpecError when it cannot be)."""
        metric = self.resolve(metric, rollout)
        return self._backend(metric, rollout).query(metric, rollout, window)


__all__ = ["Build", "MetricDispatch", "ResolveMetric"]
