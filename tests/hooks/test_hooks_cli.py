"""``modelcanary gate serve`` as a real process: serves, stops cleanly on SIGINT/SIGTERM;
token, command and address options."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hooks_helpers import wait_until
from ports import reserved_port
from typer.testing import CliRunner

from modelcanary.cli._main import app

TOKEN = "t0ken-for-the-cli-test-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_gate_serve_runs_until_signalled_and_exits_0(
    repo_dir: Path, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    # held for the service (a free port closed again may be handed to another server while
    # the CLI starts); the service binds it with SO_REUSEADDR as every _httpd server does
    port = reserved_port()
    url = f"http://127.0.0.1:{port}"
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    command = ["gate", "serve", "--port", str(port), "--token-file", str(token_file)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelcanary.cli._main", *command],
        cwd=repo_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: _healthy(url), timeout=120), "the service never answered"
        body = {"name": "podinfo", "namespace": "test"}
        assert httpx.post(f"{url}/gate/check", json=body).status_code == 403
        assert httpx.post(f"{url}/gate/open", json=body).status_code == 401, "no token"
        opened = httpx.post(f"{url}/gate/open", json=body, headers=AUTH)
        assert opened.status_code == 202
        assert httpx.post(f"{url}/gate/check", json=body).text == "Approved"
        task = {**body, "metadata": {"cmd": "true"}}
        off = httpx.post(url, json=task, headers=AUTH)
        assert (off.status_code, "--allow-commands" in off.text) == (403, True)
        proc.send_signal(stop_signal)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert f"listening on {url}" in err and "gate service stopped" in err
    assert "Traceback" not in err
    assert "podinfo.test check: approved True" in err, "gate decisions are logged"
    assert "401 to 'POST' '/gate/open'" in err, "refusals are logged, one line each"
    assert TOKEN not in err


def test_token_and_address_rules_are_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    beyond = runner.invoke(app, ["gate", "serve", "--host", "0.0.0.0", "--port", "9"])
    assert beyond.exit_code == 2, beyond.output
    assert "without a token" in beyond.output and "--token-file" in beyond.output
    short = tmp_path / "short"
    short.write_text("secret\n")
    for args, words in (
        (["--token-file", str(short)], "at least 16"),
        (["--token-file", str(tmp_path / "missing")], "cannot read"),
        (["--token-file", str(tmp_path)], "cannot read"),
    ):
        result = runner.invoke(app, ["gate", "serve", "--port", "9", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "--token-file" in result.output and words in result.output, result.output
        assert "Traceback" not in result.output
    env = runner.invoke(
        app, ["gate", "serve", "--port", "9"], env={"MODELCANARY_GATE_TOKEN": "short"}
    )
    assert env.exit_code == 2 and "MODELCANARY_GATE_TOKEN" in env.output


def test_bad_port_host_or_regexp_is_a_usage_error() -> None:
    runner = CliRunner()
    for args in (["--port", "0"], ["--port", "70000"], ["--port", "http"]):
        result = runner.invoke(app, ["gate", "serve", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "--port" in result.output
    result = runner.invoke(
        app,
        ["gate", "serve", "--host", "no-such-host.invalid"],
        env={"MODELCANARY_GATE_TOKEN": TOKEN},
    )
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
