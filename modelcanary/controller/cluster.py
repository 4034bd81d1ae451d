"""ModelRollouts in a cluster as the command line sees them: apply, read, steer.

``modelcanary apply|status|watch|history|promote|abort|...`` (cluster mode) use
:class:`ClusterRollouts`; it reads and writes the ModelRollout custom resource through the
ports (``ObjectStore`` for the resource, ``StatusStore`` for its parsed status), implemented by
``modelcanary.k8s`` on a kubeconfig / context / in-cluster connection. The operator applies
what is written here (a spec, or a manual-action annotation) at its next tick.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..engine.actions import ACTION_REASON, action_annotations
from ..errors import SpecError, SpecIssue
from ..ports import ObjectStore, StatusStore, Stored
from ..spec import ModelRollout

API_VERSION, KIND = "modelcanary.io/v1alpha1", "ModelRollout"


@dataclass
class ClusterRollouts:
    """ModelRollout resources of one cluster."""

    objects: ObjectStore
    store: StatusStore
    patch_metadata: Callable[[str, str, dict[str, Any]], None]
    """JSON-merge-patch the resource's metadata (name, namespace, changes)."""
    list_objects: Callable[[str, str, str, str], list[dict[str, Any]]] | None = None
    """Objects of a kind by label selector (apiVersion, kind, namespace, selector); the
    ``kubectl modelcanary get`` tree finds what the operator labelled with it."""

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> ClusterRollouts:
        """Connect with a kubeconfig (``kubeconfig``/``$KUBECONFIG``/``~/.kube/config``, optional
        ``context``) or the in-cluster service account; SpecError saying how when neither works.
        """
        from ..k8s.client import KubeClient, Ref, load_api_client
        from ..k8s.objects import KubeObjectStore
        from ..k8s.status import KubeStatusStore

        # $KUBECONFIG as read now (the kubernetes client reads it once, at import)
        kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or None
        api = load_api_client(kubeconfig=kubeconfig, context=context)
        client = KubeClient(api)

        def patch_metadata(name: str, namespace: str, changes: dict[str, Any]) -> None:
            client.patch(Ref(API_VERSION, KIND, namespace, name), {"metadata": changes})

        def list_objects(
            api_version: str, kind: str, namespace: str, selector: str
        ) -> list[dict[str, Any]]:
            return client.list(Ref(api_version, kind, namespace, ""), label_selector=selector)

        return cls(KubeObjectStore(client), KubeStatusStore(client), patch_metadata, list_objects)

    # -- reading ----------------------------------------------------------------------------
    def get(self, name: str, namespace: str) -> Stored | None:
        """The rollout with its status (None when it does not exist)."""
        return self.store.get(name, namespace)

    def require(self, name: str, namespace: str) -> Stored:
        """The rollout, or SpecError naming the namespace and how to create it."""
        stored = self.get(name, namespace)
        if stored is None:
            raise SpecError(
                SpecIssue(
                    "NAME",
                    f"no ModelRollout {namespace}/{name} in the cluster",
                    "check the name and -n/--namespace, or create it with `modelcanary apply FILE`",
                )
            )
        return stored

    # -- writing ----------------------------------------------------------------------------
    def apply(self, rollout: ModelRollout, namespace: str | None = None) -> tuple[str, str]:
        """Create the resource or patch its spec, labels and annotations to match ``rollout``
        (``kubectl apply`` semantics: what an earlier apply set and this one drops is removed;
        annotations others set, such as a manual action, stay).

        Returns (namespace, ``created`` | ``configured`` | ``unchanged``). The status is never
        written here: it belongs to the operator.
        """
        ns = namespace or rollout.metadata.namespace or "default"
        body = resource(rollout, ns)
        before = self.objects.get(API_VERSION, KIND, ns, rollout.name)
        after = self.objects.apply(body)
        if before is None:
            return ns, "created"
        same = _version(after) is not None and _version(after) == _version(before)
        return ns, "unchanged" if same else "configured"

    def act(self, name: str, namespace: str, kind: str, reason: str = "") -> str:
        """Annotate a manual action (``approve``, ``abort``...) with a fresh id; returns the id."""
        self.require(name, namespace)
        stamp = f"{kind}-{time.time_ns()}"
        notes: dict[str, str | None] = {ACTION_REASON: None}  # no stale reason of an earlier one
        notes.update(action_annotations(kind, stamp, reason))
        self.patch_metadata(name, namespace, {"annotations": notes})
        return stamp


def resource(rollout: ModelRollout, namespace: str) -> dict[str, Any]:
    """The custom resource for ``rollout`` (spec as written: defaults left to the CRD)."""
    data = rollout.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    meta = rollout.metadata.model_dump(mode="json", by_alias=True, exclude_none=True)
    meta["namespace"] = namespace
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": meta,
        "spec": data.get("spec") or {},
    }


def _version(obj: dict[str, Any]) -> str | None:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return str(version) if version else None
