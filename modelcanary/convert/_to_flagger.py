"""ModelRollout -> Flagger Canary (+ the MetricTemplates and AlertProviders it needs).

Only an operator rollout (``spec.targetRef`` on a mesh or ingress router) has a Flagger
equivalent. The Canary written here validates against Flagger's CRD schema; everything
modelcanary has and Flagger has not is dropped or approximated with a note.
"""

from __future__ import annotations

from typing import Any

from ..spec import ModelRollout, ObjectRef
from ._common import FLAGGER_API_VERSION, ROUTER_TO_FLAGGER, Conversion, Notes, dump, given, tidy
from ._to_flagger_analysis import analysis_to_flagger

TARGET_KINDS = ("Deployment", "DaemonSet", "Service")
AUTOSCALERS = {"HorizontalPodAutoscaler": "autoscaling/v2", "ScaledObject": "keda.sh/v1alpha1"}
"""Flagger's autoscaler kinds and the apiVersion written when the rollout sets none."""
SCALER_REPLICAS = ("minReplicas", "maxReplicas")
UNMANAGED = ("labels", "annotations")
ROUTE_REFS = {
    "routeRef": ("route_ref", "apisix.apache.org/v2", "ApisixRoute"),
    "upstreamRef": ("upstream_ref", "gloo.solo.io/v1", "Upstream"),
}
"""Flagger's route references: spec field, default apiVersion and the one kind Flagger takes."""
_TARGET_HINT = (
    "deploy the model as a Deployment and set spec.targetRef: {apiVersion: apps/v1, kind: "
    "Deployment, name: my-model} (Flagger rolls out each new revision of that Deployment) "
    "instead of spec.champion/spec.challenger"
)


def to_flagger(rollout: ModelRollout, *, source: str = "") -> Conversion:
    """Convert a ModelRollout to a Flagger Canary, followed by generated MetricTemplates and
    AlertProviders. Raises :class:`~modelcanary.errors.ConversionError` (with paths and fixes)
    when the rollout has no Flagger equivalent (model versions, local or kserve router)."""
    notes = Notes()
    spec = rollout.spec
    _check_representable(rollout, notes)
    notes.raise_issues(source)
    assert spec.target_ref is not None  # checked above
    out: dict[str, Any] = {"provider": _provider(rollout, notes)}
    if spec.metrics_provider is not None:
        server = _metrics_server(rollout, notes)
        if server:
            out["metricsServer"] = server
    if given(spec, "progress_deadline_seconds"):
        out["progressDeadlineSeconds"] = spec.progress_deadline_seconds
    target = spec.target_ref
    out["targetRef"] = {"apiVersion": target.api_version, "kind": target.kind, "name": target.name}
    if target.kind not in TARGET_KINDS:
        notes.issue(
            "spec.targetRef.kind",
            f"{target.kind!r} cannot be a Flagger target",
            f"use one of {', '.join(TARGET_KINDS)}",
        )
    if spec.autoscaler_ref is not None:
        out["autoscalerRef"] = _autoscaler(rollout, notes)
    for key, (field, api, kind) in ROUTE_REFS.items():
        ref = getattr(spec, field)
        if ref is not None:
            out[key] = _route_ref(ref, key, (api, kind), notes)
    out.update(_service(rollout, notes))
    for field in ("skip_analysis", "revert_on_deletion", "suspend"):
        if given(spec, field):
            out[type(spec).model_fields[field].alias or field] = getattr(spec, field)
    analysis, extra_docs = analysis_to_flagger(rollout, notes)
    out["analysis"] = analysis
    if spec.load is not None:
        notes.add(
            "spec.load",
            "dropped: the load generator is part of modelcanary's local "
            "runtime (use a Flagger load-test webhook)",
        )
    if rollout.status is not None:
        notes.add("status", "dropped: written by the runtime, not part of the desired rollout")
    notes.raise_issues(source)
    canary = {
        "apiVersion": FLAGGER_API_VERSION,
        "kind": "Canary",
        "metadata": _metadata(rollout),
        "spec": out,
    }
    return Conversion([tidy(canary), *(tidy(d) for d in extra_docs)], notes.notes)


def _check_representable(rollout: ModelRollout, notes: Notes) -> None:
    spec = rollout.spec
    if spec.target_ref is None:
        for side in ("champion", "challenger"):
            version = getattr(spec, side)
            what = f"model version {version.source!r}" if version is not None else "not set"
            notes.issue(
                f"spec.{side}", f"{what}: Flagger cannot roll out model versions", _TARGET_HINT
            )
    provider = spec.router.provider
    if provider == "local":
        notes.issue(
            "spec.router.provider",
            "'local': Flagger has no local router",
            "set router.provider to the mesh or ingress Flagger should drive, e.g. "
            f"{', '.join(sorted(ROUTER_TO_FLAGGER))}",
        )
    elif provider not in ROUTER_TO_FLAGGER:
        notes.issue(
            "spec.router.provider",
            f"{provider!r} has no Flagger provider",
            f"use one of {', '.join(sorted(ROUTER_TO_FLAGGER))}",
        )


def _provider(rollout: ModelRollout, notes: Notes) -> str:
    router = rollout.spec.router.provider
    name = ROUTER_TO_FLAGGER[router]
    if name != router:
        notes.add("spec.router.provider", f"{router!r} written as Flagger's spec.provider {name!r}")
    if router == "apisix" and rollout.spec.route_ref is None:
        notes.add(
            "spec.routeRef",
            "not set: Flagger's apisix provider needs the ApisixRoute to copy; add routeRef",
        )
    return name


def _metrics_server(rollout: ModelRollout, notes: Notes) -> str | None:
    provider = rollout.spec.metrics_provider
    assert provider is not None
    path = "spec.metricsProvider"
    if provider.type != "prometheus" or not provider.address:
        notes.add(
            path,
            f"dropped: Flagger's metricsServer is a Prometheus address "
            f"(got type {provider.type}); use a MetricTemplate for other backends",
        )
        return None
    for field in ("secret_ref", "region", "insecure_skip_verify", "headers"):
        if getattr(provider, field) is not None:
            notes.add(
                f"{path}.{type(provider).model_fields[field].alias}",
                "dropped: Flagger's metricsServer is an address only",
            )
    return provider.address


def _autoscaler(rollout: ModelRollout, notes: Notes) -> dict[str, Any]:
    """Flagger needs apiVersion and kind; the model defaults (autoscaling/v2 HPA) fit only an
    HPA, so an unset kind follows a KEDA apiVersion and an unset apiVersion follows the kind."""
    ref = rollout.spec.autoscaler_ref
    assert ref is not None
    path = "spec.autoscalerRef"
    written = ref.model_fields_set
    kind, api = ref.kind, ref.api_version
    if "kind" not in written:
        kind = "ScaledObject" if api.startswith("keda.sh/") else "HorizontalPodAutoscaler"
        notes.add(f"{path}.kind", f"not set; wrote {kind} (Flagger requires it)")
    if kind not in AUTOSCALERS:
        notes.issue(
            f"{path}.kind",
            f"{kind!r} cannot be a Flagger autoscaler",
            f"use one of {', '.join(AUTOSCALERS)}",
        )
    elif "api_version" not in written:
        api = AUTOSCALERS[kind]
        notes.add(f"{path}.apiVersion", f"not set; wrote {api} (Flagger requires it)")
    out: dict[str, Any] = {"apiVersion": api, "kind": kind, "name": ref.name}
    if ref.primary_scaler_queries is not None:
        out["primaryScalerQueries"] = dict(ref.primary_scaler_queries)
    if ref.primary_scaler_replicas is not None:
        replicas = ref.primary_scaler_replicas
        out["primaryScalerReplicas"] = {k: v for k, v in replicas.items() if k in SCALER_REPLICAS}
        notes.leftover(
            replicas,
            f"{path}.primaryScalerReplicas",
            SCALER_REPLICAS,
            dict.fromkeys(replicas, "Flagger takes minReplicas and maxReplicas only"),
        )
        for key, value in out["primaryScalerReplicas"].items():
            if value < 1:
                notes.issue(
                    f"{path}.primaryScalerReplicas.{key}",
                    f"{value} is below 1, which Flagger's CRD rejects",
                    "give at least 1 replica",
                )
    return out


def _route_ref(ref: ObjectRef, key: str, defaults: tuple[str, str], notes: Notes) -> dict[str, Any]:
    """routeRef (APISIX) or upstreamRef (Gloo): Flagger requires apiVersion and kind."""
    path, (api, kind) = f"spec.{key}", defaults
    if ref.kind is not None and ref.kind != kind:
        notes.issue(f"{path}.kind", f"{ref.kind!r} cannot be a Flagger {key}", f"use {kind}")
    out = {"apiVersion": ref.api_version or api, "kind": kind, "name": ref.name}
    for name, value in (("apiVersion", ref.api_version), ("kind", ref.kind)):
        if value is None:
            notes.add(f"{path}.{name}", f"not set; wrote {out[name]} (Flagger requires it)")
    if ref.namespace is not None and key == "upstreamRef":
        out["namespace"] = ref.namespace
    elif ref.namespace is not None:
        notes.add(f"{path}.namespace", "dropped: Flagger's route is in the Canary's namespace")
    return out


def _service(rollout: ModelRollout, notes: Notes) -> dict[str, Any]:
    """``service`` (and ``ingressRef``, which Flagger keeps beside the service)."""
    service = rollout.spec.service
    if service is None:
        notes.add("spec.service", "not set; wrote {port: 80} (Flagger needs a service port)")
        return {"service": {"port": 80}}
    out = dump(service)
    out["port"] = service.port
    _outlier_codes(out.get("trafficPolicy"), notes)
    target = rollout.spec.target_ref
    if "name" not in out and target is not None and target.name != rollout.name:
        out["name"] = rollout.name
        notes.add(
            "spec.service.name",
            f"set to {rollout.name!r}: modelcanary names the service "
            "after the rollout, Flagger after the target",
        )
    if "port" not in service.model_fields_set:
        notes.add("spec.service.port", "not set; wrote modelcanary's default 80")
    unmanaged = out.get("unmanagedMetadata")
    if unmanaged is not None:  # Flagger's CRD: {labels: [keys], annotations: [keys]}
        out["unmanagedMetadata"] = {k: v for k, v in unmanaged.items() if k in UNMANAGED}
        why = dict.fromkeys(unmanaged, "Flagger leaves only labels and annotations unmanaged")
        notes.leftover(unmanaged, "spec.service.unmanagedMetadata", UNMANAGED, why)
    result: dict[str, Any] = {"service": out}
    ingress = out.pop("ingressRef", None)
    if ingress is not None:
        ref = {
            "apiVersion": ingress.get("apiVersion", "networking.k8s.io/v1"),
            "kind": ingress.get("kind", "Ingress"),
            "name": ingress["name"],
        }
        if "namespace" in ingress:
            notes.add(
                "spec.service.ingressRef.namespace",
                "dropped: Flagger's ingress is in the Canary's namespace",
            )
        result["ingressRef"] = ref
        notes.add("spec.service.ingressRef", "written as spec.ingressRef (Flagger's place)")
    return result


def _outlier_codes(policy: dict[str, Any] | None, notes: Notes) -> None:
    """Istio's ``outlierDetectionHttpErrorCodes`` is not in Flagger's Canary schema (its API
    server would prune it silently): dropped here, with a note."""
    blocks = [("", (policy or {}).get("outlierDetection"))]
    ports = (policy or {}).get("portLevelSettings")
    for i, port in enumerate(ports if isinstance(ports, list) else ()):
        if isinstance(port, dict):
            blocks.append((f".portLevelSettings[{i}]", port.get("outlierDetection")))
    for where, block in blocks:
        if isinstance(block, dict) and block.pop("outlierDetectionHttpErrorCodes", None):
            notes.add(
                f"spec.service.trafficPolicy{where}.outlierDetection.outlierDetectionHttpErrorCodes",
                "dropped: not in Flagger's Canary schema (its DestinationRules count 5xx errors)",
            )


def _metadata(rollout: ModelRollout) -> dict[str, Any]:
    meta = rollout.metadata
    out: dict[str, Any] = {"name": meta.name}
    for key in ("namespace", "labels", "annotations"):
        value = getattr(meta, key)
        if value is not None:
            out[key] = dict(value) if isinstance(value, dict) else value
    return out
