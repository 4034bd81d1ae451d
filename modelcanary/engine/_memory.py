"""An in-memory StatusStore with optimistic concurrency (notebooks, the local runtime, tests)."""

from __future__ import annotations

import threading

from ..errors import ConflictError
from ..ports import Stored
from ..spec import ModelRollout, RolloutStatus

Item = tuple[ModelRollout, int, bool]
"""A stored rollout: resource, version, deletion requested."""


def checked(item: Item | None, name: str, namespace: str, expected_version: str | None) -> Item:
    """Optimistic concurrency shared by the stores: the item, or ConflictError when it is gone
    or its version moved since ``expected_version`` was read."""
    if item is None:
        raise ConflictError(f"rollout {namespace}/{name} no longer exists")
    if expected_version is not None and expected_version != str(item[1]):
        raise ConflictError(
            f"rollout {namespace}/{name} changed (version {item[1]}, "
            f"expected {expected_version}); re-read and retry"
        )
    return item


class MemoryStatusStore:
    """Rollouts by (namespace, name), each with a version bumped on every write."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], tuple[ModelRollout, int, bool]] = {}
        self._lock = threading.Lock()

    def put(self, rollout: ModelRollout) -> None:
        """Create or replace a rollout (keeps its status if the new one has none)."""
        key = (rollout.metadata.namespace or "default", rollout.name)
        with self._lock:
            old = self._items.get(key)
            if old is not None and rollout.status is None:
                rollout = rollout.model_copy(update={"status": old[0].status})
            self._items[key] = (rollout, (old[1] + 1) if old else 1, False)

    def annotate(self, name: str, namespace: str, annotations: dict[str, str]) -> None:
        """Merge annotations into the stored rollout (how manual actions arrive)."""
        with self._lock:
            rollout, version, deleted = self._items[(namespace, name)]
            merged = {**(rollout.metadata.annotations or {}), **annotations}
            meta = rollout.metadata.model_copy(update={"annotations": merged})
            self._items[(namespace, name)] = (
                rollout.model_copy(update={"metadata": meta}),
                version + 1,
                deleted,
            )

    def delete(self, name: str, namespace: str) -> None:
        """Request deletion: the next tick sees ``deleted`` and terminates the rollout."""
        with self._lock:
            rollout, version, _ = self._items[(namespace, name)]
            self._items[(namespace, name)] = (rollout, version + 1, True)

    def remove(self, name: str, namespace: str) -> None:
        """Forget the rollout entirely."""
        with self._lock:
            self._items.pop((namespace, name), None)

    def get(self, name: str, namespace: str) -> Stored | None:
        with self._lock:
            item = self._items.get((namespace, name))
        if item is None:
            return None
        rollout, version, deleted = item
        return Stored(rollout, str(version), deleted)

    def stamp(self, name: str, namespace: str) -> str | None:
        """The stored rollout's version (bumped on every write), None when there is none."""
        with self._lock:
            item = self._items.get((namespace, name))
        return str(item[1]) if item is not None else None

    def save_status(
        self, name: str, namespace: str, status: RolloutStatus, expected_version: str | None
    ) -> str | None:
        with self._lock:
            item = self._items.get((namespace, name))
            rollout, version, deleted = checked(item, name, namespace, expected_version)
            self._items[(namespace, name)] = (
                rollout.model_copy(update={"status": status}),
                version + 1,
                deleted,
            )
            return str(version + 1)
