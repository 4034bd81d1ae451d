"""The kube-controller-manager parts the kmock harness needs: the garbage collector and the
namespace controller, as a real cluster runs them next to the API server.

**Garbage collector** (background cascading deletion): when an object is removed, every
object whose ``metadata.ownerReferences`` all point at removed owners (by uid) is deleted in
turn (an object with finalizers is only marked, as a DELETE does), recursively. Owners are
"removed" once they are really gone, not while a finalizer holds them. Dependents of owners
that never existed in this harness are left alone (tests build objects with made-up uids).

**Namespace controller**: a DELETE of a Namespace marks it Terminating
(``deletionTimestamp``, ``spec.finalizers: [kubernetes]``, ``status.phase: Terminating``);
the controller then deletes everything in it - the kinds of ``namespace_deletion_first``
first (default: the RBAC objects, the order in which a namespaced operator loses its rights
before its objects are finalized, the race a real cluster loses whenever the Role goes
first), then the rest - honours finalizers (an object with finalizers, RBAC objects included,
gets a ``deletionTimestamp`` and stays until they are removed), keeps the Namespace's
``status.conditions`` as the real controller does (``NamespaceContentRemaining`` and
``NamespaceFinalizersRemaining`` True while objects remain: kopf keeps watching a terminating
namespace only while a condition is True), and removes the Namespace when it is empty. While a
namespace terminates, creating anything in it is refused with 403 ``NamespaceTerminating``.
Each deletion it makes is recorded in ``mock.namespace_journal`` as (plural, namespace, name,
``"marked"`` or ``"removed"``), in order.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from kmock._internal.k8s import KubernetesError

DEFAULT_FIRST = ("rolebindings", "roles")
"""Kinds (plurals) the namespace controller deletes first, by default."""


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _uid(raw: Any) -> str | None:
    meta = raw.get("metadata") if isinstance(raw, dict) else None
    uid = (meta or {}).get("uid")
    return str(uid) if uid else None


async def delete_object(mock: Any, key: Any) -> bool:
    """Delete one stored object as a DELETE request would (lock held by the caller): mark it
    when finalizers hold it, else remove it. True when it was removed."""
    obj = mock.objects[key]
    meta = obj.get("metadata", {})
    resource = key[0]
    if meta.get("finalizers"):
        if not meta.get("deletionTimestamp"):
            obj.patch({"metadata": {"deletionTimestamp": _now()}})
            await mock._buses[resource].put({"type": "MODIFIED", "object": obj.raw})
        return False
    raw = obj.raw
    obj.delete()
    await mock._buses[resource].put({"type": "DELETED", "object": raw})
    return True


async def collect_garbage(mock: Any) -> None:
    """Delete the dependents of removed owners until nothing more goes."""
    async with mock._lock:
        while True:
            live: set[str] = set()
            gone: set[str] = set()
            for obj in mock.objects.values():
                if obj.empty:
                    continue
                uid = _uid(obj.last.raw)
                if uid is None:
                    continue
                (gone if obj.deleted else live).add(uid)
            gone -= live
            removed = False
            for key, obj in list(mock.objects.items()):
                if obj.deleted:
                    continue
                owners = obj.get("metadata", {}).get("ownerReferences") or []
                uids = {str(o.get("uid")) for o in owners if isinstance(o, dict)}
                if uids and uids <= gone and not obj.get("metadata", {}).get("deletionTimestamp"):
                    removed = await delete_object(mock, key) or removed
            if not removed:
                return


def refuse_in_terminating(mock: Any, namespace: str | None) -> None:
    """403 on a create in a namespace that is being deleted, as the API server answers."""
    if not namespace:
        return
    for key, obj in mock.objects.items():
        if key[0].plural == "namespaces" and key[2] == namespace and not obj.deleted:
            if obj.get("metadata", {}).get("deletionTimestamp"):
                raise KubernetesError(
                    status=403,
                    reason="Forbidden",
                    message=f"unable to create new content in namespace {namespace} because it "
                    "is being terminated",
                    details={"causes": [{"reason": "NamespaceTerminating"}]},
                )
            return


def terminating_patch() -> dict[str, Any]:
    """What a DELETE of a Namespace writes: it is Terminating until emptied."""
    return {
        # metadata.finalizers too (the server keeps only spec.finalizers): kmock removes a
        # marked object without metadata.finalizers at once
        "metadata": {"deletionTimestamp": _now(), "finalizers": ["kubernetes"]},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Terminating"},
    }


def _conditions(remaining: list[Any], finalizers: list[str]) -> list[dict[str, Any]]:
    """The Namespace conditions the real controller writes while it empties a namespace."""

    def condition(kind: str, true: bool, reason: str, message: str) -> dict[str, Any]:
        return {
            "type": kind,
            "status": "True" if true else "False",
            "reason": reason if true else "ContentDeleted",
            "message": message if true else "All content successfully deleted",
        }

    return [
        condition("NamespaceDeletionDiscoveryFailure", False, "", ""),
        condition("NamespaceDeletionContentFailure", False, "", ""),
        condition(
            "NamespaceContentRemaining",
            bool(remaining),
            "SomeResourcesRemain",
            f"Some resources are remaining: {len(remaining)} objects",
        ),
        condition(
            "NamespaceFinalizersRemaining",
            bool(finalizers),
            "SomeFinalizersRemain",
            "Some content in the namespace has finalizers remaining: "
            + ", ".join(sorted(set(finalizers))),
        ),
    ]


async def _set_conditions(mock: Any, namespace: str, remaining: list[Any]) -> None:
    """Write the Namespace's conditions when they change (a MODIFIED event, as the real
    controller's status update)."""
    finalizers = [
        str(f)
        for key in remaining
        for f in mock.objects[key].get("metadata", {}).get("finalizers") or []
    ]
    wanted = _conditions(remaining, finalizers)
    for key, obj in mock.objects.items():
        mine = key[0].plural == "namespaces" and key[2] == namespace and not obj.deleted
        if mine and (obj.get("status") or {}).get("conditions") != wanted:
            obj.patch({"status": {"conditions": wanted}})
            await mock._buses[key[0]].put({"type": "MODIFIED", "object": obj.raw})


async def terminate_namespace(mock: Any, namespace: str, interval: float = 0.05) -> None:
    """The namespace controller for one Namespace: empty it, then remove it."""
    first: tuple[str, ...] = tuple(getattr(mock, "namespace_deletion_first", DEFAULT_FIRST))
    journal: list[tuple[str, str, str, str]] | None = getattr(mock, "namespace_journal", None)
    while True:
        async with mock._lock:
            keys = [k for k, o in mock.objects.items() if k[1] == namespace and not o.deleted]
            ordered = sorted(
                keys,
                key=lambda k: (
                    k[0].plural not in first,
                    first.index(k[0].plural) if k[0].plural in first else 0,
                ),
            )
            for key in ordered:
                marked = bool(mock.objects[key].get("metadata", {}).get("deletionTimestamp"))
                removed = await delete_object(mock, key)
                if journal is not None and (removed or not marked):
                    journal.append(
                        (key[0].plural, namespace, key[2], "removed" if removed else "marked")
                    )
            remaining = [k for k, o in mock.objects.items() if k[1] == namespace and not o.deleted]
            await _set_conditions(mock, namespace, remaining)
            if not remaining:
                for key, obj in mock.objects.items():
                    if key[0].plural == "namespaces" and key[2] == namespace and not obj.deleted:
                        raw = obj.raw
                        obj.delete()
                        await mock._buses[key[0]].put({"type": "DELETED", "object": raw})
                break
        await collect_garbage(mock)
        await asyncio.sleep(interval)
    await collect_garbage(mock)
