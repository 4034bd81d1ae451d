"""An in-memory ``ObjectStore``: Kubernetes objects in a dict (unit tests, ``modelcanary render``).

``apply`` follows the port's contract as the Kubernetes adapter (``kubectl apply`` style): it
creates a missing object, or patches an existing one so its labels and annotations include the
given ones, a label/annotation applied before but no longer given is removed (others' keys
stay), and its content (``spec``...) is JSON-merge-patched with the given one plus the removal
of what was applied before and is no longer given (three-way, as ``kubectl apply``): fields
never given (a user's predictor under KServe's percent) stay, as on a real API server; other
metadata and the status stay. Objects are deep-copied in and out, so a caller never edits the
store by accident.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

from ..errors import RouterError
from ..ports import KubeObject, merge_patched, removals

Key = tuple[str, str, str, str]
"""(apiVersion, kind, namespace, name)."""


def object_key(obj: KubeObject) -> Key:
    """The store key of ``obj`` (namespace ``default`` when unset)."""
    meta = obj.get("metadata") or {}
    try:
        return (obj["apiVersion"], obj["kind"], meta.get("namespace") or "default", meta["name"])
    except KeyError as exc:
        raise RouterError(f"object has no {exc.args[0]}: {obj!r:.200}") from None


class MemoryObjectStore:
    """``ObjectStore`` in a dict, keyed by apiVersion/kind/namespace/name."""

    def __init__(self, objects: list[KubeObject] | None = None) -> None:
        self._objects: dict[Key, KubeObject] = {}
        self._applied: dict[Key, dict[str, set[str]]] = {}
        """Label/annotation keys last applied per object (what a later apply may remove)."""
        self._content: dict[Key, dict[str, object]] = {}
        """Content (``spec``...) last applied per object (what a later apply may remove)."""
        self._generation = 0
        for obj in objects or []:  # there before us: another client's (nothing we applied)
            self.edit(obj)

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> KubeObject | None:
        """A copy of the object, or None."""
        found = self._objects.get((api_version, kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def apply(self, obj: KubeObject) -> KubeObject:
        """Create ``obj`` or patch the stored one (3-way labels/annotations, content replaced)."""
        key = object_key(obj)
        new = copy.deepcopy(obj)
        new.setdefault("metadata", {})["namespace"] = key[2]
        old = self._objects.get(key)
        if old is not None:
            merged = copy.deepcopy(old)
            meta = merged.setdefault("metadata", {})
            previous = self._applied.get(key, {})
            for field in ("labels", "annotations"):
                given = new["metadata"].get(field) or {}
                kept = {
                    k: v
                    for k, v in (meta.get(field) or {}).items()
                    if k in given or k not in previous.get(field, set())
                }
                meta[field] = {**kept, **given}
                if not meta[field]:
                    del meta[field]
            content = _content(new)
            gone = removals(self._content.get(key, {}), content)
            patched = merge_patched(_content(merged), _with(content, gone))
            new = {k: v for k, v in merged.items() if k in _NOT_CONTENT} | patched
        self._content[key] = copy.deepcopy(_content(obj))
        self._applied[key] = {
            field: set(obj.get("metadata", {}).get(field) or {})
            for field in ("labels", "annotations")
        }
        self._generation += 1
        new["metadata"]["resourceVersion"] = str(self._generation)
        self._objects[key] = new
        return copy.deepcopy(new)

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete the object (already gone: nothing to do)."""
        self._objects.pop((api_version, kind, namespace, name), None)
        self._applied.pop((api_version, kind, namespace, name), None)
        self._content.pop((api_version, kind, namespace, name), None)

    # -- other writers and introspection (tests, render) ------------------------------------
    def edit(self, obj: KubeObject) -> None:
        """Store ``obj`` as another client would (``kubectl edit``): not an apply of ours."""
        key = object_key(obj)
        new = copy.deepcopy(obj)
        new.setdefault("metadata", {})["namespace"] = key[2]
        self._generation += 1
        new["metadata"]["resourceVersion"] = str(self._generation)
        self._objects[key] = new

    def __iter__(self) -> Iterator[KubeObject]:
        return iter([copy.deepcopy(o) for o in self._objects.values()])  # a snapshot

    def __len__(self) -> int:
        return len(self._objects)

    def keys(self) -> list[Key]:
        """Keys of the stored objects, in insertion order."""
        return list(self._objects)


_NOT_CONTENT = ("metadata", "status", "apiVersion", "kind")


def _content(obj: KubeObject) -> dict[str, object]:
    return {k: v for k, v in obj.items() if k not in _NOT_CONTENT}


def _with(patch: dict[str, object], gone: dict[str, object]) -> dict[str, object]:
    """``patch`` plus the removals in ``gone`` (a removal never overrides a given value)."""
    out = dict(patch)
    for key, value in gone.items():
        given = out.get(key)
        if key not in out:
            out[key] = value
        elif isinstance(value, dict) and isinstance(given, dict):
            out[key] = _with(given, value)
    return out
