"""The installed ``modelcanary`` command run as a user runs it (real processes, real exit codes),
and the local rollout files those tests give it. Imported by bare name (``from cli_runs import
cli``) by the CLI tests under ``tests/`` and ``tests/runtime/``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

EXE = str(Path(sys.executable).with_name("modelcanary"))
ERROR_RATE = {"name": "error-rate", "thresholdRange": {"max": 0.01}}


def cli(cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``modelcanary ARGS`` in ``cwd``; its exit code, stdout and stderr (never raises on exit)."""
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
    )


def status_json(cwd: Path, name: str, workdir: Path) -> dict[str, Any]:
    """``modelcanary status NAME --workdir DIR --json``, which must exit 0, parsed."""
    done = cli(cwd, "status", name, "--workdir", str(workdir), "--json")
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def local_rollout_file(
    path: Path,
    name: str,
    *,
    champion: str,
    challenger: str,
    steps: list[int],
    dataset: str,
    metrics: list[dict[str, Any]] | None = None,
) -> Path:
    """Write local ModelRollout ``name`` to ``path`` (YAML) and return ``path``: 1 s intervals,
    threshold 2, 40 rps of ``dataset`` rows; ``metrics`` default: error rate <= 1%."""
    doc = {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": name},
        "spec": {
            "champion": {"modelUri": champion},
            "challenger": {"modelUri": challenger},
            "analysis": {
                "interval": "1s",
                "threshold": 2,
                "stepWeights": steps,
                "metrics": metrics if metrics is not None else [ERROR_RATE],
            },
            "load": {"rps": 40, "dataset": dataset},
        },
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def waiting_rollout_file(
    tmp_path: Path, name: str, *, champion: str, challenger: str, frame: Any, **spec: Any
) -> Path:
    """Write a local ModelRollout ``name`` that waits a long interval (20m, steps 10 and 50,
    10 rps of ``frame``'s first 100 rows) to ``tmp_path/rollout.yaml``: a run that only a
    signal or an action ends. ``spec`` adds or replaces top-level spec fields."""
    dataset = tmp_path / "rows.csv"
    frame.head(100).to_csv(dataset, index=False)
    doc = {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": name},
        "spec": {
            "champion": {"modelUri": champion},
            "challenger": {"modelUri": challenger},
            "analysis": {"interval": "20m", "stepWeights": [10, 50], "metrics": [ERROR_RATE]},
            "load": {"rps": 10, "dataset": str(dataset)},
            **spec,
        },
    }
    path = tmp_path / "rollout.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path
