"""`modelcanary run` exit codes as a user meets them: bad model input is exit 2 naming the field
and the fix (never 1, the code of a rolled-back rollout, never a traceback), and `--timeout`
records the outcome `timeout` and what happened to the traffic (real processes, real model
servers, real exit codes). Unknown registry versions: tests/integrations/test_run_model_input.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from cli_runs import EXE, status_json, waiting_rollout_file


def _run(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, "run", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env=env,
        check=False,
    )


def _rollout(path: Path, champion: str, challenger: str) -> Path:
    doc = {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "exitcodes"},
        "spec": {
            "champion": {"modelUri": champion},
            "challenger": {"modelUri": challenger},
            "analysis": {
                "interval": "1s",
                "stepWeights": [50],
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
            },
        },
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """Two saved scikit-learn models (champion, challenger) and a CSV of request rows."""
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("exit-code-models")
    x, y = load_iris(return_X_y=True, as_frame=True)
    req = ["scikit-learn"]
    mlflow.sklearn.save_model(
        LogisticRegression(max_iter=300).fit(x, y), root / "a", pip_requirements=req
    )
    mlflow.sklearn.save_model(
        LogisticRegression(C=0.3, max_iter=300).fit(x, y), root / "b", pip_requirements=req
    )
    return str(root / "a"), str(root / "b"), str(root / "rows.csv")


def test_registry_uri_without_tracking_server_is_bad_input(tmp_path: Path) -> None:
    """A models:/ URI with no tracking server anywhere: exit 2 before anything starts, naming
    --tracking-uri and how to give one (it was exit 1, "rolled back")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    file = _rollout(tmp_path / "r.yaml", "models:/fraud@champion", "models:/fraud/4")
    done = _run(tmp_path, str(file), "-q", "--workdir", str(tmp_path / "wd"), env=env)
    assert done.returncode == 2, done.stderr
    assert "--tracking-uri" in done.stderr
    assert "fix: pass --tracking-uri" in done.stderr
    assert "Traceback" not in done.stderr
    assert "router listening" not in done.stderr  # refused before anything started


def test_missing_model_directory_names_the_side(
    tmp_path: Path, models: tuple[str, str, str]
) -> None:
    """A challenger directory that does not exist: exit 2 naming spec.challenger.modelUri."""
    missing = str(tmp_path / "no-such-model")
    file = _rollout(tmp_path / "r.yaml", models[0], missing)
    done = _run(tmp_path, str(file), "-q", "--workdir", str(tmp_path / "wd"))
    assert done.returncode == 2, done.stderr
    assert "spec.challenger.modelUri" in done.stderr
    assert f"no model directory at {missing}" in done.stderr
    assert "Traceback" not in done.stderr


def test_timeout_records_the_outcome_and_the_traffic(
    tmp_path: Path, models: tuple[str, str, str]
) -> None:
    """--timeout on a rollout that waits 20 minutes per interval: exit 3, and the JSON and the
    stored status say outcome `timeout`, decided (Failed), all traffic back on the champion."""
    import pandas as pd
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).data
    assert isinstance(frame, pd.DataFrame)
    file = waiting_rollout_file(
        tmp_path, "slowpoke", champion=models[0], challenger=models[1], frame=frame
    )
    workdir = tmp_path / "wd"
    out = tmp_path / "status.json"
    done = _run(
        tmp_path, str(file), "-q", "--workdir", str(workdir), "--timeout", "3", "--json", str(out)
    )
    assert done.returncode == 3, done.stderr
    status = json.loads(out.read_text())
    assert status["outcome"] == "timeout"
    assert status["phase"] == "Failed"
    assert status["canaryWeight"] == 0 and status["mirrorWeight"] == 0
    assert "--timeout 3s" in status["message"]
    assert "all traffic routed back to the champion" in status["message"]
    assert done.stdout.startswith("timeout: ")
    stored = status_json(tmp_path, "slowpoke", workdir)
    assert stored["outcome"] == "timeout" and stored["message"] == status["message"]
