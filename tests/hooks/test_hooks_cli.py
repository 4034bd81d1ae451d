"""``modelcanary gate serve`` as a real process: serves, stops cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hooks_helpers import free_port, wait_until
from typer.testing import CliRunner

from modelcanary.cli.main import app


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_gate_serve_runs_until_signalled_and_exits_0(
    repo_dir: Path, stop_signal: signal.Signals
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelcanary.cli.main", "gate", "serve", "--port", str(port)],
        cwd=repo_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: _healthy(url), timeout=15), "the service never answered"
        body = {"name": "podinfo", "namespace": "test"}
        assert httpx.post(f"{url}/gate/check", json=body).status_code == 403
        assert httpx.post(f"{url}/gate/open", json=body).status_code == 202
        assert httpx.post(f"{url}/gate/check", json=body).text == "Approved"
        proc.send_signal(stop_signal)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert f"listening on {url}" in err and "gate service stopped" in err
    assert "Traceback" not in err
    assert "podinfo.test check: approved True" in err, "gate decisions are logged"


def test_bad_port_host_or_regexp_is_a_usage_error() -> None:
    runner = CliRunner()
    for args in (["--port", "0"], ["--port", "70000"], ["--port", "http"]):
        result = runner.invoke(app, ["gate", "serve", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "--port" in result.output
    result = runner.invoke(app, ["gate", "serve", "--host", "no-such-host.invalid"])
    assert result.exit_code == 2 and "cannot listen" in result.output
    result = runner.invoke(app, ["gate", "serve", "--port", "9", "--namespace-regexp", "("])
    assert result.exit_code == 2 and "--namespace-regexp" in result.output


def test_port_in_use_is_a_usage_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["gate", "serve", "--port", str(port)])
    assert result.exit_code == 2
    assert "cannot listen on 127.0.0.1" in result.output and "in use" in result.output


def test_gate_group_is_listed_in_help() -> None:
    result = CliRunner().invoke(app, ["gate", "--help"])
    assert result.exit_code == 0 and "serve" in result.output
