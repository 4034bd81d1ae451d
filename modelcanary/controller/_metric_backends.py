"""The operator's MetricProvider: one provider per rollout, chosen by ``spec.metricsProvider``.

The engine holds a single ``metrics`` port; in a cluster every ModelRollout names its own
backend (Prometheus of its team, Datadog, ...). :class:`RolloutMetrics` is the shared
:class:`~modelcanary.providers._dispatch.MetricDispatch` set up for a cluster: each call goes to
the provider the rollout (or, for a custom query, the metric) asks for, built once per
namespace and spec; credentials in ``secretRef.name`` are read from Kubernetes Secrets of the
rollout's namespace through the operator's :class:`~modelcanary._secretref.SecretReader`, and a
Flagger ``templateRef`` is read from the cluster at every query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._secretref import SecretReader
from ..providers._dispatch import Build, MetricDispatch
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from ._templates import Fetch, resolve_template


class RolloutMetrics(MetricDispatch):
    """MetricDispatch of the operator; ``default`` serves rollouts that name no backend (the
    operator's ``--metrics-server``), ``templates`` reads Flagger MetricTemplates for
    ``templateRef`` metrics (None: such a metric is refused)."""

    def __init__(
        self,
        *,
        default: MetricProviderSpec | None = None,
        secret_reader: SecretReader | None = None,
        env: Mapping[str, str] | None = None,
        build: Build | None = None,
        templates: Fetch | None = None,
        **options: Any,
    ) -> None:
        if env is not None:
            options["env"] = env
        super().__init__(
            default_spec=default,
            resolve=self._template,
            build=build,
            secret_reader=secret_reader,
            **options,
        )
        self.templates = templates
        self.secret_reader = secret_reader

    def _template(self, metric: MetricSpec, rollout: ModelRollout) -> MetricSpec:
        return resolve_template(metric, rollout, self.templates or (lambda _ns, _n: None))
