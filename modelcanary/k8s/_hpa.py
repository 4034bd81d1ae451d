"""The champion's autoscaler: a ``-primary`` copy of ``spec.autoscalerRef`` targeting the
champion Deployment (HorizontalPodAutoscaler, or a KEDA ScaledObject)."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import WorkloadError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._versions import AutoscalerRef
from ._objects import ROLLOUT_LABEL, KubeObjectStore


def primary_autoscaler(
    source: KubeObject, ref: AutoscalerRef, primary_workload: str, rollout: str
) -> KubeObject:
    """The ``<name>-primary`` copy of ``source`` scaling ``primary_workload``."""
    meta = source.get("metadata") or {}
    spec = copy.deepcopy(source.get("spec") or {})
    target = spec.setdefault("scaleTargetRef", {})
    target["name"] = primary_workload
    bounds = ref.primary_scaler_replicas or {}
    if ref.kind == "ScaledObject":
        if "minReplicas" in bounds:
            spec["minReplicaCount"] = bounds["minReplicas"]
        if "maxReplicas" in bounds:
            spec["maxReplicaCount"] = bounds["maxReplicas"]
        for trigger in spec.get("triggers") or []:
            query = (ref.primary_scaler_queries or {}).get(str(trigger.get("name", "")))
            if query is not None:
                trigger.setdefault("metadata", {})["query"] = query
    else:
        for key in ("minReplicas", "maxReplicas"):
            if key in bounds:
                spec[key] = bounds[key]
    labels = {k: v for k, v in (meta.get("labels") or {}).items()}
    labels[ROLLOUT_LABEL] = rollout
    return {
        "apiVersion": source.get("apiVersion", ref.api_version),
        "kind": source.get("kind", ref.kind),
        "metadata": {
            "name": f"{ref.name}-primary",
            "namespace": meta.get("namespace"),
            "labels": labels,
        },
        "spec": spec,
    }


class KubeAutoscalers:
    """Keeps the champion's autoscaler copy in line with ``spec.autoscalerRef``."""

    def __init__(self, store: KubeObjectStore) -> None:
        self.store = store

    def source(self, rollout: ModelRollout, namespace: str) -> KubeObject:
        """The referenced autoscaler; WorkloadError naming it when missing."""
        ref = rollout.spec.autoscaler_ref
        assert ref is not None
        found = self.store.get(ref.api_version, ref.kind, namespace, ref.name)
        if found is None:
            raise WorkloadError(
                f"spec.autoscalerRef: {ref.kind} {namespace}/{ref.name} ({ref.api_version}) "
                "does not exist (fix: create it, or remove autoscalerRef)"
            )
        return found

    def min_replicas(
        self, rollout: ModelRollout, namespace: str, *, primary: bool = False
    ) -> int | None:
        """The source autoscaler's minimum replicas (what a challenger starts with), or with
        ``primary`` the champion copy's (``primaryScalerReplicas.minReplicas`` when given)."""
        ref = rollout.spec.autoscaler_ref
        if ref is None:
            return None
        if primary and "minReplicas" in (ref.primary_scaler_replicas or {}):
            return int((ref.primary_scaler_replicas or {})["minReplicas"])
        spec: dict[str, Any] = self.source(rollout, namespace).get("spec") or {}
        value = spec.get("minReplicas", spec.get("minReplicaCount"))
        return int(value) if value is not None else 1

    def ensure(self, rollout: ModelRollout, namespace: str, primary_workload: str) -> None:
        """Apply the ``-primary`` copy (nothing without ``autoscalerRef``)."""
        ref = rollout.spec.autoscaler_ref
        if ref is None:
            return
        source = self.source(rollout, namespace)
        source.setdefault("metadata", {})["namespace"] = namespace
        self.store.apply(
            primary_autoscaler(source, ref, primary_workload, rollout.name),
            owner=rollout,
            owned=False,  # serves the champion, which outlives the rollout
        )
