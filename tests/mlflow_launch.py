"""A real ``mlflow server`` (sqlite, one worker) on a port it binds itself, for the tests that
need a tracking server. Imported by bare name (``from mlflow_launch import start_mlflow``).

The server is started with ``--port 0`` and its URL read from uvicorn's "Uvicorn running on"
line. Before, each fixture took a port from ``bind(0)``, closed it and passed it on: during the
10-60 s an MLflow server takes to start, any other process on the machine (the other xdist
worker's servers, which also bind port 0) could be handed that port, and the fixture failed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

RUNNING = re.compile(rb"Uvicorn running on (http://127\.0\.0\.1:[0-9]+)")
STARTUP_SECONDS = 180.0
"""Bound on start-up: ~12 s idle, much more while the rest of the suite loads both CPUs."""


def start_mlflow(
    root: Path, env: Mapping[str, str], log_name: str = "server.log"
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``mlflow server`` with its store and artifacts under ``root`` and the environment
    ``env``; return it and its ``http://127.0.0.1:PORT`` once ``/health`` answers 200. The
    output is appended to ``root/log_name``; AssertionError with its tail if it dies or is not
    healthy within :data:`STARTUP_SECONDS`."""
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"]
    command += ["--artifacts-destination", str(root / "artifacts")]
    command += ["--host", "127.0.0.1", "--port", "0"]
    path = root / log_name
    start = path.stat().st_size if path.exists() else 0  # a restart appends to the same log
    with path.open("ab") as log:
        server = subprocess.Popen(
            command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, cwd=root
        )
    deadline = time.monotonic() + STARTUP_SECONDS
    url: str | None = None
    try:
        while True:
            output = path.read_bytes()[start:]
            assert server.poll() is None, output[-3000:].decode(errors="replace")
            if url is None and (found := RUNNING.search(output)):
                url = found[1].decode()
            if url is not None:
                try:
                    if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                        return server, url
                except httpx.HTTPError:
                    pass
            assert time.monotonic() < deadline, (
                f"mlflow server not healthy within {STARTUP_SECONDS:.0f} s: "
                + output[-3000:].decode(errors="replace")
            )
            time.sleep(0.3)
    except BaseException:
        stop_mlflow(server)
        raise


def stop_mlflow(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it is still running after 30 s; reaped either way."""
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(30)
