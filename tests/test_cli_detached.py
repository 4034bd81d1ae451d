"""Detached local runs: `run --no-wait` starts a background runner that survives the CLI;
`status`/`abort` reach it through the work dir; `retry` restarts a run whose runner has exited
from the spec saved in the work dir (real model servers, real processes, real exit codes)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_runs import cli, local_rollout_file, status_json
from polling import until

from modelcanary.cli._run_cmd import Runner, read_runner

LONG = list(range(20, 100))
"""80 one-second steps, >= 8 challenger requests each: a run that outlasts the status polls,
CLI calls and signals the tests send it (each a Python process start, slow on a loaded
machine) by minutes, so it is still Progressing when they arrive."""


@dataclass(frozen=True)
class Models:
    champion: str
    healthy: str
    faulty: str
    dataset: str


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    import mlflow.pyfunc
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from modelcanary.integrations._mlflow_demo_models import FaultyModel

    root = tmp_path_factory.mktemp("detached-models")
    x, y = load_iris(return_X_y=True, as_frame=True)
    champion = LogisticRegression(C=1.0, max_iter=300).fit(x, y)
    healthy = LogisticRegression(C=0.3, max_iter=300).fit(x, y)
    req = ["scikit-learn"]
    mlflow.sklearn.save_model(champion, root / "champion", pip_requirements=req)
    mlflow.sklearn.save_model(healthy, root / "healthy", pip_requirements=req)
    limit = float(x["petal length (cm)"].median())  # about half the requests fail
    mlflow.pyfunc.save_model(
        root / "faulty",
        python_model=FaultyModel(healthy, "petal length (cm)", limit, delay_ms=1.0),
        pip_requirements=req,
    )
    x.to_csv(root / "rows.csv", index=False)
    return Models(*(str(root / n) for n in ("champion", "healthy", "faulty", "rows.csv")))


def _rollout(tmp: Path, models: Models, name: str, challenger: str, steps: list[int]) -> Path:
    return local_rollout_file(
        tmp / f"{name}.yaml",
        name,
        champion=models.champion,
        challenger=challenger,
        steps=steps,
        dataset=models.dataset,
    )


def _until(check: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    return until(check, what, timeout)


def _ended(workdir: Path, name: str, pid: int) -> Runner:
    """Wait until the runner ``pid`` has exited and recorded its exit code."""

    def done() -> Runner | None:
        runner = read_runner(workdir, "default", name)
        assert runner is not None and runner.pid == pid
        return runner if not runner.alive and runner.exit_code is not None else None

    ended: Runner = _until(done, f"runner {pid} to exit")
    return ended


def _servers_of(pid: int) -> list[int]:
    """Model-server processes started by runner ``pid`` (they name their parent in argv)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"modelcanary.serving" in args and str(pid).encode() in args:
                found.append(int(entry.name))
    return found


def _started_pid(stdout: str) -> int:
    line = next(x for x in stdout.splitlines() if "detached (pid" in x)
    return int(line.split("(pid ")[1].rstrip(")"))


def test_no_wait_starts_a_detached_runner_that_status_and_abort_reach(
    tmp_path: Path, models: Models
) -> None:
    rollout = _rollout(tmp_path, models, "bg", models.healthy, LONG)
    workdir = tmp_path / "w"
    started = cli(tmp_path, "run", str(rollout), "--no-wait", "--workdir", str(workdir))
    assert started.returncode == 0, started.stderr
    pid = _started_pid(started.stdout)
    assert f"modelcanary status bg --workdir {workdir}" in started.stdout  # how to follow it
    # the CLI has exited; the runner lives on in its own session, recorded in the work dir
    runner = read_runner(workdir, "default", "bg")
    assert runner is not None and runner.pid == pid and runner.alive and runner.detached
    assert os.getsid(pid) == pid != os.getsid(0)
    assert Path(runner.spec).is_file() and runner.log and Path(runner.log).is_file()
    text = cli(tmp_path, "status", "bg", "--workdir", str(workdir))
    assert text.returncode == 0 and f"pid {pid} running (detached" in text.stdout

    again = cli(tmp_path, "run", str(rollout), "--no-wait", "--workdir", str(workdir))
    assert again.returncode == 2 and "already running" in again.stderr, again.stderr

    _until(
        lambda: status_json(tmp_path, "bg", workdir)["phase"] == "Progressing", "Progressing", 120
    )
    assert _servers_of(pid)  # the runner serves both models
    abort = cli(tmp_path, "abort", "bg", "--workdir", str(workdir), "--reason", "test")
    assert abort.returncode == 0, abort.stderr
    ended = _ended(workdir, "bg", pid)
    assert ended.exit_code == 3  # aborted: as `run --wait` would exit
    final = status_json(tmp_path, "bg", workdir)
    assert final["outcome"] == "aborted" and final["canaryWeight"] == 0
    assert "aborted" in Path(runner.log).read_text()
    _until(lambda: not _servers_of(pid), "the model servers to stop", 30)


def test_retry_restarts_a_rolled_back_run_from_the_saved_spec(
    tmp_path: Path, models: Models
) -> None:
    rollout = _rollout(tmp_path, models, "bad", models.faulty, [20, 40, 60])
    workdir, result = tmp_path / "w", tmp_path / "result.json"
    started = cli(
        tmp_path,
        "run",
        str(rollout),
        "--no-wait",
        "--workdir",
        str(workdir),
        "--json",
        "result.json",
    )
    assert started.returncode == 0, started.stderr
    first = _ended(workdir, "bad", _started_pid(started.stdout))
    assert first.exit_code == 1  # rolled back
    assert status_json(tmp_path, "bad", workdir)["outcome"] == "rolled_back"
    assert json.loads(result.read_text())["outcome"] == "rolled_back"
    result.unlink()
    rollout.unlink()  # the restart needs only the work dir

    retry = cli(tmp_path, "retry", "bad", "--workdir", str(workdir))
    assert retry.returncode == 0, retry.stderr
    assert "restarting it detached from its saved spec" in retry.stderr
    second_pid = _started_pid(retry.stdout)
    assert second_pid != first.pid
    second = _ended(workdir, "bad", second_pid)
    assert second.exit_code == 1 and second.options == first.options  # same run, again
    status = status_json(tmp_path, "bad", workdir)
    assert status["phase"] == "Failed" and status["outcome"] == "rolled_back"
    assert json.loads(result.read_text())["outcome"] == "rolled_back"  # --json kept


def test_retry_after_a_killed_runner_and_refusal_after_promotion(
    tmp_path: Path, models: Models
) -> None:
    workdir = tmp_path / "w"
    quick = _rollout(tmp_path, models, "quick", models.healthy, [50])
    done = cli(tmp_path, "run", str(quick), "--quiet", "--workdir", str(workdir))
    assert done.returncode == 0, done.stdout + done.stderr
    attached = read_runner(workdir, "default", "quick")
    assert attached is not None and not attached.detached and attached.exit_code == 0
    refused = cli(tmp_path, "retry", "quick", "--workdir", str(workdir))
    assert refused.returncode == 2 and "nothing to retry" in refused.stderr, refused.stderr
    assert "modelcanary run FILE" in refused.stderr

    slow = _rollout(tmp_path, models, "slow", models.healthy, LONG)
    started = cli(tmp_path, "run", str(slow), "--no-wait", "--workdir", str(workdir))
    pid = _started_pid(started.stdout)
    _until(lambda: status_json(tmp_path, "slow", workdir)["phase"] == "Progressing", "Progressing")
    os.kill(pid, 9)  # the runner dies mid-rollout
    dead = _until(
        lambda: (r := read_runner(workdir, "default", "slow")) and not r.alive and r, "death"
    )
    assert dead.exit_code is None  # killed: it never wrote one
    text = cli(tmp_path, "status", "slow", "--workdir", str(workdir)).stdout
    assert "gone without finishing" in text and "Progressing" in text
    pause = cli(tmp_path, "pause", "slow", "--workdir", str(workdir))
    assert pause.returncode == 0 and "no runner is running it" in pause.stderr
    retry = cli(tmp_path, "retry", "slow", "--workdir", str(workdir))
    assert retry.returncode == 0, retry.stderr
    new_pid = _started_pid(retry.stdout)
    runner = read_runner(workdir, "default", "slow")
    assert runner is not None and runner.pid == new_pid and runner.alive
    _until(lambda: status_json(tmp_path, "slow", workdir)["phase"] == "Progressing", "Progressing")
    os.kill(new_pid, 15)  # SIGTERM: a graceful abort, like Ctrl-C in the foreground
    assert _ended(workdir, "slow", new_pid).exit_code == 3
    final = status_json(tmp_path, "slow", workdir)
    assert final["outcome"] == "aborted" and final["canaryWeight"] == 0


def test_no_wait_validates_before_detaching(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: modelcanary.io/v1alpha1\nkind: ModelRollout\nmetadata: {}\n")
    done = cli(tmp_path, "run", str(bad), "--no-wait", "--workdir", "w")
    assert done.returncode == 2 and "metadata" in done.stderr
    assert not (tmp_path / "w").exists()  # nothing started
