"""Validation of rendered router objects against the real schemas.

CRD kinds (Istio, Gateway API from tests/data/crds; SMI, KServe from tests/routers/crds) go
through ``k8s_schema`` (jsonschema on the openAPIV3Schema) plus a pruning check: a field the
structural schema does not declare would be silently dropped by the API server, so it is an
error here. Core kinds (Ingress) go through kubernetes-validate, strict.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from k8s_schema import crd_version_schema
from k8s_schema import errors as crd_errors

HERE = Path(__file__).resolve().parent
VENDORED = HERE.parent / "data" / "crds"
KUBE_VERSION = "1.37"

CRD_FILES = {
    "networking.istio.io": VENDORED / "istio-networking.yaml",
    "gateway.networking.k8s.io": VENDORED / "gateway-api-httproutes.yaml",
    "split.smi-spec.io/v1alpha2": HERE / "crds" / "smi-trafficsplit-v1alpha2.yaml",
    "split.smi-spec.io/v1alpha1": HERE / "crds" / "smi-trafficsplit-v1alpha2.yaml",
    "split.smi-spec.io/v1alpha3": HERE / "crds" / "smi-trafficsplit-v1alpha3.yaml",
    "specs.smi-spec.io": HERE / "crds" / "smi-httproutegroup-v1alpha3.yaml",
    "serving.kserve.io": HERE / "crds" / "kserve-inferenceservice-excerpt.yaml",
    "serving.knative.dev": VENDORED / "knative-serving-services.yaml",
    "kuma.io": HERE / "crds" / "kuma-meshhttproute-excerpt.yaml",
    "traefik.io": HERE / "crds" / "traefik-traefikservice-excerpt.yaml",
    "apisix.apache.org": HERE / "crds" / "apisix-apisixroute-excerpt.yaml",
    "projectcontour.io": HERE / "crds" / "contour-httpproxy-excerpt.yaml",
    "gateway.solo.io": HERE / "crds" / "gloo-routetable-upstream-excerpt.yaml",
    "gloo.solo.io": HERE / "crds" / "gloo-routetable-upstream-excerpt.yaml",
    "appmesh.k8s.aws": HERE / "crds" / "appmesh-excerpt.yaml",
    "serving.kserve.io/v1alpha2": VENDORED / "kserve-llminferenceservices.yaml",
    "inference.networking.k8s.io": VENDORED / "gateway-api-inference-extension-inferencepools.yaml",
    "llm-d.ai": VENDORED / "llm-d-inferencemodelrewrites.yaml",
    "inference.networking.x-k8s.io": VENDORED
    / "gateway-api-inference-extension-inferencemodelrewrites.yaml",
}
CORE_GROUPS = ("networking.k8s.io", "v1", "apps")


@functools.cache
def _crds(path: Path) -> dict[str, dict[str, Any]]:
    """CRDs of a file by kind, normalised to the apiextensions v1 layout."""
    out = {}
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        if "validation" in spec:  # apiextensions v1beta1: one schema for every version
            spec = {
                **spec,
                "versions": [
                    {**v, "schema": spec["validation"]} for v in spec["versions"] if v["served"]
                ],
            }
        out[spec["names"]["kind"]] = {**doc, "spec": spec}
    return out


def crd_for(obj: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The CRD and version name of ``obj``."""
    group, _, version = obj["apiVersion"].rpartition("/")
    path = CRD_FILES.get(obj["apiVersion"]) or CRD_FILES[group]
    crd = _crds(path)[obj["kind"]]
    assert any(v["name"] == version and v.get("served", True) for v in crd["spec"]["versions"]), (
        f"{obj['apiVersion']} {obj['kind']} is not served by {path.name}"
    )
    return crd, version


def pruned(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Fields of ``value`` a structural schema does not declare (the API server drops them)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    out: list[str] = []
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if props is not None and key in props:
                out += pruned(props[key], item, where)
            elif isinstance(extra, dict):
                out += pruned(extra, item, where)
            elif props is not None and not (
                path == "" and key in ("apiVersion", "kind", "metadata")
            ):
                out.append(where)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += pruned(schema["items"], item, f"{path}[{i}]")
    return out


def problems(obj: dict[str, Any]) -> list[str]:
    """Every schema problem of one rendered object (empty: valid)."""
    group = obj["apiVersion"].rpartition("/")[0]
    if group in CORE_GROUPS or obj["apiVersion"] == "v1":
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            return [str(exc)]
        return []
    crd, version = crd_for(obj)
    schema = crd_version_schema(crd, version)
    meta = obj.get("metadata") or {}
    out = crd_errors(crd, obj, version)
    out += [f"unknown field (pruned): {p}" for p in pruned(schema, {**obj, "metadata": {}})]
    if not meta.get("name") or not meta.get("namespace"):
        out.append("metadata.name and metadata.namespace are required")
    return out


def assert_valid(objects: list[dict[str, Any]]) -> None:
    """Fail with every problem of every object."""
    report = {f"{o['kind']}/{o['metadata']['name']}": p for o in objects if (p := problems(o))}
    assert not report, yaml.safe_dump(report)
