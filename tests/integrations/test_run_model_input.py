"""`modelcanary run` against a real MLflow registry: a version or alias the registry does not
have is bad input, exit 2 naming the side's modelUri (it was exit 1, "rolled back")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

EXE = str(Path(sys.executable).with_name("modelcanary"))


@pytest.fixture(scope="module")
def registered(trained: Any) -> str:
    """A registered model with one version (v1), named for this module."""
    import mlflow

    name = "exitcodes"
    mlflow.register_model(trained.champion, name)
    return name


@pytest.mark.parametrize(
    ("champion", "challenger", "side", "missing"),
    [
        ("{name}/1", "{name}/9", "spec.challenger.modelUri", "version=9"),
        ("{name}@nope", "{name}/1", "spec.champion.modelUri", "nope"),
    ],
)
def test_unknown_registry_model_is_bad_input(
    tmp_path: Path,
    mlflow_server: str,
    registered: str,
    champion: str,
    challenger: str,
    side: str,
    missing: str,
) -> None:
    doc = {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "exitcodes"},
        "spec": {
            "champion": {"modelUri": "models:/" + champion.format(name=registered)},
            "challenger": {"modelUri": "models:/" + challenger.format(name=registered)},
            "analysis": {
                "interval": "1s",
                "stepWeights": [50],
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
            },
        },
    }
    file = tmp_path / "rollout.yaml"
    file.write_text(yaml.safe_dump(doc))
    command = [EXE, "run", str(file), "-q", "--workdir", str(tmp_path / "wd")]
    command += ["--tracking-uri", mlflow_server]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert side in done.stderr
    assert missing in done.stderr
    assert "fix: check the name, version, alias or run id" in done.stderr
    assert "Traceback" not in done.stderr
