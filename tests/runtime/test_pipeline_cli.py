"""The pipeline CLI as a user runs it: `run --workdir` in one process, `status`, `history`
and `abort` from others, on real saved sklearn models (real processes, real exit codes)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from cli_runs import EXE, cli, local_rollout_file, status_json
from runtime_fixtures import Models, serving_children


def _rollout_file(tmp_path: Path, models: Models, name: str, weights: list[int]) -> Path:
    dataset = tmp_path / "rows.csv"
    models.frame.head(200).to_csv(dataset, index=False)
    return local_rollout_file(
        tmp_path / f"{name}.yaml",
        name,
        champion=models.champion,
        challenger=models.healthy,
        steps=weights,
        dataset=str(dataset),
    )


def test_abort_from_another_process_stops_the_run_with_exit_3(
    tmp_path: Path, models: Models
) -> None:
    # 45 steps of two 1 s intervals (it had 10, ~20 s): the run must still be in progress
    # after three CLI calls, which a loaded machine can stretch to 15 s; an abort ends it
    rollout = _rollout_file(tmp_path, models, "long", list(range(10, 100, 2)))
    workdir = tmp_path / "w"
    run = subprocess.Popen(
        [EXE, "run", str(rollout), "--quiet", "--workdir", str(workdir)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180  # a bound: the model servers start first
        seen: dict[str, Any] = {}
        while time.monotonic() < deadline:
            assert run.poll() is None, run.communicate()
            if (workdir / "rollouts" / "default" / "long.json").exists():
                seen = status_json(tmp_path, "long", workdir)
                if seen.get("phase") == "Progressing" and seen.get("history"):
                    break
            time.sleep(0.3)
        assert seen.get("phase") == "Progressing", seen
        text = cli(tmp_path, "status", "long", "--workdir", str(workdir))
        assert text.returncode == 0 and "Progressing" in text.stdout
        assert "error-rate" in text.stdout  # the last interval's checks

        twice = cli(tmp_path, "run", str(rollout), "--quiet", "--workdir", str(workdir))
        assert twice.returncode == 2 and "already running" in twice.stderr, twice.stderr
        assert status_json(tmp_path, "long", workdir)["phase"] == "Progressing"  # untouched

        abort = cli(tmp_path, "abort", "long", "--workdir", str(workdir), "--reason", "test")
        assert abort.returncode == 0, abort.stderr
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 3, out + err
    assert "aborted" in out
    final = status_json(tmp_path, "long", workdir)
    assert final["outcome"] == "aborted" and final["canaryWeight"] == 0
    history = cli(tmp_path, "history", "long", "--workdir", str(workdir), "--json")
    records = json.loads(history.stdout)
    assert history.returncode == 0 and records
    assert all({"time", "canaryWeight", "verdict"} <= set(r) for r in records)
    lines = cli(tmp_path, "history", "long", "--workdir", str(workdir)).stdout.splitlines()
    assert len(lines) == len(records) and "weight" in lines[0]
    assert serving_children() == []


def test_run_with_workdir_promotes_and_status_says_so(tmp_path: Path, models: Models) -> None:
    rollout = _rollout_file(tmp_path, models, "quick", [50])
    workdir = tmp_path / "w"
    done = cli(tmp_path, "run", str(rollout), "--quiet", "--workdir", str(workdir))
    assert done.returncode == 0, done.stdout + done.stderr
    final = status_json(tmp_path, "quick", workdir)
    assert final["outcome"] == "promoted" and final["phase"] == "Succeeded"
    # an action on a finished rollout is accepted, with a note
    late = cli(tmp_path, "pause", "quick", "--workdir", str(workdir))
    assert late.returncode == 0 and "already Succeeded" in late.stderr
    # unknown rollouts: exit 2 naming the known ones, never a traceback
    for command in ("status", "history", "abort"):
        missing = cli(tmp_path, command, "nope", "--workdir", str(workdir))
        assert missing.returncode == 2, missing.stderr
        assert "no rollout default/nope" in missing.stderr
        assert "known: default/quick" in missing.stderr and "Traceback" not in missing.stderr
    bad = cli(tmp_path, "status", "../etc", "--workdir", str(workdir))
    assert bad.returncode == 2 and "not a valid rollout name" in bad.stderr


def test_status_of_an_unknown_rollout_in_an_empty_workdir_exits_2(tmp_path: Path) -> None:
    done = cli(tmp_path, "status", "ghost")
    assert done.returncode == 2 and "known: none" in done.stderr
    assert not (tmp_path / ".modelcanary").exists()  # reading creates nothing
