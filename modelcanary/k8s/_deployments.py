"""Deployments as plain data: the champion copy of a target, serving Deployments of model
versions, references to ConfigMaps/Secrets, revision hashes and readiness (no I/O here)."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import WorkloadError
from ..ports import KubeObject
from ..spec import ModelVersion

SELECTOR_LABELS = ("app", "name", "app.kubernetes.io/name")
"""Labels that identify a workload's pods, in order (Flagger's selector labels)."""
ROLE_LABEL = "modelcanary.io/role"
SOURCE_ANNOTATION = "modelcanary.io/source"
DEFAULT_IMAGE = "ghcr.io/modelcanary/modelcanary:latest"
"""Serving image of ``modelUri`` versions when neither the version nor the operator names one."""
COPIED_FIELDS = ("minReadySeconds", "revisionHistoryLimit", "strategy", "progressDeadlineSeconds")
"""Deployment spec fields copied from the challenger to the champion besides the template."""


def selector_label(deployment: KubeObject) -> tuple[str, str]:
    """The (key, value) selecting the Deployment's pods: ``app``, ``name`` or
    ``app.kubernetes.io/name`` in ``spec.selector.matchLabels``."""
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    for key in SELECTOR_LABELS:
        if key in labels:
            return key, str(labels[key])
    name = deployment.get("metadata", {}).get("name", "?")
    raise WorkloadError(
        f"Deployment {name}: spec.selector.matchLabels has none of {', '.join(SELECTOR_LABELS)} "
        "(fix: label the pods, e.g. app: " + str(name) + ", and select on it)"
    )


def template_hash(template: Any, extra: Any = None) -> str:
    """A stable short hash of a pod template (plus referenced config), the revision."""
    payload = json.dumps([template, extra], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# -- ConfigMap / Secret references ---------------------------------------------------------
def _containers(pod_spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from pod_spec.get(field) or []


def _ref_slots(pod_spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(kind, holder dict, key) of every ConfigMap/Secret name in a pod spec."""
    for volume in pod_spec.get("volumes") or []:
        if isinstance(volume.get("configMap"), dict):
            yield "ConfigMap", volume["configMap"], "name"
        if isinstance(volume.get("secret"), dict):
            yield "Secret", volume["secret"], "secretName"
        for source in (volume.get("projected") or {}).get("sources") or []:
            if isinstance(source.get("configMap"), dict):
                yield "ConfigMap", source["configMap"], "name"
            if isinstance(source.get("secret"), dict):
                yield "Secret", source["secret"], "name"
    for container in _containers(pod_spec):
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if isinstance(source.get("configMapKeyRef"), dict):
                yield "ConfigMap", source["configMapKeyRef"], "name"
            if isinstance(source.get("secretKeyRef"), dict):
                yield "Secret", source["secretKeyRef"], "name"
        for env_from in container.get("envFrom") or []:
            if isinstance(env_from.get("configMapRef"), dict):
                yield "ConfigMap", env_from["configMapRef"], "name"
            if isinstance(env_from.get("secretRef"), dict):
                yield "Secret", env_from["secretRef"], "name"


def config_refs(template: dict[str, Any]) -> list[tuple[str, str]]:
    """Sorted unique (kind, name) of the ConfigMaps and Secrets a pod template references."""
    pod_spec = template.get("spec") or {}
    return sorted({(kind, str(h[k])) for kind, h, k in _ref_slots(pod_spec) if h.get(k)})


def rename_refs(template: dict[str, Any], rename: Callable[[str, str], str | None]) -> None:
    """Rewrite ConfigMap/Secret names in place: ``rename(kind, name)`` -> new name or None."""
    for kind, holder, key in _ref_slots(template.get("spec") or {}):
        name = holder.get(key)
        if name:
            new = rename(kind, str(name))
            if new:
                holder[key] = new


# -- champion from challenger ---------------------------------------------------------------
def primary_template(
    source: KubeObject, label: tuple[str, str], primary_value: str
) -> dict[str, Any]:
    """The challenger's pod template with its selector label value set to ``primary_value``."""
    template = copy.deepcopy((source.get("spec") or {}).get("template") or {})
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), label[0]: primary_value}
    return template


def primary_deployment(
    source: KubeObject,
    name: str,
    namespace: str,
    replicas: int,
    labels: dict[str, str],
) -> KubeObject:
    """A champion Deployment ``name`` running ``source``'s pod template, its selector label
    value renamed to ``<value>-primary`` (Flagger's ``-primary`` workload)."""
    key, value = selector_label(source)
    primary_value = f"{value}-primary"
    src_spec = source.get("spec") or {}
    selector = copy.deepcopy(src_spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[key] = primary_value
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": selector,
        "template": primary_template(source, (key, value), primary_value),
    }
    for field in COPIED_FIELDS:
        if field in src_spec:
            spec[field] = copy.deepcopy(src_spec[field])
    src_labels = (source.get("metadata") or {}).get("labels") or {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**src_labels, key: primary_value, **labels},
        },
        "spec": spec,
    }


# -- serving Deployments of model versions ----------------------------------------------------
def serving_deployment(
    version: ModelVersion,
    name: str,
    namespace: str,
    labels: dict[str, str],
    default_image: str,
    path: str,
) -> KubeObject:
    """The Deployment serving an ``image`` or ``modelUri`` version (``path`` names the field
    in errors): ``modelcanary serve MODEL_URI`` in the serving image, or the image as given."""
    if version.url is not None:
        raise WorkloadError(
            f"{path}.url: a url version is not a workload the operator can run "
            f"(fix: use {path}.modelUri or {path}.image in a cluster)"
        )
    serving = version.serving
    port = serving.port if serving is not None else 8080
    replicas = serving.replicas if serving is not None else 1
    container: dict[str, Any] = {
        "name": "model",
        "ports": [{"name": "http", "containerPort": port}],
    }
    if version.image is not None:
        container["image"] = version.image
    else:
        container["image"] = (serving.image if serving else None) or default_image
        container["command"] = ["modelcanary"]
        container["args"] = [
            "serve",
            str(version.model_uri),
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ]
    if serving is not None and serving.command is not None:
        container["command"] = list(serving.command)
    if serving is not None and serving.args is not None:
        container["args"] = list(serving.args)
    if version.env:
        container["env"] = [{"name": k, "value": v} for k, v in sorted(version.env.items())]
    if version.resources is not None:
        container["resources"] = version.resources.to_dict()
    container["readinessProbe"] = {
        "httpGet": {"path": "/ping", "port": "http"},
        "periodSeconds": 5,
        "failureThreshold": 3,
    }
    pod_labels = {"app": name, **labels}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": pod_labels,
            "annotations": {SOURCE_ANNOTATION: version.source},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {SOURCE_ANNOTATION: version.source},
                },
                "spec": {"containers": [container]},
            },
        },
    }


# -- readiness ---------------------------------------------------------------------------------
def deployment_ready(deployment: KubeObject | None, threshold: int, what: str) -> tuple[bool, str]:
    """(ready, why not) of a Deployment per the ready threshold (percent of replicas), like
    Flagger: the generation observed, no ProgressDeadlineExceeded, enough updated, no old
    replicas left, enough of the updated replicas available."""
    if deployment is None:
        return False, f"{what} does not exist yet"
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = f"{what} Deployment {meta.get('name', '?')}"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and (
            condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            detail = condition.get("message") or "no progress"
            return False, (
                f"{name} exceeded its progressDeadlineSeconds "
                f"({spec.get('progressDeadlineSeconds', 600)}s): {detail}"
            )
    generation = meta.get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and int(observed) < int(generation):
        return False, f"{name}: waiting for the new generation to be observed"
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    if desired == 0:
        return False, f"{name} is scaled to 0"
    needed = max(1, math.ceil(desired * threshold / 100)) if threshold > 0 else 0
    updated = int(status.get("updatedReplicas") or 0)
    current = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    if updated < needed:
        return False, f"{name}: {updated} of {desired} replicas updated (need {needed})"
    if current > updated:
        return False, f"{name}: {current - updated} old replicas pending termination"
    if min(available, ready) < needed:
        return False, (
            f"{name}: {min(available, ready)} of {desired} replicas ready (need {needed})"
        )
    return True, ""
