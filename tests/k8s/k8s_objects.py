"""Builders of rollouts and core objects for the k8s adapter tests, and schema validation."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
from kube_rollout_fixtures import app_deployment, http_container

from modelcanary.spec import ModelRollout, parse_rollout

K8S_VERSION = "1.30"
ANALYSIS: dict[str, Any] = {
    "interval": "30s",
    "threshold": 2,
    "stepWeights": [10, 50],
    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
}


def validate(obj: dict[str, Any]) -> None:
    """Raise unless ``obj`` is valid for Kubernetes 1.30 (strict: no unknown fields)."""
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def target_rollout(
    name: str = "podinfo",
    *,
    uid: str | None = None,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> ModelRollout:
    """A targetRef rollout of Deployment ``name`` (Istio router)."""
    return _rollout(
        name,
        uid,
        status,
        {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "router": {"provider": "istio"},
            "service": {"port": 9898},
            "analysis": ANALYSIS,
            **spec,
        },
    )


def versions_rollout(
    name: str = "fraud",
    *,
    challenger: str = "models:/fraud/2",
    uid: str | None = None,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> ModelRollout:
    """A champion/challenger rollout of two modelUri versions (Istio router)."""
    return _rollout(
        name,
        uid,
        status,
        {
            "champion": {"modelUri": "models:/fraud@champion"},
            "challenger": {
                "modelUri": challenger,
                "env": {"MLFLOW_TRACKING_URI": "http://mlflow:5000"},
                "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
                "serving": {"image": "ghcr.io/acme/serve:1.2", "replicas": 2, "port": 8081},
            },
            "router": {"provider": "istio"},
            "analysis": ANALYSIS,
            **spec,
        },
    )


def _rollout(
    name: str, uid: str | None, status: dict[str, Any] | None, spec: dict[str, Any]
) -> ModelRollout:
    """Rollout ``name`` in namespace default with ``spec`` (and ``uid``, ``status`` if given)."""
    doc: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "default", **({"uid": uid} if uid else {})},
        "spec": spec,
    }
    if status is not None:
        doc["status"] = status
    return parse_rollout(doc)


def deployment(
    name: str,
    *,
    image: str = "ghcr.io/stefanprodan/podinfo:6.0.0",
    replicas: int = 2,
    config_map: str | None = None,
    secret: str | None = None,
) -> dict[str, Any]:
    """A podinfo-like Deployment selecting ``app: <name>`` (optionally using config)."""
    container = http_container("podinfod", image, 9898)
    volumes: list[dict[str, Any]] = []
    if config_map:
        container["envFrom"] = [{"configMapRef": {"name": config_map}}]
        volumes.append({"name": "config", "configMap": {"name": config_map}})
        container["volumeMounts"] = [{"name": "config", "mountPath": "/etc/podinfo"}]
    if secret:
        container["env"] = [
            {
                "name": "TOKEN",
                "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}},
            }
        ]
    pod_spec: dict[str, Any] = {"containers": [container]}
    if volumes:
        pod_spec["volumes"] = volumes
    return app_deployment(name, pod_spec, replicas)


def ready_status(replicas: int, *, ready: int | None = None, generation: int = 1) -> dict[str, Any]:
    """A Deployment status with ``ready`` (default all) of ``replicas`` ready and updated."""
    ready = replicas if ready is None else ready
    return {
        "status": {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
    }


def template_patch(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A merge patch giving a Deployment's pod template this one ``container`` (a new
    revision), plus other top-level ``spec`` fields (e.g. ``minReadySeconds=3``)."""
    return {"spec": {**spec, "template": {"spec": {"containers": [container]}}}}
