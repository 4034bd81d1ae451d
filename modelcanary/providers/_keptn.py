"""Keptn metrics provider (Flagger's ``keptn``): a KeptnMetric's value, or a Keptn Analysis's
verdict, read from the custom resources of Keptn's metrics operator (``metrics.keptn.sh``).

Queries as in Flagger (case-insensitive, templated with the rollout's variables):

- ``keptnmetric/NAMESPACE/NAME``: the KeptnMetric's ``status.value`` (Keptn fetches it from
  Prometheus, Thanos, Cortex, Dynatrace or Datadog on its own schedule);
- ``analysis/NAMESPACE/DEFINITION[/TIMEFRAME[/K=V;K=V]]``: creates an ``Analysis`` of the
  AnalysisDefinition over the recent TIMEFRAME (default ``1m``) with those arguments, waits for
  Keptn to complete it (``status.state: Completed``), returns 1 when it passed and 0 when it
  did not, and deletes it. An analysis not completed within ``wait`` seconds (default 10,
  Flagger's) is NoData, and deleted all the same.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from ..analysis._measurements import NoData, Scalar, Window
from ..analysis._measurements import scalar as to_scalar
from ..errors import PermanentProviderError
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from ._cluster import ClusterObjects, ClusterProvider, cluster_objects
from ._context import ProviderContext
from ._httpapi import render_query

API_VERSION = "metrics.keptn.sh/v1beta1"
FORMAT = "keptnmetric/NAMESPACE/NAME or analysis/NAMESPACE/DEFINITION[/TIMEFRAME[/K=V;K=V]]"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_TIMEFRAME = re.compile(r"^[0-9]+(ms|s|m|h)$")


@dataclass(frozen=True)
class KeptnQuery:
    """One parsed query."""

    kind: str
    """KeptnMetric or Analysis."""
    namespace: str
    name: str
    timeframe: str = "1m"
    args: dict[str, str] = field(default_factory=dict)


def parse_query(query: str) -> KeptnQuery:
    """The query's parts; PermanentProviderError naming the expected format."""
    parts = query.strip().lower().split("/")
    bad = f"keptn query {query.strip()!r} is not {FORMAT}"
    if len(parts) < 3 or parts[0] not in ("keptnmetric", "keptnmetrics", "analysis", "analyses"):
        raise PermanentProviderError(bad)
    namespace, name = parts[1], parts[2]
    for what, value in (("namespace", namespace), ("name", name)):
        if not _NAME.fullmatch(value):
            raise PermanentProviderError(f"{bad}: {what} {value!r} is not a Kubernetes name")
    if parts[0].startswith("keptnmetric"):
        if len(parts) > 3:
            raise PermanentProviderError(f"{bad}: a keptnmetric query has three parts")
        return KeptnQuery("KeptnMetric", namespace, name)
    timeframe = parts[3] if len(parts) > 3 and parts[3] else "1m"
    if not _TIMEFRAME.fullmatch(timeframe):
        raise PermanentProviderError(f"{bad}: timeframe {timeframe!r} is not like 5m or 1h")
    args: dict[str, str] = {}
    if len(parts) > 4:
        for pair in "/".join(parts[4:]).split(";"):
            key, sep, value = pair.partition("=")
            if sep and key:
                args[key.strip()] = value.strip()
    return KeptnQuery("Analysis", namespace, name, timeframe, args)


class KeptnProvider(ClusterProvider):
    """KeptnMetric values and Keptn Analysis verdicts."""

    name = "keptn"
    no_builtin = (
        "built-in SLIs are not supported by the keptn provider: Keptn serves named "
        f"KeptnMetrics and Analyses; fix: give each metric a custom query ({FORMAT})"
    )

    def __init__(
        self,
        cluster: ClusterObjects,
        *,
        wait: float = 10.0,
        poll_interval: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(cluster)
        self.wait = wait
        self.poll_interval = poll_interval
        self._sleep = sleep

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        parsed = parse_query(render_query(metric, rollout, window, self.name))
        if parsed.kind == "KeptnMetric":
            return self._metric(parsed)
        return self._analysis(parsed)

    def _metric(self, q: KeptnQuery) -> Scalar | NoData:
        obj = self.cluster.get_object(API_VERSION, "KeptnMetric", q.namespace, q.name)
        if obj is None:
            raise PermanentProviderError(
                f"KeptnMetric {q.namespace}/{q.name} does not exist (fix: create it, or check "
                "the query's namespace and name)"
            )
        raw = (obj.get("status") or {}).get("value")
        if raw in (None, ""):
            return NoData(f"KeptnMetric {q.namespace}/{q.name} has no value yet")
        try:
            return to_scalar(float(raw))
        except (TypeError, ValueError):
            raise PermanentProviderError(
                f"KeptnMetric {q.namespace}/{q.name} value {raw!r} is not a number"
            ) from None

    def _analysis(self, q: KeptnQuery) -> Scalar | NoData:
        name = f"{q.name}-{uuid.uuid4().hex[:6]}"
        body = {
            "apiVersion": API_VERSION,
            "kind": "Analysis",
            "metadata": {"name": name, "namespace": q.namespace},
            "spec": {
                "analysisDefinition": {"name": q.name},
                "timeframe": {"recent": q.timeframe},
                "args": q.args,
            },
        }
        self.cluster.create_object(body)
        try:
            deadline = time.monotonic() + self.wait
            while True:
                obj = self.cluster.get_object(API_VERSION, "Analysis", q.namespace, name)
                status = (obj or {}).get("status") or {}
                if status.get("state") == "Completed" and isinstance(status.get("pass"), bool):
                    return Scalar(1.0 if status["pass"] else 0.0)
                if time.monotonic() >= deadline:
                    return NoData(
                        f"Keptn Analysis {q.namespace}/{name} was not completed within "
                        f"{self.wait:g} s"
                    )
                self._sleep(self.poll_interval)
        finally:
            self.cluster.delete_object(API_VERSION, "Analysis", q.namespace, name)


def factory(spec: MetricProviderSpec, ctx: ProviderContext) -> KeptnProvider:
    """Flagger's ``keptn`` (``address`` is not used: Keptn's resources live in the cluster)."""
    return KeptnProvider(cluster_objects(ctx, "keptn"))
