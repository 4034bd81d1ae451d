"""`modelcanary mlflow-hook register` against a failing MLflow server: bounded retries, one clear
message, exit 2 (it retried for about four minutes, then printed a ~100-line traceback).

Two real servers: a loopback HTTP server answering 500 to everything, and a real `mlflow
server` restarted without MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY (the docs' command), which can
no longer read the webhook it stored and answers 500: the cause the message points to."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mlflow_launch import start_mlflow, stop_mlflow

from modelcanary.integrations._mlflow_hook_receiver import DeliveryVerifier, WebhookReceiver

EXE = str(Path(sys.executable).with_name("modelcanary"))
SECRET = "bounded-secret"
BOUND = 60.0
"""Generous bound on one `register` (it needs seconds; MLflow's own retries took ~4 minutes)."""


class _Failing(BaseHTTPRequestHandler):
    """Answers every request 500, as a broken MLflow server does."""

    def _fail(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(500)
        self.send_header("Content-Length", "22")
        self.end_headers()
        self.wfile.write(b"internal server error\n")

    do_GET = do_POST = do_PATCH = do_DELETE = _fail

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _register(uri: str, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_REQUEST")}
    return subprocess.run(
        [EXE, "mlflow-hook", "register", "--tracking-uri", uri, "--url", url, *extra],
        capture_output=True,
        text=True,
        timeout=BOUND,  # HEAD: subprocess.TimeoutExpired
        env=env | {"MODELCANARY_WEBHOOK_SECRET": SECRET},
        check=False,
    )


def _one_message(done: subprocess.CompletedProcess[str], field: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: 1 problem(s)")
    assert f"  - {field}: " in done.stderr
    assert len(done.stderr.splitlines()) <= 4, done.stderr


def test_a_server_answering_500_fails_fast_with_one_message(failing_server: str) -> None:
    done = _register(failing_server, "http://127.0.0.1:9/")
    _one_message(done, "--tracking-uri")
    assert "answered HTTP 500" in done.stderr
    assert "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY" in done.stderr  # the likely cause, named


def _mlflow(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``mlflow server`` as the docs start it (sqlite, no encryption key), and its URL."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"}
    env |= {
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    return start_mlflow(root, env)


def test_mlflow_restarted_without_an_encryption_key(tmp_path: Path) -> None:
    """Registered and tested fine; after a restart (a new random key) the server cannot read
    its webhooks back: `register` says so in one message, naming the key, within seconds."""
    receiver = WebhookReceiver(DeliveryVerifier(SECRET), lambda event: None).start()
    server, uri = _mlflow(tmp_path)
    try:
        first = _register(uri, receiver.url)
        assert first.returncode == 0, first.stderr
        assert receiver.accepted == 3  # the test deliveries arrived
        stop_mlflow(server)
        server, uri = _mlflow(tmp_path)  # the same store; a port of its own (none reserved)
        again = _register(uri, receiver.url)
        _one_message(again, "--tracking-uri")
        assert "answered HTTP 500" in again.stderr
        assert "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY" in again.stderr
    finally:
        stop_mlflow(server)
        receiver.close()
