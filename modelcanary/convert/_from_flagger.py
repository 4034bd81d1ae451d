"""Flagger Canary (+ MetricTemplates, AlertProviders) -> ModelRollout.

Field names mostly match, so most values are copied as written. What differs (provider
names, the deprecated ``threshold``, ``metricsServer``, ``ingressRef``, templates given
alongside) is translated and noted; what has no ModelRollout field (the service's Gateway API
``mirror`` filters, server-set metadata, ``status``) is dropped and noted.
The result is validated with :func:`~modelcanary.spec.parse_rollout`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConversionError, SpecError, SpecIssue
from ..spec import API_VERSION, KIND, ROUTER_PROVIDERS, parse_rollout
from ._common import (
    FLAGGER_API_VERSION,
    FLAGGER_GROUP,
    FLAGGER_TO_ROUTER,
    UNREPRESENTABLE_FLAGGER_PROVIDERS,
    Conversion,
    Notes,
    dump,
    mapping,
    tidy,
)
from ._from_flagger_analysis import Context, analysis_from_flagger

# fmt: off
SERVICE_FIELDS = (
    "name", "port", "targetPort", "portName", "portDiscovery", "appProtocol", "headless", "hosts",
    "gateways", "gatewayRefs", "headers", "timeout", "backendTimeout", "retries", "match",
    "rewrite", "trafficPolicy", "corsPolicy", "trafficDistribution", "meshName", "backends",
    "delegation", "apex", "primary", "canary", "unmanagedMetadata",
)
# fmt: on
SERVICE_DROPPED = {
    "mirror": "Gateway API mirror filters of the apex route; modelcanary's ServiceSpec has no "
    "field for them (mirroring to the challenger is analysis.mirror)",
}
_OBJECT = ("apiVersion", "kind", "name")
REF_FIELDS = {
    "targetRef": _OBJECT,
    "autoscalerRef": (*_OBJECT, "primaryScalerQueries", "primaryScalerReplicas"),
    "routeRef": _OBJECT,
    "upstreamRef": (*_OBJECT, "namespace"),
}
"""Flagger's object references and the fields of each that ModelRollout carries."""
REF_WHY = {"namespace": "Flagger's CRD has no namespace here: it is always the Canary's"}
_SERVER_SET = "uid resourceVersion generation creationTimestamp managedFields selfLink"
META_DROPPED = dict.fromkeys(_SERVER_SET.split(), "set by the API server, not carried over")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
TemplateKey = tuple[str | None, str]


def from_flagger(
    docs: list[Any], *, default_provider: str | None = None, source: str = ""
) -> Conversion:
    """Convert one Flagger Canary, with the MetricTemplates/AlertProviders given alongside.

    ``default_provider`` stands in for a missing ``spec.provider`` (a Flagger or modelcanary
    router name); without it a ``kuma.io/*`` annotation means kuma, else Flagger's default
    istio. Raises :class:`~modelcanary.errors.ConversionError` with paths and fixes.
    """
    notes = Notes()
    canary, templates, alert_providers = _split(docs, notes, source)
    meta = notes.section(canary.get("metadata"), "metadata")
    spec = notes.section(canary.get("spec"), "spec")
    ctx = Context(
        namespace=meta.get("namespace"),
        templates=templates,
        alert_providers=alert_providers,
        notes=notes,
    )
    rollout: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": _metadata(meta, notes),
        "spec": _spec(spec, meta, default_provider, ctx),
    }
    notes.leftover(canary, "", ("apiVersion", "kind", "metadata", "spec", "status"))
    if "status" in canary:
        notes.add("status", "dropped: written by Flagger, not part of the desired rollout")
    notes.raise_issues(source)
    try:
        model = parse_rollout(rollout, source=source)
    except SpecError as exc:
        raise ConversionError(exc.issues, source=source) from None
    return Conversion([tidy({"apiVersion": API_VERSION, "kind": KIND, **dump(model)})], notes.notes)


def _split(
    docs: list[Any], notes: Notes, source: str
) -> tuple[Mapping[str, Any], dict[TemplateKey, Mapping[str, Any]], dict[TemplateKey, Any]]:
    """Sort the documents into the Canary, MetricTemplates and AlertProviders (by ns/name)."""
    canaries: list[tuple[int, Mapping[str, Any]]] = []
    templates: dict[TemplateKey, Mapping[str, Any]] = {}
    providers: dict[TemplateKey, Any] = {}
    found: list[str] = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, Mapping):
            notes.issue(
                f"documents[{i}]",
                f"is a {type(doc).__name__}, not a YAML object",
                "give Kubernetes objects (apiVersion, kind, metadata, spec)",
            )
            continue
        kind, api = doc.get("kind"), str(doc.get("apiVersion", ""))
        meta = mapping(doc.get("metadata"))
        key = (meta.get("namespace"), str(meta.get("name", "")))
        found.append(f"{kind} {api}".strip())
        if api.split("/")[0] != FLAGGER_GROUP:
            notes.add(f"documents[{i}]", f"{kind} {api} not converted: not a Flagger object")
        elif kind == "Canary":
            canaries.append((i, doc))
            if api != FLAGGER_API_VERSION:
                notes.add(f"documents[{i}].apiVersion", f"{api} read as {FLAGGER_API_VERSION}")
        elif kind == "MetricTemplate":
            templates[key] = doc
        elif kind == "AlertProvider":
            providers[key] = doc
        else:
            notes.add(f"documents[{i}]", f"Flagger {kind} not converted")
    notes.raise_issues(source)
    if not canaries:
        raise ConversionError(
            SpecIssue(
                "documents",
                f"no Flagger Canary found (got: {', '.join(found) or 'nothing'})",
                f"give a Canary (apiVersion: {FLAGGER_API_VERSION}, kind: Canary), optionally with "
                "the MetricTemplates and AlertProviders it refers to",
            ),
            source=source,
        )
    if len(canaries) > 1:
        raise ConversionError(
            SpecIssue(
                f"documents[{canaries[1][0]}]",
                f"is a second Canary ({len(canaries)} given)",
                "convert one Canary at a time (one ModelRollout per Canary)",
            ),
            source=source,
        )
    return canaries[0][1], templates, providers


def _metadata(meta: Mapping[str, Any], notes: Notes) -> dict[str, Any]:
    out = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}
    if isinstance(out.get("annotations"), Mapping) and LAST_APPLIED in out["annotations"]:
        out["annotations"] = {k: v for k, v in out["annotations"].items() if k != LAST_APPLIED}
        notes.add(f"metadata.annotations.{LAST_APPLIED}", "dropped: it describes the Canary")
    notes.leftover(meta, "metadata", ("name", "namespace", "labels", "annotations"), META_DROPPED)
    return out


def _spec(
    spec: Mapping[str, Any], meta: Mapping[str, Any], default_provider: str | None, ctx: Context
) -> dict[str, Any]:
    notes = ctx.notes
    out: dict[str, Any] = {"router": {"provider": _provider(spec, meta, default_provider, notes)}}
    for key in REF_FIELDS:
        if key in spec:
            out[key] = _ref(spec[key], key, notes)
    if "targetRef" not in spec:
        notes.issue(
            "spec.targetRef",
            "is required",
            "add targetRef: {apiVersion: apps/v1, kind: Deployment, name: my-model}",
        )
    if spec.get("metricsServer") or "insecureSkipVerify" in spec:
        provider: dict[str, Any] = {"type": "prometheus"}
        if spec.get("metricsServer"):
            provider["address"] = spec["metricsServer"]
        if "insecureSkipVerify" in spec:
            provider["insecureSkipVerify"] = spec["insecureSkipVerify"]
        out["metricsProvider"] = provider
        notes.add("spec.metricsServer", "became spec.metricsProvider (type prometheus)")
    elif "metricsServer" in spec:
        notes.add("spec.metricsServer", "empty: dropped (Flagger uses its global metrics server)")
    service = (
        _service(notes.section(spec["service"], "spec.service"), notes)
        if "service" in spec
        else None
    )
    target = mapping(spec.get("targetRef")).get("name")
    if service is not None and "name" not in service and target and target != meta.get("name"):
        service["name"] = target
        notes.add(
            "spec.service.name",
            f"set to {target!r}: Flagger names the service after "
            "the target, modelcanary after the rollout",
        )
    if "ingressRef" in spec:
        service = service or {}
        service["ingressRef"] = dict(notes.section(spec["ingressRef"], "spec.ingressRef"))
        notes.add("spec.ingressRef", "moved to spec.service.ingressRef")
    if service is not None:
        out["service"] = service
    for key in ("progressDeadlineSeconds", "skipAnalysis", "suspend", "revertOnDeletion"):
        if key in spec:
            out[key] = spec[key]
    analysis_key = "analysis" if "analysis" in spec else "canaryAnalysis"
    if analysis_key in spec:
        if analysis_key == "canaryAnalysis":
            notes.add("spec.canaryAnalysis", "deprecated name, read as spec.analysis")
        out["analysis"] = analysis_from_flagger(
            notes.section(spec[analysis_key], f"spec.{analysis_key}"), ctx
        )
    else:
        notes.issue(
            "spec.analysis",
            "is required",
            "add analysis: {interval: 1m, threshold: 5, stepWeight: 10, metrics: [...]}",
        )
    used = (
        *REF_FIELDS,
        "provider",
        "metricsServer",
        "insecureSkipVerify",
        "service",
        "ingressRef",
        "progressDeadlineSeconds",
        "skipAnalysis",
        "suspend",
        "revertOnDeletion",
        "analysis",
        "canaryAnalysis",
    )
    notes.leftover(spec, "spec", used)
    return out


def _provider(
    spec: Mapping[str, Any], meta: Mapping[str, Any], default: str | None, notes: Notes
) -> str:
    """The router provider for spec.provider, or the default / kuma annotation / istio."""
    raw = spec.get("provider")
    path = "spec.provider"
    if not raw:
        kuma = sorted(
            str(k)
            for k in notes.section(meta.get("annotations"), "metadata.annotations")
            if str(k).startswith("kuma.io/")
        )
        if default:
            raw = default
            notes.add(path, f"not set; used the default provider {default!r} given to convert")
        elif kuma:
            raw = "kuma"
            notes.add(path, f"not set; inferred 'kuma' from the annotation {kuma[0]}")
        else:
            raw = "istio"
            notes.add(
                path,
                "not set; used 'istio', Flagger's default mesh provider (set "
                "spec.provider if your Flagger runs with another -mesh-provider)",
            )
    name = str(raw)
    if name in UNREPRESENTABLE_FLAGGER_PROVIDERS:
        notes.issue(
            path,
            f"{name!r} is not representable: {UNREPRESENTABLE_FLAGGER_PROVIDERS[name]}",
            "set spec.provider to the mesh or ingress in front of the service (e.g. istio, "
            "linkerd, nginx, gatewayapi:v1), or describe the rollout with "
            "champion/challenger on the local router",
        )
        return name
    if name in FLAGGER_TO_ROUTER:
        router = FLAGGER_TO_ROUTER[name]
        if router != name:
            notes.add(
                path,
                f"{name!r} became router.provider {router!r} (converting back "
                "writes the current Flagger name for it)",
            )
        return router
    if name in ROUTER_PROVIDERS:
        return name
    known = ", ".join(sorted({*FLAGGER_TO_ROUTER, *ROUTER_PROVIDERS} - {"local"}))
    notes.issue(path, f"{name!r} is not a known provider", f"use one of {known}")
    return name


def _ref(raw: Any, key: str, notes: Notes) -> dict[str, Any]:
    ref = notes.section(raw, f"spec.{key}")
    fields = REF_FIELDS[key]
    notes.leftover(ref, f"spec.{key}", fields, REF_WHY)
    return {k: ref[k] for k in fields if k in ref}


def _service(service: Mapping[str, Any], notes: Notes) -> dict[str, Any]:
    out = {k: service[k] for k in SERVICE_FIELDS if k in service}
    notes.leftover(service, "spec.service", SERVICE_FIELDS, SERVICE_DROPPED)
    return out
