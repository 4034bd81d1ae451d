"""A valid base ModelRollout document and helpers to mutate it, shared by spec tests."""

from __future__ import annotations

import copy
from typing import Any

BASE: dict[str, Any] = {
    "apiVersion": "modelcanary.io/v1alpha1",
    "kind": "ModelRollout",
    "metadata": {"name": "fraud", "namespace": "ml"},
    "spec": {
        "champion": {"modelUri": "models:/fraud@champion"},
        "challenger": {"modelUri": "models:/fraud/4"},
        "analysis": {
            "interval": "30s",
            "threshold": 2,
            "stepWeights": [5, 10, 25, 50],
            "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
        },
    },
}


def base() -> dict[str, Any]:
    """A deep copy of the valid base document."""
    return copy.deepcopy(BASE)


def set_path(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set ``a.b.c`` (``a.b[1]`` for list items) in ``doc``; ``...`` as value deletes the key."""
    parts: list[str | int] = []
    for token in path.split("."):
        name, *indexes = token.replace("]", "").split("[")
        parts.append(name)
        parts += [int(i) for i in indexes]
    node: Any = doc
    for part in parts[:-1]:
        node = node[part]
    if value is ...:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return doc
