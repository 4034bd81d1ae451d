"""``KubeObjectStore``: the ObjectStore port on the Kubernetes API (create, drift-correct, delete).

``apply`` creates the object, or JSON-merge-patches the stored one when its labels, annotations
or content (every top-level field but apiVersion/kind/metadata/status: ``spec``, a ConfigMap's
``data``...) drifted. Drift is "the desired values are not all in the stored object": fields the
API server defaults do not count. Like ``kubectl apply``, the last applied content is kept in the
annotation ``modelcanary.io/last-applied``, so a field removed from the desired object is
removed from the stored one too (a ``null`` in the merge patch).

Objects are owned by their ModelRollout (an ``ownerReference``, so deleting the rollout lets
the garbage collector delete them) when ``apply(obj, owner=rollout)`` is given (the workloads do
this) or when the object already carries ``metadata.ownerReferences`` (routers render their own;
an object without one, e.g. an adopted user object, stays unowned). What must keep serving
after the rollout is deleted (the champion Deployment and its copies, the apex Service) is
applied with ``owned=False``: labelled for the rollout but never owned, and an ownerReference to
the rollout an older operator set is removed, so the garbage collector leaves it in place.
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

from ..errors import ConflictError
from ..ports import KubeObject, removals
from ..spec import ModelRollout
from ._client import KubeClient, KubeNotFound, Ref

LAST_APPLIED = "modelcanary.io/last-applied"
"""Annotation: JSON of the labels, annotations and content last applied (3-way removals)."""
ROLLOUT_LABEL = "modelcanary.io/rollout"
"""Label naming the ModelRollout an object belongs to (same namespace)."""
MANAGED_BY = {"app.kubernetes.io/managed-by": "modelcanary"}
_SKIP = ("apiVersion", "kind", "metadata", "status")


def owner_reference(rollout: ModelRollout) -> dict[str, Any] | None:
    """The ownerReference to ``rollout`` (None when it has no uid, i.e. it is not stored)."""
    uid = rollout.metadata.uid
    if not uid:
        return None
    return {
        "apiVersion": rollout.api_version,
        "kind": rollout.kind,
        "name": rollout.name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def contains(stored: Any, desired: Any) -> bool:
    """True when every value of ``desired`` is in ``stored`` (dicts: recursively; lists: same
    length and each item contained; scalars: equal)."""
    if isinstance(desired, dict):
        return isinstance(stored, dict) and all(
            k in stored and contains(stored[k], v) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(desired)
            and all(contains(s, d) for s, d in zip(stored, desired, strict=True))
        )
    return bool(stored == desired)


def merge(patch: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge (``extra`` wins unless ``patch`` already holds a dict there)."""
    out = copy.deepcopy(patch)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif key not in out:
            out[key] = value
    return out


def _disown(patch: dict[str, Any], stored: KubeObject, owner: ModelRollout) -> dict[str, Any]:
    """``patch`` plus the removal of an ownerReference to ``owner`` from ``stored``."""
    owners = (stored.get("metadata") or {}).get("ownerReferences") or []
    kept = [
        o
        for o in owners
        if o.get("uid") != owner.metadata.uid
        and (o.get("kind"), o.get("name")) != (owner.kind, owner.name)
    ]
    if len(kept) == len(owners):
        return patch
    out = copy.deepcopy(patch)
    out.setdefault("metadata", {})["ownerReferences"] = kept or None
    return out


def _lean(obj: KubeObject) -> KubeObject:
    """``obj`` without ``metadata.managedFields`` (often larger than the rest, never used to
    decide a write): what :meth:`KubeObjectStore.known` keeps of thousands of objects."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def _content(obj: KubeObject) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in _SKIP}


class KubeObjectStore:
    """The ObjectStore port: Kubernetes objects by apiVersion/kind/namespace/name."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self._known: dict[Ref, KubeObject] = {}
        """Each object as this store last read or wrote it (see :meth:`known`)."""

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> KubeObject | None:
        """The object, or None when it does not exist."""
        return self._read(Ref(api_version, kind, namespace, name))

    def known(self, api_version: str, kind: str, namespace: str, name: str) -> KubeObject | None:
        """The object as this store last read or wrote it, without a request (None: never
        seen, or deleted since). It may be stale: :meth:`apply_over` it with ``guarded``,
        which the API server refuses (409) if it changed meanwhile."""
        return self._known.get(Ref(api_version, kind, namespace, name))

    def _read(self, ref: Ref) -> KubeObject | None:
        stored = self.client.get(ref)
        return self._remember(ref, stored)

    def _remember(self, ref: Ref, stored: KubeObject | None) -> KubeObject | None:
        if stored is None:
            self._known.pop(ref, None)
        else:
            self._known[ref] = _lean(stored)
        return stored

    def apply(
        self, obj: KubeObject, owner: ModelRollout | None = None, *, owned: bool = True
    ) -> KubeObject:
        """Create ``obj`` or patch the stored one so its labels, annotations and content match;
        returns the object as stored. A concurrent create is retried once as a patch.

        ``owned=False`` (with an ``owner``): made for the rollout but left behind when it is
        deleted (no ownerReference to it; one found on the stored object is removed)."""
        stored = self._read(Ref.of(obj))
        applied = self.apply_over(obj, stored, owner, owned=owned)
        assert applied is not None  # only a guarded apply returns None
        return applied

    def apply_over(
        self,
        obj: KubeObject,
        stored: KubeObject | None,
        owner: ModelRollout | None = None,
        *,
        owned: bool = True,
        guarded: bool = False,
    ) -> KubeObject | None:
        """:meth:`apply` over ``stored``, the object as the caller just read it (None: it does
        not exist): no second GET of it. A caller that read the object to decide what to
        render (a router checking whether it adopted it) saves one request per object. The
        write is what :meth:`apply` would send for that read; a create that finds the
        object created meanwhile becomes a patch, a patch that finds it deleted a create.

        ``guarded``: ``stored`` may be stale (:meth:`known`); the patch carries its
        ``resourceVersion``, so the API server answers 409 (ConflictError) if the object
        changed since; when it did not drift from ``stored`` nothing is written and None is
        returned (the caller then reads it and applies again: drift made by someone else
        since is corrected as before)."""
        desired = self._desired(obj, owner, owned=owned)
        ref = Ref.of(desired)
        if stored is None:
            try:
                return self._wrote(ref, self.client.create(desired))
            except ConflictError:  # created meanwhile: patch it instead
                stored = self._read(ref)
                if stored is None:
                    raise
        patch = self._drift(stored, desired)
        if owner is not None and not owned:
            patch = _disown(patch, stored, owner)
        if not patch:
            return None if guarded else stored
        version = (stored.get("metadata") or {}).get("resourceVersion")
        if guarded and version:
            patch = merge(patch, {"metadata": {"resourceVersion": version}})
        try:
            return self._wrote(ref, self.client.patch(ref, patch))
        except KubeNotFound:  # deleted meanwhile
            self._known.pop(ref, None)
            if guarded:
                raise ConflictError(f"{ref} was deleted; read it") from None
            return self._wrote(ref, self.client.create(desired))
        except ConflictError:
            self._known.pop(ref, None)
            raise

    def _wrote(self, ref: Ref, stored: KubeObject) -> KubeObject:
        self._known[ref] = _lean(stored)
        return stored

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete the object; an object already gone is not an error."""
        ref = Ref(api_version, kind, namespace, name)
        self._known.pop(ref, None)
        self.client.delete(ref)

    # -- helpers --------------------------------------------------------------------------
    def disown(self, stored: KubeObject | None, owner: ModelRollout) -> None:
        """Remove an ownerReference to ``owner`` from the ``stored`` object, if it has one
        (an object an older operator owned that must outlive the rollout)."""
        if stored is None:
            return
        patch = _disown({}, stored, owner)
        if patch:
            with contextlib.suppress(KubeNotFound):
                self.client.patch(Ref.of(stored), patch)

    def own(self, obj: KubeObject, owner: ModelRollout) -> KubeObject | None:
        """Give the stored ``obj`` an ownerReference to ``owner`` (so the garbage collector
        deletes it with the rollout); None when it does not exist."""
        stored = self.client.get(Ref.of(obj))
        reference = owner_reference(owner)
        if stored is None or reference is None:
            return stored
        owners = (stored.get("metadata") or {}).get("ownerReferences") or []
        if any(o.get("uid") == reference["uid"] for o in owners):
            return stored
        patch = {"metadata": {"ownerReferences": [*owners, reference]}}
        try:
            return self.client.patch(Ref.of(stored), patch)
        except KubeNotFound:
            return None

    def _desired(
        self, obj: KubeObject, owner: ModelRollout | None, *, owned: bool = True
    ) -> KubeObject:
        desired = copy.deepcopy(obj)
        desired.pop("status", None)
        meta = desired.setdefault("metadata", {})
        meta.setdefault("namespace", Ref.of(desired).namespace or None)
        if meta.get("namespace") is None:
            meta.pop("namespace")
        meta["labels"] = dict(meta.get("labels") or {})
        if owner is not None:  # an object made for the rollout
            meta["labels"] = {**MANAGED_BY, **meta["labels"]}
            reference = owner_reference(owner) if owned else None
            if reference is not None and not meta.get("ownerReferences"):
                meta["ownerReferences"] = [reference]
        applied = {
            "labels": meta["labels"],
            "annotations": {
                k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED
            },
            "content": _content(desired),
        }
        annotations = dict(applied["annotations"])
        annotations[LAST_APPLIED] = json.dumps(applied, sort_keys=True, separators=(",", ":"))
        meta["annotations"] = annotations
        return desired

    @staticmethod
    def _drift(stored: KubeObject, desired: KubeObject) -> dict[str, Any]:
        """The merge patch that corrects ``stored`` (empty when nothing drifted)."""
        meta = stored.get("metadata") or {}
        want = desired["metadata"]
        try:
            previous = json.loads((meta.get("annotations") or {}).get(LAST_APPLIED, "{}"))
        except ValueError:
            previous = {}
        if not isinstance(previous, dict):
            previous = {}
        content = _content(desired)
        patch: dict[str, Any] = {}
        if not contains(_content(stored), content):
            patch.update(content)
        gone = removals(previous.get("content") or {}, content)
        gone = {k: v for k, v in gone.items() if k in stored}
        patch = merge(patch, gone) if patch else gone
        meta_patch: dict[str, Any] = {}
        for field in ("labels", "annotations"):
            mine = {k: v for k, v in want[field].items() if k != LAST_APPLIED}
            dropped = {
                k: None
                for k in (previous.get(field) or {})
                if k not in want[field] and k in (meta.get(field) or {})
            }
            if not contains(meta.get(field) or {}, mine) or dropped:
                meta_patch[field] = {**mine, **dropped}
        owners = want.get("ownerReferences")
        if owners and not any(
            o.get("uid") == owners[0]["uid"] for o in meta.get("ownerReferences") or []
        ):
            meta_patch["ownerReferences"] = (meta.get("ownerReferences") or []) + owners
        if not patch and not meta_patch:
            return {}
        annotations = meta_patch.setdefault("annotations", {})
        annotations[LAST_APPLIED] = want["annotations"][LAST_APPLIED]
        patch["metadata"] = meta_patch
        return patch
