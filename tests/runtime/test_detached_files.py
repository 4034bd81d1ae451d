"""What a detached run leaves in the work dir is private and never clobbered: the spec copy
(which may hold inline credentials), the runner record and the log are 0600 in 0700
directories; two concurrent `retry` commands start one runner, and neither truncates the log
(real processes, real model servers; waits are bounds)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runs import EXE, cli, waiting_rollout_file
from polling import until
from runtime_fixtures import Models

from modelcanary._files import load
from modelcanary.cli._run_cmd import RunOptions, read_runner, record_exit, record_runner
from modelcanary.engine import FileStatusStore
from modelcanary.spec import RolloutStatus

NAME = "private"


def _rollout(tmp_path: Path, models: Models) -> Path:
    return waiting_rollout_file(
        tmp_path, NAME, champion=models.champion, challenger=models.healthy, frame=models.frame
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _until(check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    return until(check, what, timeout)


def _stop(tmp_path: Path, workdir: Path, pid: int) -> None:
    """Abort the runner ``pid`` and wait until it has recorded its exit."""
    cli(tmp_path, "abort", NAME, "--workdir", str(workdir))

    def ended() -> bool:
        runner = read_runner(workdir, "default", NAME)
        return runner is not None and runner.pid == pid and runner.exit_code is not None

    _until(ended, f"runner {pid} to exit", 90)


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """The work dir; a runner a failed test left running is stopped (SIGTERM, then SIGKILL)."""
    path = tmp_path / "w"
    yield path
    runner = read_runner(path, "default", NAME)
    if runner is not None and runner.alive:
        os.kill(runner.pid, signal.SIGTERM)
        try:
            _until(lambda: not runner.alive, "the runner to stop", 60)
        except AssertionError:
            os.kill(runner.pid, signal.SIGKILL)


def test_detached_run_files_are_private(tmp_path: Path, workdir: Path, models: Models) -> None:
    before = os.umask(0o022)  # the usual umask: files 0644 unless written private
    try:
        started = cli(
            tmp_path, "run", str(_rollout(tmp_path, models)), "--no-wait", "--workdir", "w"
        )
    finally:
        os.umask(before)
    assert started.returncode == 0, started.stderr
    runner = read_runner(workdir, "default", NAME)
    assert runner is not None and runner.log is not None
    runs = workdir / "runs"
    record = runs / "default" / f"{NAME}.json"
    for path in (Path(runner.spec), record, Path(runner.log)):
        assert _mode(path) == 0o600, f"{path} is {oct(_mode(path))}"
    for folder in (runs, runs / "default", workdir / "rollouts", workdir / "rollouts" / "default"):
        assert _mode(folder) == 0o700, f"{folder} is {oct(_mode(folder))}"
    assert not list(runs.glob("default/.*.tmp"))  # atomic writes leave no temp file
    _stop(tmp_path, workdir, runner.pid)
    assert _mode(record) == 0o600  # rewritten with the exit code: still private


def test_two_concurrent_retries_start_one_runner_and_keep_the_log(
    tmp_path: Path, workdir: Path, models: Models
) -> None:
    rollout = load(_rollout(tmp_path, models))
    # a run that rolled back and whose runner has exited (as `run --no-wait` leaves it)
    failed = RolloutStatus(phase="Failed", outcome="rolled_back", message="rolled back")
    FileStatusStore(workdir).put(rollout.model_copy(update={"status": failed}))
    record_exit(workdir, rollout, record_runner(workdir, rollout, RunOptions(), None), 1)
    log = workdir / "runs" / "default" / f"{NAME}.log"
    log.write_text("earlier run: kept\n")

    argv = [EXE, "retry", NAME, "--workdir", str(workdir)]
    both = [
        subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in both]
    codes = sorted(p.returncode for p in both)
    text = [(o.decode(), e.decode()) for o, e in outs]
    assert codes == [0, 2], text
    winner = next(t for p, t in zip(both, text, strict=True) if p.returncode == 0)
    loser = next(t for p, t in zip(both, text, strict=True) if p.returncode == 2)
    assert "already running" in loser[1] and "exited at start" not in loser[1], loser
    pid = int(winner[0].split("detached (pid ")[1].split(")")[0])
    runner = read_runner(workdir, "default", NAME)
    assert runner is not None and runner.pid == pid and runner.alive

    def routed() -> str:
        content = log.read_text()
        return content if "router listening" in content else ""

    content = _until(routed, "the runner's output in its log")
    assert content.startswith("earlier run: kept\n")  # appended, never truncated
    assert content.count("starting a detached runner") == 1  # one runner was started
    assert _mode(log) == 0o600  # an older log is made private too
    _stop(tmp_path, workdir, pid)
