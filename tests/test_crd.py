"""The CRD is generated from the spec, is a valid structural CRD, and agrees with pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from k8s_schema import errors
from spec_cases import base, set_path

from modelcanary.spec import parse_rollout, parse_rollout_yaml
from modelcanary.spec._crd import crd, crd_yaml


def test_committed_crd_equals_generated(repo_dir: Path) -> None:
    committed = (repo_dir / "operator" / "crds" / "modelrollouts.yaml").read_text()
    assert committed == crd_yaml(), (
        "regenerate with: modelcanary crd > operator/crds/modelrollouts.yaml"
    )


def test_crd_is_a_valid_kubernetes_object() -> None:
    # strict: unknown fields anywhere in the CRD object are errors
    kubernetes_validate.validate(crd(), "1.37", strict=True)


def _walk(node: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        found += _walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        found += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += _walk(node["additionalProperties"], f"{path}{{}}")
    return found


def test_schema_is_structural_and_documented() -> None:
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    nodes = _walk(schema, "")
    assert len(nodes) > 150
    for path, node in nodes:
        assert "$ref" not in node and "anyOf" not in node and "oneOf" not in node, path
        assert "title" not in node and "const" not in node, path
        if not (
            node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
        ):
            assert node.get("type") in {
                "object",
                "array",
                "string",
                "integer",
                "number",
                "boolean",
            }, f"{path} has no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("type") == "array":
            assert "items" in node, path
        if (
            path.count(".") >= 2
            and not path.endswith(("[]", "{}"))
            and not path.startswith(".metadata")
        ):
            assert node.get("description"), f"{path} is not documented"


def _examples(repo_dir: Path) -> list[Path]:
    return sorted((repo_dir / "examples").glob("*.yaml"))


def test_examples_validate_against_crd_schema(repo_dir: Path) -> None:
    files = _examples(repo_dir)
    assert files
    for file in files:
        doc = yaml.safe_load(file.read_text())
        parse_rollout_yaml(file.read_text(), source=str(file))
        assert errors(crd(), doc) == [], file


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.analysis.stepWeights", "five"),
        ("spec.analysis.threshold", 0),
        ("spec.analysis.interval", "1 minute"),
        ("spec.router", {"provider": "envoy"}),
        ("spec.analysis.metrics[0].thresholdRange.max", "high"),
        ("kind", "Canary"),
    ],
)
def test_crd_schema_rejects_what_pydantic_rejects(path: str, value: Any) -> None:
    doc = set_path(base(), path, value)
    with pytest.raises(Exception):  # noqa: B017 - pydantic/SpecError both mean rejected
        parse_rollout(doc)
    assert errors(crd(), doc), f"CRD schema accepted {path}={value!r}"


def test_status_roundtrips_through_schema() -> None:
    doc = base()
    doc["status"] = {
        "phase": "Progressing",
        "canaryWeight": 10,
        "iterations": 3,
        "failedChecks": 1,
        "conditions": [{"type": "Promoted", "status": "Unknown", "reason": "Progressing"}],
        "history": [
            {
                "time": "2026-11-26T12:00:00Z",
                "phase": "Progressing",
                "canaryWeight": 10,
                "verdict": "fail",
                "checks": [
                    {
                        "metric": "error-rate",
                        "value": 0.02,
                        "max": 0.01,
                        "verdict": "fail",
                        "reason": "0.02 > max 0.01",
                    }
                ],
            }
        ],
    }
    rollout = parse_rollout(doc)
    assert rollout.status is not None and rollout.status.history[0].checks[0].value == 0.02
    assert errors(crd(), rollout.to_dict()) == []
