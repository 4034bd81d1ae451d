"""A real Prometheus on loopback and a synthetic router exporter it scrapes (helpers).

``Prometheus``: /usr/bin/prometheus on a free 127.0.0.1 port with a temporary TSDB,
1 s scrapes and ``--web.enable-lifecycle``; ``scrape(targets)`` rewrites its config and
POSTs ``/-/reload``. ``Exporter``: a stdlib HTTP server exposing the router's metric names
with counters the test sets (``batch()`` changes several atomically between two scrapes).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from port_retry import owns_port

PROMETHEUS = (
    os.environ.get("MODELCANARY_PROMETHEUS") or shutil.which("prometheus") or "/usr/bin/prometheus"
)
LATENCY_BUCKETS = (
    "0.001",
    "0.0025",
    "0.005",
    "0.01",
    "0.025",
    "0.05",
    "0.1",
    "0.25",
    "0.5",
    "1",
    "2.5",
    "5",
    "10",
    "+Inf",
)
SCORE_BUCKETS = (
    "0",
    "0.1",
    "0.2",
    "0.3",
    "0.4",
    "0.5",
    "0.6",
    "0.7",
    "0.8",
    "0.9",
    "1.0",
    "2",
    "5",
    "10",
    "100",
    "+Inf",
)
P = "modelcanary_router"
Jobs = dict[str, tuple[list[str], str]]
"""Scrape jobs: name -> (host:port targets, metrics path)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``check`` every 0.1 s until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except (httpx.HTTPError, OSError):
            result = None
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def fence(prometheus: Prometheus, job: str, timeout: float = 30.0) -> float:
    """A window edge: the time now, returned once a scrape of ``job`` that started after it
    is stored. Change the counters only after this returns.

    Scrapes of one target run one after another, so every scrape stamped at or before the
    edge has read the target by then: its sample holds the state before the change. An edge
    read from the wall clock just before the change (``start = time.time()``, then change)
    races a scrape stamped just before it that reads the target just after the change: its
    sample lands before the window yet counts the window's first events."""
    edge = time.time()

    def scraped_after() -> bool:
        rows = prometheus.query(f'up{{job="{job}"}}[1m]')
        return any(float(t) > edge for row in rows for t, _ in row["values"])

    wait_until(scraped_after, timeout, f"a scrape of {job} after {edge:.3f}")
    return edge


def seed_router(router: Any, seed: int) -> None:
    """Seed a LocalRouter's weighted draws (champion/challenger, mirror): requests sent one
    at a time then split the same way on every run. ``LocalRouter`` draws from a fresh
    unseeded generator; a test asserting on which version served what must not."""
    router._state.draw = random.Random(seed).random


class Prometheus:
    """A Prometheus process with a config the test controls."""

    def __init__(self, workdir: Path, jobs: Jobs | None = None) -> None:
        self.workdir = workdir
        self.config = workdir / "prometheus.yml"
        self.log = (workdir / "prometheus.log").open("wb")
        self.jobs: Jobs = dict(jobs or {})
        self._write_config()
        for attempt in range(3):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.process = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                    f"--web.console.templates={workdir}",
                    f"--web.console.libraries={workdir}",
                ],
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until(self._ready, 30, "Prometheus /-/ready")
                return
            except AssertionError:
                # the free port was taken by another process before Prometheus bound it
                # (the kernel hands ports out at random; other test workers bind too): a
                # harness problem, not the test's, so start again on another port
                if attempt == 2 or not self._port_taken():
                    raise

    def _port_taken(self) -> bool:
        """Prometheus exited because its listen address was in use."""
        if self.process.poll() is None:
            return False
        self.log.flush()
        text = (self.workdir / "prometheus.log").read_text(errors="replace")
        return "address already in use" in text

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.process.returncode}")
        if httpx.get(f"{self.url}/-/ready", timeout=1).status_code != 200:
            return False
        # the answer may come from another worker's Prometheus that took the port first
        return owns_port(self.process.pid, self.port)

    def scrape(self, targets: list[str], job: str = "synthetic", path: str = "/metrics") -> None:
        """Scrape ``targets`` at ``path`` every second as ``job`` (other jobs kept).

        A new target is first scraped ~5 s later (Prometheus batches discovery updates), so
        sessions list their targets up front (``jobs``) where they can.
        """
        self.jobs[job] = (targets, path)
        self._write_config()
        assert httpx.post(f"{self.url}/-/reload", timeout=5).status_code == 200

    def _write_config(self) -> None:
        lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s"]
        lines.append("scrape_configs:" if self.jobs else "scrape_configs: []")
        for name, (hosts, metrics_path) in sorted(self.jobs.items()):
            lines += [
                f"  - job_name: {name}",
                f"    metrics_path: {metrics_path}",
                "    static_configs:",
                f"      - targets: {hosts!r}",
            ]
        self.config.write_text("\n".join(lines) + "\n")

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": promql, **({"time": f"{at:.3f}"} if at else {})}
        body = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=5).json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@contextmanager
def running_prometheus(jobs: Jobs | None = None) -> Iterator[Prometheus]:
    """A Prometheus scraping ``jobs`` (name -> (targets, metrics path)), stopped at the end."""
    if not Path(PROMETHEUS).exists():  # a missing server is a failure, never a skip
        pytest.fail(f"{PROMETHEUS} is missing: apt-get install --no-install-recommends prometheus")
    with tempfile.TemporaryDirectory(prefix="mc-prom-") as tmp:
        server = Prometheus(Path(tmp), jobs)
        try:
            yield server
        finally:
            server.stop()


class Exporter:
    """The router's metrics with values the test sets."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.lock = threading.RLock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.target = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def _add(self, name: str, labels: dict[str, str], n: float) -> None:
        key = (name, tuple(labels.items()))
        with self.lock:
            self.values[key] = self.values.get(key, 0.0) + n

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold scrapes while several counters change."""
        with self.lock:
            yield

    def requests(
        self, rollout: str, version: str, status: int, n: int = 1, mirrored: bool = False
    ) -> None:
        labels = {
            "rollout": rollout,
            "version": version,
            "status": str(status),
            "mirrored": str(mirrored).lower(),
        }
        self._add(f"{P}_requests_total", labels, n)

    def _histogram(
        self, name: str, bounds: tuple[str, ...], labels: dict[str, str], value: float, n: int
    ) -> None:
        for le in bounds:
            self._add(f"{name}_bucket", {**labels, "le": le}, n if value <= float(le) else 0)
        self._add(f"{name}_sum", labels, value * n)
        self._add(f"{name}_count", labels, n)

    def latency(
        self, rollout: str, version: str, seconds: float, n: int = 1, mirrored: bool = False
    ) -> None:
        labels = {"rollout": rollout, "version": version, "mirrored": str(mirrored).lower()}
        self._histogram(f"{P}_request_duration_seconds", LATENCY_BUCKETS, labels, seconds, n)

    def label(
        self, rollout: str, version: str, label: str, n: int = 1, mirrored: bool = False
    ) -> None:
        labels = {
            "rollout": rollout,
            "version": version,
            "mirrored": str(mirrored).lower(),
            "label": label,
        }
        self._add(f"{P}_predictions_total", labels, n)

    def score(
        self, rollout: str, version: str, value: float, n: int = 1, mirrored: bool = False
    ) -> None:
        labels = {"rollout": rollout, "version": version, "mirrored": str(mirrored).lower()}
        self._histogram(f"{P}_prediction", SCORE_BUCKETS, labels, value, n)

    def count(self, name: str, labels: dict[str, str], n: float = 1) -> None:
        """Add ``n`` to any counter (mesh or model-server series of the scheme tests)."""
        self._add(name, labels, n)

    def observe(
        self, name: str, bounds: tuple[str, ...], labels: dict[str, str], value: float, n: int = 1
    ) -> None:
        """Observe ``value`` ``n`` times in any histogram ``name`` with ``le`` ``bounds``."""
        self._histogram(name, bounds, labels, value, n)

    def render(self) -> str:
        with self.lock:
            items = sorted(self.values.items())
        lines = []
        for (name, labels), value in items:
            text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{text}}} {value:g}")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
