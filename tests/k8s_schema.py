"""Validate objects against a CRD's openAPIV3Schema with jsonschema (OpenAPI 3.0 ~ draft 4).

Kubernetes extensions are honoured, not stripped: ``x-kubernetes-int-or-string`` becomes
``anyOf [integer, string]``; ``nullable`` allows null; ``x-kubernetes-preserve-unknown-fields``
needs nothing (draft 4 allows unknown properties unless ``additionalProperties: false``).
"""

from __future__ import annotations

from typing import Any

import jsonschema


def _to_jsonschema(node: Any) -> Any:
    if isinstance(node, list):
        return [_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _to_jsonschema(v)
        for k, v in node.items()
        if k not in ("x-kubernetes-int-or-string", "nullable", "format")
    }
    if node.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def crd_version_schema(crd: dict[str, Any], version: str | None = None) -> dict[str, Any]:
    """The openAPIV3Schema of ``version`` (default: the storage version) as JSON Schema."""
    versions = crd["spec"]["versions"]
    chosen = next(v for v in versions if (v["name"] == version if version else v.get("storage")))
    result: dict[str, Any] = _to_jsonschema(chosen["schema"]["openAPIV3Schema"])
    return result


def validator(crd: dict[str, Any], version: str | None = None) -> jsonschema.Draft4Validator:
    """A draft-4 validator for objects of the CRD (format checks off, as the API server)."""
    schema = crd_version_schema(crd, version)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def errors(crd: dict[str, Any], obj: dict[str, Any], version: str | None = None) -> list[str]:
    """Human-readable validation errors of ``obj`` (empty when valid)."""
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(crd, version).iter_errors(obj)
    ]
