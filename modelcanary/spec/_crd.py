"""Generate the ModelRollout CustomResourceDefinition from the pydantic models.

The CRD is derived, never hand-written: pydantic's JSON Schema is turned into a Kubernetes
*structural* OpenAPI v3 schema (``$ref`` inlined, ``anyOf``-with-null flattened, ``const`` as
``enum``, int-or-string marked, free-form maps marked ``x-kubernetes-preserve-unknown-fields``,
titles and defaults dropped). ``operator/crds/modelrollouts.yaml`` must equal this output.
"""

from __future__ import annotations

from typing import Any

from ._rollout import API_GROUP, KIND, PLURAL, ModelRollout

_DROP = {"title", "default", "examples", "propertyNames"}  # (no propertyNames in a CRD)


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    """Turn one JSON Schema node into its structural form (recursively)."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    if "anyOf" in node:
        return _any_of(node, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or (key == "minLength" and value == 0):
            continue
        if key == "description":
            out[key] = value.replace("``", "`")
        elif key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {name: _resolve(sub, defs) for name, sub in value.items()}
        elif key == "exclusiveMinimum" or key == "exclusiveMaximum":
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True  # OpenAPI 3.0 form: a flag beside minimum/maximum
        elif key == "patternProperties":  # (keys with a pattern): a CRD has only one map form
            out["additionalProperties"] = _resolve(next(iter(value.values())), defs)
        elif key == "additionalProperties":
            if value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out[key] = _resolve(value, defs)
        elif key in ("items",):
            out[key] = _resolve(value, defs)
        else:
            out[key] = value
    return out


def _any_of(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    options = [o for o in node["anyOf"] if o.get("type") != "null"]
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    types = sorted(o.get("type", "") for o in options)
    if len(options) == 1:
        single: dict[str, Any] = _resolve({**options[0], **rest}, defs)
        return single
    if types == ["integer", "string"]:
        both: dict[str, Any] = _resolve({**rest, "x-kubernetes-int-or-string": True}, defs)
        return both
    raise ValueError(f"cannot express anyOf {types} structurally; simplify the field's type")


def openapi_schema() -> dict[str, Any]:
    """The structural openAPIV3Schema of a ModelRollout."""
    raw = ModelRollout.model_json_schema(by_alias=True, mode="serialization")
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _resolve(raw, defs)
    schema["properties"]["metadata"] = {"type": "object"}
    schema.pop("required", None)
    schema["required"] = ["spec"]
    return schema


def crd() -> dict[str, Any]:
    """The full CustomResourceDefinition object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{API_GROUP}",
            "labels": {"app.kubernetes.io/name": "modelcanary"},
        },
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["mro", "mrollout"],
                "categories": ["modelcanary"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        _column("Phase", "string", ".status.phase"),
                        _column("Weight", "integer", ".status.canaryWeight"),
                        _column("Mirror", "integer", ".status.mirrorWeight", priority=1),
                        _column("FailedChecks", "integer", ".status.failedChecks"),
                        _column("Challenger", "string", ".status.challenger", priority=1),
                        _column("LastTransitionTime", "string", ".status.lastTransitionTime"),
                        _column("Age", "date", ".metadata.creationTimestamp"),
                    ],
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def _column(name: str, kind: str, path: str, priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


def crd_yaml() -> str:
    """The CRD as YAML text (what ``modelcanary crd`` prints)."""
    import yaml  # lazy: only printing the CRD needs PyYAML

    header = "# Generated by `modelcanary crd` from modelcanary.spec - do not edit by hand.\n"
    return header + yaml.safe_dump(crd(), sort_keys=False, width=100)
