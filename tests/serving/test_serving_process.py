"""Child processes never outlive their parent; bad input fails fast and clearly (exit 2)."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from polling import until
from ports import reserved_port
from serving_helpers import Models, wait_gone

from modelcanary.errors import SpecError
from modelcanary.serving import Faults, ModelServer, start_server_process
from modelcanary.serving._process import READY_SECONDS

HELPER = """
import sys
from modelcanary.serving import start_server_process

server = start_server_process(sys.argv[1], log_path=sys.argv[2])  # the parent cannot clean up
print(server.pid, server.url, round(server.startup_seconds, 2), flush=True)
sys.stdin.read()  # until killed
"""


def test_server_dies_with_its_sigkilled_parent(models: Models, tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", HELPER, str(models.classifier_dir), str(tmp_path / "server.log")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert parent.stdout is not None
        pid_text, url, startup = parent.stdout.readline().split()
        print(f"\n[startup] start_server_process: ready in {startup} s")
        pid = int(pid_text)
        assert httpx.get(f"{url}/ping", timeout=10).status_code == 200
        parent.kill()  # SIGKILL: no atexit, no cleanup in the parent
        parent.wait()
        killed = time.monotonic()
        assert wait_gone(pid, 60), "the model server outlived its SIGKILLed parent"
        print(f"[orphan] server gone {time.monotonic() - killed:.2f} s after its parent's SIGKILL")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_bad_uris_are_spec_errors_before_mlflow_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    # An ``mlflow`` first on the children's path that leaves a mark when imported: proof that
    # none imported it (the test asserted "three children in < 10 s" before, a timed assertion
    # that a loaded machine can fail and a slow mlflow import need not).
    shadow, marker = tmp_path / "shadow", tmp_path / "mlflow-imported"
    (shadow / "mlflow").mkdir(parents=True)
    (shadow / "mlflow" / "__init__.py").write_text(
        f"open({str(marker)!r}, 'a').write('imported')\nraise ImportError('shadowed mlflow')\n"
    )
    env = {"PYTHONPATH": str(shadow)}
    with pytest.raises(SpecError, match="no model directory"):
        start_server_process(str(tmp_path / "missing"), env=env)
    with pytest.raises(SpecError, match="has no MLmodel file"):
        start_server_process(str(tmp_path), env=env)
    with pytest.raises(SpecError, match="tracking-uri"):
        start_server_process("models:/fraud@champion", env=env)
    assert not marker.exists()  # three children, none imported mlflow


def test_cli_bad_input_exits_2_with_a_message(tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("modelcanary")
    base = [str(cli)] if cli.exists() else [sys.executable, "-m", "modelcanary.cli._main"]
    for args, expected in [
        ([str(tmp_path / "nope")], "no model directory"),
        (["runs:/abc/model"], "MLFLOW_TRACKING_URI"),
        ([str(tmp_path), "--port", "70000"], "port"),
    ]:
        done = subprocess.run(
            [*base, "serve", *args], capture_output=True, text=True, timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
        )  # fmt: skip
        assert done.returncode == 2, (args, done.stderr)
        assert expected in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_in_process_server_errors_release_the_port(models: Models) -> None:
    port = reserved_port()  # every server of this test binds this one port in turn
    with pytest.raises(SpecError, match="has no MLmodel file"):
        ModelServer(str(models.echo_dir / "code"), port=port).start()
    busy = ModelServer(str(models.echo_dir), port=port).start()  # the failed start let go
    try:
        with pytest.raises(SpecError, match="cannot listen"):
            ModelServer(str(models.echo_dir), port=port).start()
        reply = httpx.post(f"{busy.url}/invocations", json={"inputs": {"x": [0.5]}}, timeout=10)
        assert reply.json() == {"predictions": [0.5]}
    finally:
        busy.stop()
    ModelServer(str(models.echo_dir), port=port).start().stop()  # free again after stop()


def test_import_does_not_load_mlflow_numpy_or_pandas() -> None:
    probe = (
        "import sys, json\n"
        "import modelcanary.serving as s, modelcanary.cli._serve_cmd\n"
        "from modelcanary.serving import ModelServer, ServerProcess, Faults, ServerMetrics\n"
        "from modelcanary.serving import start_server_process\n"
        "import modelcanary.serving._run, modelcanary.serving._protocol\n"
        "print(json.dumps([m for m in ('mlflow', 'numpy', 'pandas', 'sklearn') "
        "if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert json.loads(done.stdout) == [], done.stderr


def test_stop_lets_requests_in_flight_finish(models: Models) -> None:
    server = ModelServer(str(models.echo_dir), faults=Faults(latency_ms=300)).start()
    replies: list[httpx.Response] = []
    body = {"inputs": {"x": [0.25]}}
    caller = threading.Thread(
        target=lambda: replies.append(httpx.post(f"{server.url}/invocations", json=body))
    )
    caller.start()
    # the request is in the handler (waiting in its injected latency): a fixed sleep raced
    # the caller thread's connect on a loaded machine (stop() came first: no request at all)
    until(lambda: server.busy == 1, "the request to reach the server", 60, interval=0.01)
    server.stop()
    caller.join(30)
    assert [r.status_code for r in replies] == [200]
    assert replies[0].json() == {"predictions": [0.25]}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/ping", timeout=2)


def test_a_model_server_gets_two_minutes_to_become_ready() -> None:
    """The default bound on a child's start, which the local runtime (``LocalRun``,
    ``modelcanary run``) uses for every model server. It was 30 s: with two rollouts' servers
    importing mlflow at once on a busy 2-core machine, a healthy champion was declared "not
    ready in time" (seen in tests/runtime/test_local_e2e.py)."""
    default = inspect.signature(start_server_process).parameters["ready_timeout"].default
    assert default == READY_SECONDS >= 120
