"""``KubeStatusStore``: the StatusStore port on the ModelRollout custom resource.

``get`` reads the CR (version = ``metadata.resourceVersion``, deleted = a
``deletionTimestamp`` is set). ``save_status`` replaces ``status`` through the status
subresource with a JSON patch that also carries the expected ``resourceVersion``: the API
server answers 409 when the rollout changed since it was read, raised as ``ConflictError``
(the engine re-reads and retries on its next tick). A server that does not report
resourceVersions (a test mock) gets no precondition.

``status.observedGeneration`` is the ``metadata.generation`` of the object the tick read: the
store remembers it with the ``resourceVersion`` of each ``get``, and a status saved with that
version as its precondition describes exactly that generation (``kubectl wait
--for=jsonpath='{.status.observedGeneration}'=N`` and GitOps health checks rely on it).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConflictError, SpecError
from ..ports import Stored
from ..spec import ModelRollout, RolloutStatus, parse_rollout
from ._client import KubeClient, KubeNotFound, Ref

API_VERSION = "modelcanary.io/v1alpha1"
KIND = "ModelRollout"
_METADATA = (
    "name",
    "namespace",
    "labels",
    "annotations",
    "generation",
    "resourceVersion",
    "uid",
    "creationTimestamp",
)
"""The metadata fields a ModelRollout models (managedFields, finalizers... are dropped)."""


def rollout_from_object(obj: dict[str, Any]) -> ModelRollout:
    """The ModelRollout of a stored CR (SpecError naming the field when it is invalid)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k in _METADATA}
    status = obj.get("status")
    if isinstance(status, dict):
        status = {k: v for k, v in status.items() if k != "kopf"} or None
    doc = {
        "apiVersion": obj.get("apiVersion", API_VERSION),
        "kind": obj.get("kind", KIND),
        "metadata": meta,
        "spec": obj.get("spec") or {},
    }
    if status:
        doc["status"] = status
    name = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    return parse_rollout(doc, source=f"ModelRollout {name}")


class KubeStatusStore:
    """Rollouts and their status as ModelRollout custom resources."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self._generations: dict[tuple[str, str], tuple[str, int]] = {}
        """(namespace, name) -> (resourceVersion, generation) of the last object read."""
        self._saved: dict[tuple[str, str], Stored] = {}
        """(namespace, name) -> the rollout as the last status write returned it."""

    def get(self, name: str, namespace: str) -> Stored | None:
        """The stored rollout (None when it does not exist)."""
        obj = self.client.get(Ref(API_VERSION, KIND, namespace, name))
        if obj is None:
            self._generations.pop((namespace, name), None)
            return None
        meta = obj.get("metadata") or {}
        version = meta.get("resourceVersion")
        if version and meta.get("generation") is not None:
            self._generations[(namespace, name)] = (str(version), int(meta["generation"]))
        return Stored(
            rollout_from_object(obj),
            str(version) if version else None,
            bool(meta.get("deletionTimestamp")),
        )

    def stamp(self, name: str, namespace: str) -> str | None:
        """The CR's ``resourceVersion`` (moves on every write), read without parsing the
        rollout; None when it is gone or the server reports none."""
        obj = self.client.get(Ref(API_VERSION, KIND, namespace, name))
        version = ((obj or {}).get("metadata") or {}).get("resourceVersion")
        return str(version) if version else None

    def save_status(
        self, name: str, namespace: str, status: RolloutStatus, expected_version: str | None
    ) -> str | None:
        """Replace the status; ConflictError when the rollout changed or is gone."""
        ops: list[dict[str, Any]] = []
        if expected_version is not None:
            ops.append(
                {"op": "replace", "path": "/metadata/resourceVersion", "value": expected_version}
            )
        read = self._generations.get((namespace, name))
        if read is not None and expected_version is not None and read[0] == expected_version:
            status = status.updated(observed_generation=read[1])
        ops.append({"op": "add", "path": "/status", "value": status.to_dict()})
        try:
            stored = self.client.patch(
                Ref(API_VERSION, KIND, namespace, name), ops, subresource="status"
            )
        except KubeNotFound:
            raise ConflictError(f"rollout {namespace}/{name} no longer exists") from None
        except ConflictError:
            raise ConflictError(
                f"rollout {namespace}/{name} changed since version {expected_version}; "
                "re-read and retry"
            ) from None
        meta = stored.get("metadata") or {}
        version = meta.get("resourceVersion")
        if read is not None and version and read[0] == expected_version:
            self._generations[(namespace, name)] = (str(version), read[1])  # same generation
        if version and stored.get("spec") is not None:
            try:
                rollout = rollout_from_object(stored)
            except SpecError:
                self._saved.pop((namespace, name), None)
            else:
                deleted = bool(meta.get("deletionTimestamp"))
                self._saved[(namespace, name)] = Stored(rollout, str(version), deleted)
        return str(version) if version else None

    def saved(self, name: str, namespace: str) -> Stored | None:
        """The rollout as the API server answered the last status write (once: taken), so
        a caller remembering it needs no GET to know what is stored (status with its
        ``observedGeneration``, resourceVersion)."""
        return self._saved.pop((namespace, name), None)
