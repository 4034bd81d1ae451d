"""Field managers for the kmock harness: ``metadata.managedFields`` as the API server keeps it.

The real API server records, per field manager and operation, the fields each writer set
(``managedFields`` entries with ``manager``, ``operation`` Apply/Update, ``apiVersion``,
``time``, ``fieldsType: FieldsV1``, ``fieldsV1`` and ``subresource`` for status writes). A
write without ``?fieldManager=`` is filed under the start of its User-Agent up to the first
``/`` (the Python client sends ``OpenAPI-Generator/<version>/python``, kopf ``kopf/<version>``).

Semantics modelled here (enough for conflict tests, simpler than structured-merge-diff):

- fields are leaf paths of nested maps; a list is one atomic field (no ``k:``/``v:`` keys);
- **Update** (create, merge patch, JSON patch): the writer owns every field whose value it
  changed; the other managers lose those fields; removed fields are owned by nobody;
- **Apply** (``application/apply-patch+yaml``): the applier's set becomes exactly the fields
  of its configuration; a field another manager owns with a different value is a conflict
  (409, ``Apply failed with N conflict(s): conflict with "M" using V: .a.b``) unless
  ``force=true``, which takes it over; equal values become shared ownership.

Identity and server-owned metadata (name, namespace, uid, resourceVersion, generation,
timestamps, managedFields) and ``apiVersion``/``kind`` are never tracked, as on the server.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

Path = tuple[str, ...]

UNTRACKED_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
        "generateName",
    }
)


def default_manager(headers: Mapping[str, str]) -> str:
    """The manager of a write without ``fieldManager``: the User-Agent up to its first ``/``."""
    agent = next((v for k, v in headers.items() if k.lower() == "user-agent"), "")
    return agent.split("/", 1)[0] or "unknown"


def leaves(obj: Any, prefix: Path = ()) -> dict[Path, Any]:
    """Every tracked leaf of an object: path -> value (maps recursed, lists atomic)."""
    out: dict[Path, Any] = {}
    if not isinstance(obj, dict):
        return {prefix: obj} if prefix else out
    for key, value in obj.items():
        if not prefix and key in ("apiVersion", "kind"):
            continue
        if prefix == ("metadata",) and key in UNTRACKED_META:
            continue
        path = (*prefix, str(key))
        if isinstance(value, dict) and value:
            out.update(leaves(value, path))
        else:
            out[path] = value
    return out


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """FieldsV1 of a set of leaf paths: ``{"f:spec": {"f:replicas": {}}}``."""
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return root


def from_fields_v1(fields: Any, prefix: Path = ()) -> set[Path]:
    """The leaf paths of a FieldsV1 map (keys other than ``f:NAME`` are ignored)."""
    out: set[Path] = set()
    if not isinstance(fields, dict):
        return out
    for key, value in fields.items():
        if not key.startswith("f:"):
            continue
        path = (*prefix, key[2:])
        if isinstance(value, dict) and any(k.startswith("f:") for k in value):
            out |= from_fields_v1(value, path)
        else:
            out.add(path)
    return out


def dotted(path: Path) -> str:
    """``.spec.replicas``, as the API server names a conflicting field."""
    return "".join(f".{p}" for p in path)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    return (
        str(entry.get("manager", "")),
        str(entry.get("operation", "")),
        str(entry.get("subresource", "")),
    )


def _entries(
    managed: Any,
) -> dict[tuple[str, str, str], tuple[dict[str, Any], set[Path]]]:
    out: dict[tuple[str, str, str], tuple[dict[str, Any], set[Path]]] = {}
    for entry in managed if isinstance(managed, list) else []:
        if isinstance(entry, dict):
            out[_key(entry)] = (dict(entry), from_fields_v1(entry.get("fieldsV1")))
    return out


def _render(
    entries: dict[tuple[str, str, str], tuple[dict[str, Any], set[Path]]],
) -> list[dict[str, Any]]:
    out = []
    for entry, paths in entries.values():
        if not paths:
            continue
        out.append({**entry, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)})
    return out


def _owned_by(path: Path, paths: set[Path]) -> bool:
    """True when ``path`` (or a field above or below it) is in ``paths``."""
    return any(p[: len(path)] == path or path[: len(p)] == p for p in paths)


def _drop(paths: set[Path], gone: set[Path]) -> set[Path]:
    return {p for p in paths if not any(_owned_by(p, {g}) for g in gone)}


def after_update(
    managed: Any,
    *,
    manager: str,
    api_version: str,
    subresource: str,
    old: Any,
    new: Any,
) -> list[dict[str, Any]]:
    """managedFields after an Update by ``manager`` that turned ``old`` into ``new``."""
    before, after = leaves(old or {}), leaves(new)
    changed = {p for p, v in after.items() if p not in before or before[p] != v}
    removed = set(before) - set(after)
    entries = _entries(managed)
    key = (manager, "Update", subresource)
    for other, (entry, paths) in list(entries.items()):
        entries[other] = (entry, _drop(paths, changed | removed))
    entry, paths = entries.get(key, ({}, set()))
    entry = {
        "manager": manager,
        "operation": "Update",
        "apiVersion": api_version,
        "time": _now(),
        **({"subresource": subresource} if subresource else {}),
    }
    entries[key] = (entry, (paths - removed) | changed)
    return _render(entries)


def apply_conflicts(
    managed: Any, *, manager: str, current: Any, applied: Any
) -> list[tuple[Path, str, str]]:
    """(path, manager, apiVersion) of every field another manager owns with another value."""
    have, want = leaves(current or {}), leaves(applied)
    out = []
    for (owner, _operation, _sub), (entry, paths) in _entries(managed).items():
        if owner == manager:
            continue
        for path, value in want.items():
            if path in paths and path in have and have[path] != value:
                out.append((path, owner, str(entry.get("apiVersion", ""))))
    return sorted(out)


def conflict_message(conflicts: list[tuple[Path, str, str]]) -> str:
    """The API server's message for a refused apply."""
    count = len(conflicts)
    parts = [f'conflict with "{m}" using {v}: {dotted(p)}' for p, m, v in conflicts]
    plural = "conflict" if count == 1 else "conflicts"
    return f"Apply failed with {count} {plural}: " + "\n".join(parts)


def after_apply(
    managed: Any, *, manager: str, api_version: str, current: Any, applied: Any, new: Any
) -> list[dict[str, Any]]:
    """managedFields after ``manager`` applied ``applied`` (forced or without conflicts)."""
    have, result = leaves(current or {}), leaves(new)
    mine = set(leaves(applied))
    changed = {p for p in mine if have.get(p, object()) != result.get(p)}
    entries = _entries(managed)
    for other, (entry, paths) in list(entries.items()):
        if other[0] != manager or other[1] != "Apply":
            entries[other] = (entry, _drop(paths, changed))
    entry = {"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": _now()}
    entries[(manager, "Apply", "")] = (entry, mine)
    return _render(entries)


def managers(obj: Mapping[str, Any]) -> dict[str, set[str]]:
    """manager -> dotted fields it owns (all operations), for test assertions."""
    out: dict[str, set[str]] = {}
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        paths = from_fields_v1(entry.get("fieldsV1"))
        out.setdefault(str(entry.get("manager")), set()).update(dotted(p) for p in paths)
    return out
