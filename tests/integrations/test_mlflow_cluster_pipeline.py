"""Pipelines in cluster mode: ``modelcanary apply`` (what a CI job or the MLflow hook runs)
stores the spec with every default filled in as the operator reads it, so ``kubectl get -o
yaml`` shows what runs, and the stored object is still valid for the CRD."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_schema import errors
from kube_fixtures import KubeApi, kube_api
from typer.testing import CliRunner

from modelcanary import load
from modelcanary.cli._main import app
from modelcanary.spec import parse_rollout
from modelcanary.spec._crd import crd

ROLLOUT_API = "modelcanary.io/v1alpha1"
WRITTEN = {
    "apiVersion": ROLLOUT_API,
    "kind": "ModelRollout",
    "metadata": {"name": "fraud", "namespace": "default"},
    "spec": {
        "champion": {"modelUri": "models:/fraud/1"},
        "challenger": {"modelUri": "models:/fraud/2"},
        "router": {"provider": "istio"},
        "analysis": {
            "stepWeights": [10, 50],
            "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
        },
    },
}


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeApi]:
    with kube_api() as api:
        yield api


def test_apply_stores_the_spec_with_the_defaults_the_operator_reads(
    kube: KubeApi, tmp_path: Path
) -> None:
    path = tmp_path / "fraud.yaml"
    path.write_text(yaml.safe_dump(WRITTEN), encoding="utf-8")
    config = str(kube.kubeconfig(tmp_path))
    result = CliRunner().invoke(app, ["apply", str(path), "--kubeconfig", config])
    assert result.exit_code == 0, result.output

    stored: dict[str, Any] | None = kube.get(ROLLOUT_API, "ModelRollout", "default", "fraud")
    assert stored is not None
    spec = stored["spec"]
    # what the file left out is stored as the operator will use it
    assert spec["analysis"]["interval"] == "1m" and spec["analysis"]["threshold"] == 1
    assert spec["analysis"]["noData"] == "fail"
    assert spec["analysis"]["metrics"][0]["weight"] == 1.0
    assert spec["progressDeadlineSeconds"] == 600 and spec["revertOnDeletion"] is False
    # exactly the spec the operator parses from it (nothing more, nothing less)
    effective = load(str(path)).model_dump(mode="json", by_alias=True, exclude_none=True)["spec"]
    assert spec == effective
    operator_view = parse_rollout(
        {k: stored[k] for k in ("apiVersion", "kind", "spec")} | {"metadata": {"name": "fraud"}}
    )
    assert operator_view.spec == load(str(path)).spec
    # a real API server accepts it: valid for the generated CRD's schema
    assert errors(crd(), {k: stored[k] for k in ("apiVersion", "kind", "metadata", "spec")}) == []

    again = CliRunner().invoke(app, ["apply", str(path), "--kubeconfig", config])
    assert again.exit_code == 0 and "unchanged" in again.output, again.output
