"""`modelcanary run` and `modelcanary demo` as a user runs them: real processes, exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from cli_runs import ERROR_RATE, EXE, local_rollout_file
from runtime_fixtures import Models, serving_children


def _rollout_file(tmp_path: Path, models: Models, challenger: str) -> Path:
    dataset = tmp_path / "rows.csv"
    models.frame.head(200).to_csv(dataset, index=False)
    return local_rollout_file(
        tmp_path / "rollout.yaml",
        "cli-run",
        champion=models.champion,
        challenger=challenger,
        steps=[25, 50],
        dataset=str(dataset),
        metrics=[ERROR_RATE, {"name": "latency-p99", "thresholdRange": {"max": 500}}],
    )


def test_run_promotes_and_writes_json_and_report(tmp_path: Path, models: Models) -> None:
    rollout = _rollout_file(tmp_path, models, models.healthy)
    out, report = tmp_path / "status.json", tmp_path / "report.html"
    done = subprocess.run(
        [
            EXE,
            "run",
            str(rollout),
            "--quiet",
            "--json",
            str(out),
            "--report",
            str(report),
            "--workdir",
            str(tmp_path / "w"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "router listening on http://127.0.0.1:" in done.stderr
    status = json.loads(out.read_text())
    assert status["outcome"] == "promoted" and status["phase"] == "Succeeded"
    page = report.read_text()
    assert "Plotly.newPlot" in page and "error-rate" in page and "latency-p99" in page
    assert "promoted" in page


def test_run_rolls_back_a_faulty_challenger_with_exit_1(tmp_path: Path, models: Models) -> None:
    rollout = _rollout_file(tmp_path, models, models.faulty)
    done = subprocess.run(
        [EXE, "run", str(rollout), "--quiet", "--workdir", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rolled_back" in done.stdout and "error-rate" in done.stdout
    assert serving_children() == []


def test_run_bad_input_exits_2(tmp_path: Path, models: Models) -> None:
    rollout = _rollout_file(tmp_path, models, models.healthy)
    doc = yaml.safe_load(rollout.read_text())
    doc["spec"]["load"]["rps"] = -5
    rollout.write_text(yaml.safe_dump(doc))
    done = subprocess.run(
        [EXE, "run", str(rollout), "--workdir", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "spec.load.rps" in done.stderr
    assert "Traceback" not in done.stderr
    missing = subprocess.run(
        [EXE, "run", str(tmp_path / "nope.yaml")], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_demo_promotes_the_healthy_and_rolls_back_the_faulty(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from modelcanary.integrations._mlflow_demo import MODEL, run_demo

    results = run_demo(tmp_path, interval="2s", say=lambda _: None)
    assert [(r.name, r.outcome) for r in results] == [
        ("healthy", "promoted"),
        ("faulty", "rolled_back"),
    ]
    client = MlflowClient(f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}")
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    assert client.get_model_version(MODEL, "3").tags["modelcanary.verdict"] == "rolled_back"
    assert all(r.report.exists() for r in results)
    assert serving_children() == []
