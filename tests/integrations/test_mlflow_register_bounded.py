"""`modelcanary mlflow-hook register` against a failing MLflow server: bounded retries, one clear
message, exit 2 (it retried for about four minutes, then printed a ~100-line traceback).

Two real servers: a loopback HTTP server answering 500 to everything, and a real `mlflow
server` restarted without MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY (the docs' command), which can
no longer read the webhook it stored and answers 500: the cause the message points to."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mlflow(root: Path, port: int) -> subprocess.Popen[bytes]:
    """``mlflow server`` as the docs start it: sqlite, no encryption key."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"}
    env |= {
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"]
    command += ["--artifacts-destination", str(root / "artifacts")]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log = (root / "server.log").open("ab")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    deadline = time.monotonic() + 180
    while True:
        assert server.poll() is None, (root / "server.log").read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "mlflow server did not become healthy"
        time.sleep(0.3)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(5)


def test_mlflow_restarted_without_an_encryption_key(tmp_path: Path) -> None:
    """Registered and tested fine; after a restart (a new random key) the server cannot read
    its webhooks back: `register` says so in one message, naming the key, within seconds."""
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    receiver = WebhookReceiver(DeliveryVerifier(SECRET), lambda event: None).start()
    server = _mlflow(tmp_path, port)
    try:
        first = _register(uri, receiver.url)
        assert first.returncode == 0, first.stderr
        assert receiver.accepted == 3  # the test deliveries arrived
        _stop(server)
        server = _mlflow(tmp_path, port)
        again = _register(uri, receiver.url)
        _one_message(again, "--tracking-uri")
        assert "answered HTTP 500" in again.stderr
        assert "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY" in again.stderr
    finally:
        _stop(server)
        receiver.close()
