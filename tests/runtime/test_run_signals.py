"""`modelcanary run` stops when it is told to, whatever its interval: SIGTERM and an `abort`
from another shell end a run waiting on a 20-minute interval with a clean abort (all traffic
back on the champion, outcome `aborted`, exit 3), and a metrics backend that is down at start
fails the run at the readiness deadline instead of holding it forever. Real processes, real
model servers; every wait below is a generous bound, not a timing."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runs import EXE, cli, waiting_rollout_file
from ports import closed_url
from runtime_fixtures import Models, serving_children

from modelcanary.cli._run_cmd import read_runner
from modelcanary.engine import FileStatusStore
from modelcanary.spec import RolloutStatus

NAME = "slow"


def _rollout(tmp_path: Path, models: Models, **spec: Any) -> Path:
    return waiting_rollout_file(
        tmp_path,
        NAME,
        champion=models.champion,
        challenger=models.healthy,
        frame=models.frame,
        **spec,
    )


@pytest.fixture
def running(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; any still alive at the end is stopped (then killed)."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _run(tmp_path: Path, rollout: Path, procs: list[subprocess.Popen[bytes]]) -> Any:
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - the process writes to it
    proc = subprocess.Popen(
        [EXE, "run", str(rollout), "--quiet", "--workdir", str(tmp_path / "w")],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    procs.append(proc)
    return proc


def _status(tmp_path: Path) -> RolloutStatus | None:
    stored = FileStatusStore(tmp_path / "w").get(NAME, "default")
    return stored.rollout.status if stored is not None else None


def _until_first_stage(tmp_path: Path, proc: subprocess.Popen[bytes]) -> None:
    """Wait (bounded) until the run routes its first stage and so waits for 20 minutes."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = _status(tmp_path)
        if status is not None and status.canary_weight == 10:
            return
        assert proc.poll() is None, (tmp_path / "run.log").read_text()
        time.sleep(0.3)
    raise AssertionError("the run never reached its first stage")


def _assert_aborted(tmp_path: Path, proc: subprocess.Popen[bytes]) -> None:
    try:
        code = proc.wait(90)
    except subprocess.TimeoutExpired:
        raise AssertionError("the run did not stop: it waits for its 20-minute interval") from None
    log = (tmp_path / "run.log").read_text()
    assert code == 3, log
    status = _status(tmp_path)
    assert status is not None and (status.phase, status.outcome) == ("Failed", "aborted"), log
    assert status.canary_weight == 0 and status.mirror_weight == 0  # all back on the champion
    runner = read_runner(tmp_path / "w", "default", NAME)
    assert runner is not None and runner.exit_code == 3
    assert "Traceback" not in log
    assert serving_children() == []


def test_sigterm_aborts_a_run_waiting_on_a_long_interval(
    tmp_path: Path, models: Models, running: list[subprocess.Popen[bytes]]
) -> None:
    proc = _run(tmp_path, _rollout(tmp_path, models), running)
    _until_first_stage(tmp_path, proc)
    proc.send_signal(signal.SIGTERM)
    _assert_aborted(tmp_path, proc)
    status = _status(tmp_path)
    assert status is not None and "interrupted" in status.message


def test_abort_from_another_shell_is_applied_without_waiting_for_the_interval(
    tmp_path: Path, models: Models, running: list[subprocess.Popen[bytes]]
) -> None:
    proc = _run(tmp_path, _rollout(tmp_path, models), running)
    _until_first_stage(tmp_path, proc)
    done = cli(tmp_path, "abort", NAME, "--workdir", str(tmp_path / "w"), "--reason", "bad")
    assert done.returncode == 0, done.stderr
    _assert_aborted(tmp_path, proc)
    status = _status(tmp_path)
    assert status is not None and "aborted by user (bad)" in status.message


def test_sigterm_while_the_servers_start_records_an_abort(
    tmp_path: Path, models: Models, running: list[subprocess.Popen[bytes]]
) -> None:
    proc = _run(tmp_path, _rollout(tmp_path, models), running)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the runner holds the rollout: signals are its own
        runner = read_runner(tmp_path / "w", "default", NAME)
        if runner is not None and runner.pid == proc.pid:
            break
        assert proc.poll() is None, (tmp_path / "run.log").read_text()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # most likely while the model servers load
    _assert_aborted(tmp_path, proc)


def test_a_metrics_backend_down_at_start_fails_the_run_at_the_deadline(
    tmp_path: Path, models: Models, running: list[subprocess.Popen[bytes]]
) -> None:
    backend = {"type": "prometheus", "address": closed_url()}
    rollout = _rollout(tmp_path, models, metricsProvider=backend, progressDeadlineSeconds=3)
    proc = _run(tmp_path, rollout, running)
    try:
        code = proc.wait(180)
    except subprocess.TimeoutExpired:
        raise AssertionError("the run waits forever for an offline metrics backend") from None
    log = (tmp_path / "run.log").read_text()
    assert code == 3, log
    status = _status(tmp_path)
    assert status is not None and (status.phase, status.outcome) == ("Failed", "error"), log
    assert "prometheus" in status.message and "progressDeadlineSeconds=3" in status.message
    assert "prometheus" in log and "Traceback" not in log
    assert status.iterations == 0 and status.canary_weight == 0  # never started
