"""Series schemes: which Prometheus series answer the built-in SLIs of a rollout.

The local router labels its series with the rollout and the version (``router`` scheme). In a
cluster nothing does: a rollout's two versions are told apart by *where* the series come from,
as Flagger's built-in queries do per mesh. A :class:`Scheme` names the request counter, the
latency histogram (and its unit), the label holding the outcome and what counts as an error,
and builds each version's label matchers from the rollout's object names
(:func:`modelcanary.spec._naming.names`):

- ``modelcanary-model``: the model servers the operator deploys (``modelcanary serve``), by
  Kubernetes pod (``namespace``, ``pod`` of the ``-primary`` / challenger workloads); the only
  cluster scheme with predictions (``prediction-drift``);
- ``istio``, ``linkerd`` (also ``smi``), ``nginx``, ``contour``, ``gloo``, ``kuma``,
  ``traefik``, ``appmesh``: the mesh's or ingress controller's own metrics, as in Flagger's
  observers, for both versions instead of the canary only.

:func:`scheme_for` picks one per rollout: ``router.provider: local`` -> ``router``; explicit
champion/challenger model versions -> ``modelcanary-model`` (``vllm`` when both say
``protocol: openai``); ``targetRef`` -> the router
provider's mesh scheme, ``modelcanary-model`` for routers without one (gatewayapi, kserve,
apisix, skipper, kubernetes: Flagger's HTTP observer for the last); ``vllm``
(:mod:`._vllm`) for the LLM routers (inference-pool, inference-model-rewrite, kserve-llm).
The rollout annotation ``modelcanary.io/metrics-scheme`` overrides it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..analysis._measurements import Side
from ..errors import PermanentProviderError
from ..spec import ModelRollout
from ..spec._naming import Names, names
from ._knative_queries import (
    KNATIVE_LATENCY,
    KNATIVE_LATENCY_MS,
    KNATIVE_NOTE,
    KNATIVE_REQUESTS,
    KNATIVE_STATUS_LABEL,
    knative_sides,
)
from ._vllm import (
    TTFT,
    VLLM_LATENCY,
    VLLM_NOTE,
    VLLM_OK,
    VLLM_REQUESTS,
    VLLM_STATUS_LABEL,
    vllm_sides,
)

Op = Literal["=", "!=", "=~", "!~"]
ErrorRule = Literal["5xx", "failure", "finish"]
SCHEME_ANNOTATION = "modelcanary.io/metrics-scheme"
"""Rollout annotation naming the scheme to use instead of the automatic choice."""
POD_SUFFIX = "-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
"""A Deployment's pods: ``<workload>-<replicaset hash>-<pod hash>`` (as Flagger matches them)."""


@dataclass(frozen=True)
class Matcher:
    """One PromQL label matcher: ``label op "value"``."""

    label: str
    value: str
    op: Op = "="


Matchers = tuple[Matcher, ...]
SideMatchers = Callable[[Names, ModelRollout], Mapping[Side, Matchers]]


@dataclass(frozen=True)
class Scheme:
    """Where one family of series keeps requests, latencies and predictions."""

    name: str
    requests: str
    """Request counter (or a histogram's ``+Inf`` bucket with ``requests_match``)."""
    latency: str
    """Latency histogram buckets (``..._bucket``)."""
    status_label: str
    """Label holding the outcome of a request."""
    error: ErrorRule
    """``5xx``: the status is >= 500 or not a number; ``failure``: the label says failure;
    ``finish``: a vLLM finish reason other than ``stop`` and ``length``."""
    latency_ms: float
    """Milliseconds per unit of the latency buckets' ``le`` (1000 for seconds, 1 for ms)."""
    sides: SideMatchers | None
    """Each version's matchers; None for the ``router`` scheme (a ``version`` label)."""
    predictions: str | None = None
    """Class-label prediction counter (``label``), None when the series have none."""
    prediction_buckets: str | None = None
    """Numeric prediction histogram buckets."""
    requests_match: Matchers = ()
    """Extra matchers of the request series only (e.g. ``le="+Inf"``)."""
    common: Matchers = ()
    """Matchers of every series (e.g. Istio's ``reporter="destination"``)."""
    tokens: str | None = None
    """Time-to-first-token histogram buckets of an LLM server (its token-latency and token
    counter series are named beside it); None when the servers are not LLM servers."""
    note: str = field(default="", compare=False)
    """What the scheme reads, for documentation and NoData reasons."""

    def is_error(self, status: str | None) -> bool:
        """Whether a request with this outcome label counts as an error."""
        if self.error == "failure":
            return status == "failure"
        if self.error == "finish":
            return status not in VLLM_OK
        try:
            return int(status or "") >= 500
        except ValueError:
            return True

    def matchers(self, rollout: ModelRollout) -> dict[Side, Matchers]:
        """Each version's matchers (common ones included); empty for ``router``."""
        if self.sides is None:
            return {}
        per_side = self.sides(names(rollout), rollout)
        return {
            "champion": (*self.common, *per_side["champion"]),
            "challenger": (*self.common, *per_side["challenger"]),
        }


def _both(make: Callable[[str], Matchers], champion: str, challenger: str) -> dict[Side, Matchers]:
    return {"champion": make(champion), "challenger": make(challenger)}


def _pods(n: Names, _: ModelRollout) -> dict[Side, Matchers]:
    def make(workload: str) -> Matchers:
        return (Matcher("namespace", n.namespace), Matcher("pod", f"{workload}{POD_SUFFIX}", "=~"))

    return _both(make, n.primary_workload, n.challenger_workload)


def _labelled(namespace: str, workload: str) -> SideMatchers:
    """Matchers ``<namespace>="<ns>", <workload>="<workload>"`` per version."""

    def sides(n: Names, _: ModelRollout) -> dict[Side, Matchers]:
        def make(name: str) -> Matchers:
            return (Matcher(namespace, n.namespace), Matcher(workload, name))

        return _both(make, n.primary_workload, n.challenger_workload)

    return sides


def _nginx(n: Names, rollout: ModelRollout) -> dict[Side, Matchers]:
    service = rollout.spec.service
    ref = service.ingress_ref if service is not None else None
    ingress = ref.name if ref is not None else n.apex
    namespace = (ref.namespace if ref is not None else None) or n.namespace

    def make(name: str) -> Matchers:
        return (Matcher("namespace", namespace), Matcher("ingress", name))

    return _both(make, ingress, f"{ingress}-canary")


def _cluster(pattern: str, label: str = "envoy_cluster_name") -> SideMatchers:
    """Envoy clusters of each version's Service: ``pattern`` filled with ``ns`` and ``svc``."""

    def sides(n: Names, _: ModelRollout) -> dict[Side, Matchers]:
        def make(svc: str) -> Matchers:
            return (Matcher(label, pattern.format(ns=n.namespace, svc=svc), "=~"),)

        return _both(make, n.primary, n.canary)

    return sides


def _gloo(n: Names, _: ModelRollout) -> dict[Side, Matchers]:
    def make(kind: str) -> Matchers:
        name = f"{n.namespace}-{n.apex}-{kind}upstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+"
        return (Matcher("envoy_cluster_name", name, "=~"),)

    return _both(make, "primary", "canary")


def _appmesh(n: Names, _: ModelRollout) -> dict[Side, Matchers]:
    def make(workload: str) -> Matchers:
        return (
            Matcher("kubernetes_namespace", n.namespace),
            Matcher("kubernetes_pod_name", f"{workload}{POD_SUFFIX}", "=~"),
        )

    return _both(make, n.primary_workload, n.challenger_workload)


ROUTER_PREFIX = "modelcanary_router"
MODEL_PREFIX = "modelcanary_model"
MODEL = Scheme(
    "modelcanary-model",
    f"{MODEL_PREFIX}_requests_total",
    f"{MODEL_PREFIX}_request_duration_seconds_bucket",
    "status",
    "5xx",
    1000.0,
    _pods,
    predictions=f"{MODEL_PREFIX}_predictions_total",
    prediction_buckets=f"{MODEL_PREFIX}_prediction_bucket",
    note="model servers (modelcanary serve) by Kubernetes namespace and pod",
)


def _envoy(name: str, sides: SideMatchers, note: str) -> Scheme:
    """Envoy's cluster statistics (``envoy_cluster_upstream_rq*``, latency in ms)."""
    return Scheme(
        name,
        "envoy_cluster_upstream_rq",
        "envoy_cluster_upstream_rq_time_bucket",
        "envoy_response_code",
        "5xx",
        1.0,
        sides,
        note=note,
    )


MESH_SCHEMES: dict[str, Scheme] = {
    "istio": Scheme(
        "istio",
        "istio_requests_total",
        "istio_request_duration_milliseconds_bucket",
        "response_code",
        "5xx",
        1.0,
        _labelled("destination_workload_namespace", "destination_workload"),
        common=(Matcher("reporter", "destination"),),
        note="Istio standard metrics reported by the destination workload",
    ),
    "linkerd": Scheme(
        "linkerd",
        "response_total",
        "response_latency_ms_bucket",
        "classification",
        "failure",
        1.0,
        _labelled("namespace", "deployment"),
        common=(Matcher("direction", "inbound"),),
        note="Linkerd proxy metrics, inbound, by deployment",
    ),
    "nginx": Scheme(
        "nginx",
        "nginx_ingress_controller_requests",
        "nginx_ingress_controller_request_duration_seconds_bucket",
        "status",
        "5xx",
        1000.0,
        _nginx,
        note="ingress-nginx metrics of the Ingress and its -canary copy",
    ),
    "contour": _envoy(
        "contour", _cluster("{ns}_{svc}_[0-9a-zA-Z-]+"), "Contour's Envoy clusters, per Service"
    ),
    "gloo": _envoy("gloo", _gloo, "Gloo Edge's Envoy clusters, per Upstream"),
    "kuma": _envoy(
        "kuma",
        _cluster("{svc}_{ns}_svc_[0-9a-zA-Z-]+", label="service"),
        "Kuma data planes' Envoy clusters, per Service",
    ),
    "appmesh": _envoy("appmesh", _appmesh, "App Mesh Envoy sidecars, by pod"),
    "traefik": Scheme(
        "traefik",
        "traefik_service_request_duration_seconds_bucket",
        "traefik_service_request_duration_seconds_bucket",
        "code",
        "5xx",
        1000.0,
        _cluster("{ns}-{svc}-[0-9a-zA-Z-]+@kubernetescrd", label="service"),
        requests_match=(Matcher("le", "+Inf"),),
        note="Traefik service metrics (requests from the +Inf bucket)",
    ),
}
"""Router provider -> the scheme of its own metrics (Flagger's observers)."""
MESH_SCHEMES["smi"] = MESH_SCHEMES["linkerd"]
MESH_SCHEMES["knative"] = Scheme(  # revisions of a Knative Service: _knative_queries.py
    "knative",
    KNATIVE_REQUESTS,
    KNATIVE_LATENCY,
    KNATIVE_STATUS_LABEL,
    "5xx",
    KNATIVE_LATENCY_MS,
    knative_sides,
    note=KNATIVE_NOTE,
)
VLLM = Scheme(  # vLLM servers, the LLM routers' default: _vllm.py
    "vllm",
    VLLM_REQUESTS,
    VLLM_LATENCY,
    VLLM_STATUS_LABEL,
    "finish",
    1000.0,
    vllm_sides,
    tokens=f"{TTFT}_bucket",
    note=VLLM_NOTE,
)
for _llm_router in ("inference-pool", "inference-model-rewrite", "kserve-llm"):
    MESH_SCHEMES[_llm_router] = VLLM
FALLBACK_ROUTERS = frozenset({"gatewayapi", "kserve", "apisix", "skipper", "kubernetes"})
"""Routers without a mesh scheme: their rollouts read the model servers' series."""


def router_scheme(prefix: str = ROUTER_PREFIX) -> Scheme:
    """The local router's series (``<prefix>_*{rollout, version, status, mirrored}``)."""
    return Scheme(
        "router",
        f"{prefix}_requests_total",
        f"{prefix}_request_duration_seconds_bucket",
        "status",
        "5xx",
        1000.0,
        None,
        predictions=f"{prefix}_predictions_total",
        prediction_buckets=f"{prefix}_prediction_bucket",
        note="the local router's series by rollout and version",
    )


SCHEME_NAMES: tuple[str, ...] = (
    "router",
    "modelcanary-model",
    *sorted({s.name for s in MESH_SCHEMES.values()}),
)


def scheme_named(name: str, router: Scheme | None = None) -> Scheme | None:
    """The scheme called ``name`` (``router`` is ``router`` or the default one)."""
    if name == "router":
        return router or router_scheme()
    if name == MODEL.name:
        return MODEL
    return next((s for s in MESH_SCHEMES.values() if s.name == name), None)


def scheme_for(rollout: ModelRollout, router: Scheme | None = None) -> Scheme:
    """The series scheme of ``rollout`` (``router``: the router scheme to use for ``local``).

    A ``modelcanary.io/metrics-scheme`` annotation naming an unknown scheme is a
    :class:`PermanentProviderError` listing the known ones.
    """
    wanted = (rollout.metadata.annotations or {}).get(SCHEME_ANNOTATION)
    if wanted is not None:
        scheme = scheme_named(wanted, router)
        if scheme is None:
            raise PermanentProviderError(
                f"metadata.annotations[{SCHEME_ANNOTATION}]: no series scheme named "
                f"{wanted!r} (fix: use one of {', '.join(SCHEME_NAMES)})"
            )
        return scheme
    provider = rollout.spec.router.provider
    if provider == "local":
        return router or router_scheme()
    if rollout.spec.target_ref is None:
        return VLLM if llm_versions(rollout) else MODEL
    return MESH_SCHEMES.get(provider, MODEL)


def llm_versions(rollout: ModelRollout) -> bool:
    """Both versions are OpenAI-compatible servers (``protocol: openai``): in a cluster the
    operator runs them as given (a vLLM image), so their series are vLLM's."""
    versions = (rollout.spec.champion, rollout.spec.challenger)
    return all(v is not None and v.is_llm for v in versions)


__all__ = [
    "FALLBACK_ROUTERS",
    "MESH_SCHEMES",
    "MODEL",
    "SCHEME_ANNOTATION",
    "SCHEME_NAMES",
    "VLLM",
    "Matcher",
    "Matchers",
    "Scheme",
    "router_scheme",
    "scheme_for",
    "scheme_named",
]
