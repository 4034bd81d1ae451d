"""The operator's MetricProvider: one provider per rollout, chosen by ``spec.metricsProvider``.

The engine holds a single ``metrics`` port; in a cluster every ModelRollout names its own
backend (Prometheus of its team, Datadog, ...). :class:`RolloutMetrics` dispatches each call to
the provider the rollout (or, for a custom query, the metric) asks for, built once per
namespace and spec through :func:`modelcanary.providers.provider_for`; credentials in
``secretRef.name`` are read from Kubernetes Secrets of the rollout's namespace through the
operator's :class:`~modelcanary.secrets.SecretReader`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..analysis.measurements import IntervalData, NoData, Scalar, Window
from ..ports import MetricProvider
from ..providers import provider_for
from ..secrets import SecretReader
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from .templates import Fetch, resolve_template

Build = Callable[..., MetricProvider]


class RolloutMetrics:
    """MetricProvider dispatching on the rollout's ``spec.metricsProvider`` (and a custom
    metric's own ``provider``); ``default`` serves rollouts that name none (the operator's
    ``--metrics-server``)."""

    name = "per-rollout"

    def __init__(
        self,
        *,
        default: MetricProviderSpec | None = None,
        secret_reader: SecretReader | None = None,
        env: Mapping[str, str] | None = None,
        build: Build = provider_for,
        templates: Fetch | None = None,
        **options: Any,
    ) -> None:
        self.default = default
        self.templates = templates
        """Reads Flagger MetricTemplates for ``templateRef`` metrics (None: refused)."""
        self.secret_reader = secret_reader
        self._env = env
        self._build = build
        self._options = options
        self._cache: dict[tuple[str, str], MetricProvider] = {}
        self._lock = threading.Lock()

    def for_rollout(self, rollout: ModelRollout) -> MetricProvider:
        """The provider of ``rollout``'s built-in SLIs (SpecError when none is configured)."""
        spec = rollout.spec.metrics_provider or self.default
        return self._get(spec, rollout, "spec.metricsProvider")

    def for_metric(self, metric: MetricSpec, rollout: ModelRollout) -> MetricProvider:
        """The provider of one custom query: its own ``provider`` (or its MetricTemplate's),
        else the rollout's."""
        if metric.template_ref is not None:
            metric = resolve_template(metric, rollout, self.templates or (lambda _ns, _n: None))
        if metric.provider is None:
            return self.for_rollout(rollout)
        return self._get(metric.provider, rollout, f"metric {metric.name}.provider")

    def _get(
        self, spec: MetricProviderSpec | None, rollout: ModelRollout, path: str
    ) -> MetricProvider:
        namespace = rollout.metadata.namespace or "default"
        key = (namespace, spec.model_dump_json() if spec is not None else "")
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        kwargs: dict[str, Any] = dict(self._options)
        if self._env is not None:
            kwargs["env"] = self._env
        provider = self._build(
            spec,
            secret_reader=self.secret_reader,
            namespace=namespace,
            path=path,
            **kwargs,
        )
        with self._lock:
            self._cache.setdefault(key, provider)
            return self._cache[key]

    def forget(self, rollout: ModelRollout) -> None:
        """Drop the providers cached for ``rollout``'s namespace (e.g. a Secret was rotated)."""
        namespace = rollout.metadata.namespace or "default"
        with self._lock:
            for key in [k for k in self._cache if k[0] == namespace]:
                del self._cache[key]

    # -- MetricProvider -------------------------------------------------------------------
    def is_online(self) -> bool:
        """Always True: the engine checks each rollout's backends (``for_rollout`` and
        ``for_metric``) while the rollout initialises."""
        return True

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """Built-in SLIs from the rollout's provider."""
        data: IntervalData = self.for_rollout(rollout).collect(rollout, window)
        return data

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """A custom query on the metric's provider (or the rollout's); a ``templateRef`` is
        resolved from the cluster first (SpecError when the template is missing)."""
        if metric.template_ref is not None:
            metric = resolve_template(metric, rollout, self.templates or (lambda _ns, _n: None))
        value: Scalar | NoData = self.for_metric(metric, rollout).query(metric, rollout, window)
        return value
