"""``modelcanary operator run`` as a process: it drives a rollout in the (kmock) cluster, serves
its self-metrics and kopf's liveness probe, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from controller_fixtures import (
    ROLLOUT_API,
    Kubelet,
    PromAPI,
    deployment,
    forget_requests,
    rollout_doc,
    wait_for,
)
from kube_fixtures import KubeApi
from typer.testing import CliRunner

from modelcanary.cli._main import app
from modelcanary.controller._operator import MetricsServer


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "args",
    [
        ["operator", "run"],
        ["operator", "run", "-n", "default", "--all-namespaces"],
        ["operator", "run", "-n", "default", "--tick-seconds", "0"],
        ["operator", "run", "-n", "default", "--sharding", "--peering", "p"],
    ],
)
def test_bad_operator_options_are_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "fix:" in result.output and "Traceback" not in result.output


def test_operator_without_cluster_configuration_is_exit_2(tmp_path: Path) -> None:
    missing = str(tmp_path / "none")
    result = CliRunner().invoke(app, ["operator", "run", "-n", "x", "--kubeconfig", missing])
    assert result.exit_code == 2, result.output
    assert "--kubeconfig" in result.output and "fix:" in result.output


def test_metrics_server_serves_the_engine_figures() -> None:
    server = MetricsServer(lambda: "modelcanary_rollout_status 1\n", "127.0.0.1", 0).start()
    try:
        ok = httpx.get(f"http://127.0.0.1:{server.port}/metrics")
        assert ok.status_code == 200 and ok.text == "modelcanary_rollout_status 1\n"
        assert ok.headers["content-type"].startswith("text/plain")
        assert httpx.get(f"http://127.0.0.1:{server.port}/other").status_code == 404
    finally:
        server.stop()


def test_operator_run_drives_a_rollout_and_stops_on_sigterm(kube: KubeApi, tmp_path: Path) -> None:
    forget_requests(kube)
    prom = PromAPI()
    kubelet = Kubelet(kube).start()
    metrics_port, live_port = _port(), _port()
    process = None
    try:
        prom.values["rollout='proc'"] = 0.0
        kube.create(deployment("proc"))
        kube.create(rollout_doc("proc", prometheus=prom.url))
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelcanary.cli._main",
                "operator",
                "run",
                "--namespace",
                "default",
                "--kubeconfig",
                str(kube.kubeconfig(tmp_path)),
                "--metrics-port",
                str(metrics_port),
                "--liveness",
                f"http://127.0.0.1:{live_port}/healthz",
                "--tick-seconds",
                "0.3",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def phase() -> str:
            obj = kube.get(ROLLOUT_API, "ModelRollout", "default", "proc") or {}
            return str((obj.get("status") or {}).get("phase", ""))

        wait_for(lambda: phase() == "Initialized" or process.poll() is not None, "Initialized")
        assert process.poll() is None, process.communicate()[0]
        assert kube.get("apps/v1", "Deployment", "default", "proc-primary") is not None

        line = 'modelcanary_rollout_phase{name="proc",namespace="default",phase="Initialized"} 1'
        # the self-metrics follow the tick's status write (written first, then observed)
        wait_for(
            lambda: line in httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text,
            "the phase in the self-metrics",
        )
        assert httpx.get(f"http://127.0.0.1:{live_port}/healthz").status_code == 200

        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output
        assert "modelcanary operator watching default" in output
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.communicate()
        kubelet.stop()
        prom.close()


def test_sharding_flags_reach_the_operator_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--sharding --shard-group G`` turn sharding on (the environment can still add to it)."""
    from modelcanary.controller import _operator

    seen: list[_operator.OperatorOptions] = []
    monkeypatch.setattr(_operator, "run_operator", seen.append)
    args = ["operator", "run", "-n", "default", "--sharding", "--shard-group", "models"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen and seen[0].sharding and seen[0].shard_group == "models"
