"""Kubernetes External Metrics provider (Flagger's ``externalmetrics``): one value from the
aggregated ``external.metrics.k8s.io/v1beta1`` API, the API an HPA reads (KEDA, the
Prometheus adapter, Datadog's cluster agent, GKE's metrics adapter serve it).

A query is ``[NAMESPACE/]METRIC[?labelSelector=SELECTOR]`` as in Flagger (namespace default
``default``; the selector URL-encoded, e.g. ``app%3Dpodinfo``), templated with the rollout's
variables (``{{ namespace }}/queue_depth?labelSelector=app%3D{{ target }}``). The answer is an
``ExternalMetricValueList``; its first item's ``value`` (a Kubernetes quantity such as
``250m``, ``3k`` or ``1Gi``) is the metric's value, as Flagger takes it; no item is NoData.
The API server routes the request to the metrics adapter with the operator's own credentials
(RBAC: ``get`` on the ``external.metrics.k8s.io`` resources).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from ..analysis._measurements import NoData, Scalar, Window
from ..analysis._measurements import scalar as to_scalar
from ..errors import PermanentProviderError
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from ._cluster import ClusterObjects, ClusterProvider, cluster_objects
from ._context import ProviderContext
from ._httpapi import render_query

API = "/apis/external.metrics.k8s.io/v1beta1"
FORMAT = "[NAMESPACE/]METRIC[?labelSelector=SELECTOR]"
_QUANTITY = re.compile(
    r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)
_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.:]*[A-Za-z0-9])?$")


def quantity(text: Any) -> float:
    """A Kubernetes quantity as a float: ``250m`` -> 0.25, ``1Ki`` -> 1024, ``2e3`` -> 2000."""
    match = _QUANTITY.fullmatch(str(text).strip())
    if match is None:
        raise PermanentProviderError(f"external metric value {text!r} is not a Kubernetes quantity")
    try:
        return float(Decimal(match.group(1)) * _SUFFIX[match.group(2) or ""])
    except InvalidOperation:
        raise PermanentProviderError(f"external metric value {text!r} is not a number") from None


def parse_query(query: str) -> tuple[str, str, str]:
    """``(namespace, metric, label selector)`` of a query in Flagger's format."""
    parts = urlsplit(query.strip())
    path = parts.path.strip("/") if parts.path.startswith("/") else parts.path
    pieces = path.split("/")
    if len(pieces) > 2 or not pieces[-1]:
        raise PermanentProviderError(
            f"external metrics query {query!r} is not {FORMAT} "
            "(fix: e.g. ml/queue_depth?labelSelector=app%3Dfraud)"
        )
    namespace = pieces[0] if len(pieces) == 2 and pieces[0] else "default"
    metric = pieces[-1]
    for what, value in (("namespace", namespace), ("metric name", metric)):
        if not _NAME.fullmatch(value):
            raise PermanentProviderError(f"external metrics query: {what} {value!r} is not valid")
    selectors = parse_qs(parts.query).get("labelSelector", [""])
    return namespace, metric, selectors[0]


class ExternalMetricsProvider(ClusterProvider):
    """Custom queries against the External Metrics API through the API server."""

    name = "externalmetrics"
    no_builtin = (
        "built-in SLIs are not supported by the externalmetrics provider: the External Metrics "
        "API serves named metrics, not the router's per-version counters; fix: give each "
        f"metric a custom query ({FORMAT})"
    )

    def probe(self) -> str:
        """Online when the API group answers its discovery document."""
        body = self.cluster.get_path(API, {})
        if body.get("kind") != "APIResourceList":
            return f"{API} did not answer an APIResourceList (is a metrics adapter installed?)"
        return ""

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        namespace, name, selector = parse_query(render_query(metric, rollout, window, self.name))
        params = {"labelSelector": selector} if selector else {}
        body = self.cluster.get_path(f"{API}/namespaces/{namespace}/{quote(name)}", params)
        items = body.get("items") or []
        if not items:
            where = f"{namespace}/{name}" + (f" ({selector})" if selector else "")
            return NoData(f"external metric {where} has no values")
        return to_scalar(quantity(items[0].get("value")))


def factory(spec: MetricProviderSpec, ctx: ProviderContext) -> ExternalMetricsProvider:
    """Flagger's ``externalmetrics`` (``address`` is not used: the API server routes it)."""
    cluster: ClusterObjects = cluster_objects(ctx, "externalmetrics")
    return ExternalMetricsProvider(cluster)
