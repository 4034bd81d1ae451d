"""The harness starts external servers again on new ports when a picked port was taken.

Each test hands the fixture a first port that a listening socket already holds (the race
of "pick a free port, bind it later" lost on purpose) and checks that the server still
comes up, on another port, and answers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import port_retry
import pytest

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "providers"))
sys.path.insert(0, str(ROOT / "operator"))
sys.path.insert(0, str(ROOT.parent / "benchmarks"))

import detection_prom  # noqa: E402
import test_bundle_runs as bundle_runs  # noqa: E402
from bundle_objects import OPERATOR  # noqa: E402
from kube_fixtures import kube_api  # noqa: E402
from tsdb_fixtures import Graphite, InfluxDB, VictoriaMetrics  # noqa: E402


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port some other process listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _first_taken(monkeypatch: pytest.MonkeyPatch, module: object, taken: int) -> list[int]:
    """Make ``module.pick_port`` (or ``free_port``) hand out ``taken`` first; returns the
    ports it handed out."""
    name = "pick_port" if hasattr(module, "pick_port") else "free_port"
    real = getattr(module, name)
    handed: list[int] = []

    def pick() -> int:
        handed.append(taken if not handed else real())
        return handed[-1]

    monkeypatch.setattr(module, name, pick)
    return handed


def test_start_retrying_gives_up_after_the_attempts() -> None:
    calls: list[int] = []

    def start() -> None:
        calls.append(1)
        raise port_retry.PortTaken("always taken")

    with pytest.raises(port_retry.PortTaken):
        port_retry.start_retrying(start, attempts=3)
    assert len(calls) == 3


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def start() -> None:
        calls.append(1)
        raise AssertionError("a real failure")

    with pytest.raises(AssertionError, match="a real failure"):
        port_retry.start_retrying(start)
    assert len(calls) == 1


@pytest.mark.parametrize("server", [VictoriaMetrics, InfluxDB, Graphite])
def test_tsdb_server_starts_when_its_first_port_is_taken(
    server: type[VictoriaMetrics | InfluxDB | Graphite],
    taken: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed = _first_taken(monkeypatch, port_retry, taken)
    with tempfile.TemporaryDirectory(prefix="mc-port-retry-") as tmp:
        started = port_retry.start_retrying(lambda: server(Path(tempfile.mkdtemp(dir=tmp))))
        try:
            assert handed[0] == taken
            assert started.port != taken and started.port in handed
            assert getattr(started, "line_port", None) != taken  # Graphite: carbon's port
            assert started._ready()
        finally:
            started.stop()


def test_benchmark_prometheus_starts_when_its_first_port_is_taken(
    taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed = _first_taken(monkeypatch, detection_prom, taken)
    with tempfile.TemporaryDirectory(prefix="mc-port-retry-prom-") as tmp:
        prometheus = detection_prom.Prometheus(Path(tmp), 9, 1.0)
        try:
            assert handed[0] == taken and prometheus.port != taken
            assert httpx.get(f"{prometheus.url}/-/ready", timeout=5).status_code == 200
        finally:
            prometheus.stop()


@pytest.mark.parametrize("which", ["health", "metrics"])
def test_operator_starts_when_one_of_its_ports_is_taken(
    which: str, taken: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """tests/operator/test_bundle_runs.py's start: the chart's operator with the health port
    (picked first) or the metrics port (second) taken by another listener."""
    real = port_retry.pick_port
    handed: list[int] = []

    def pick() -> int:
        handed.append(taken if len(handed) == (0 if which == "health" else 1) else real())
        return handed[-1]

    monkeypatch.setattr(port_retry, "pick_port", pick)
    namespaces = ("default", bundle_runs.POD_NAMESPACE)
    with kube_api(namespaces=namespaces) as kube:
        kube.declare_crd_file(OPERATOR / "crds" / "kopf-peerings.yaml")
        running = port_retry.start_retrying(lambda: bundle_runs._start_operator(kube, tmp_path))
        try:
            assert taken in handed[:2] and len(handed) == 4  # a second start, new ports
            assert running.metrics != taken
            url = f"http://127.0.0.1:{running.metrics}/metrics"
            assert bundle_runs._wait_for(url, running.process, running.log).status_code == 200
        finally:
            bundle_runs._stop(running.process)
            running.guard.close()


def test_owns_port_tells_the_listener_from_another_process(taken: int) -> None:
    """An answer on a taken port comes from whoever took it: readiness checks the owner."""
    assert port_retry.owns_port(os.getpid(), taken)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as other:
        try:
            assert not port_retry.owns_port(other.pid, taken)
        finally:
            other.kill()
    with socket.socket() as bound:  # bound, not listening: nobody listens on it
        bound.bind(("127.0.0.1", 0))
        assert not port_retry.owns_port(os.getpid(), bound.getsockname()[1])
