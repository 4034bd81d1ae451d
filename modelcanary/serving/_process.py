"""Start a model server as a child process and wait until it is ready.

The child never outlives its parent: it is started with ``--parent-pid`` and sets
``PR_SET_PDEATHSIG`` (SIGKILL) on Linux plus a watchdog thread that exits when its parent is
gone; an ``atexit`` hook stops every child still running. ``PR_SET_PDEATHSIG`` fires when the
*thread* that forked the child ends, so children are always forked by one long-lived daemon
thread, never by the caller's (possibly short-lived) thread.
"""

from __future__ import annotations

import atexit
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

from .._httpd import Stoppable
from ..errors import SpecError, SpecIssue, WorkloadError
from ._faults import Faults

READY_LINE = re.compile(r"^serving (?P<model>.+) on (?P<url>http://\S+)$", re.MULTILINE)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
READY_SECONDS = 120.0
"""How long :func:`start_server_process` waits for ``/ping`` by default. A child imports
mlflow and the model's flavor, then loads the model: ~3-5 s on an idle machine, but 30 s (the
bound before) was not enough with two rollouts' servers starting on a busy 2-core machine, or
with a cold import cache; a real model may take longer still."""
T = TypeVar("T")


class ServerProcess(Stoppable):
    """A running model-server child process: ``url``, ``pid``, ``stop()``, context manager."""

    def __init__(
        self, popen: subprocess.Popen[bytes], model_uri: str, log_path: Path, own_log: bool
    ) -> None:
        self.popen = popen
        self.model_uri = model_uri
        self.log_path = log_path
        self.url = ""
        self.startup_seconds = 0.0
        self._own_log = own_log

    @property
    def pid(self) -> int:
        """Process id of the server."""
        return self.popen.pid

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.url.rsplit(":", 1)[1])

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None

    def read_log(self) -> str:
        """Everything the server wrote (standard output and error)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def returncode(self) -> int | None:
        """Exit code once stopped (0: clean exit on SIGTERM), None while running."""
        return self.popen.poll()

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds (idempotent); see ``returncode``."""
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self._own_log:
            self.log_path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"ServerProcess({self.model_uri!r}, url={self.url!r}, pid={self.pid})"


def start_server_process(
    model_uri: str,
    *,
    port: int = 0,
    env: Mapping[str, str] | None = None,
    faults: Faults | None = None,
    tracking_uri: str | None = None,
    ready_timeout: float = READY_SECONDS,
    host: str = "127.0.0.1",
    model_name: str | None = None,
    model_version: str | None = None,
    log_path: str | Path | None = None,
) -> ServerProcess:
    """Start ``python -m modelcanary.serving`` and return once it answers ``/ping`` with 200.

    ``env`` is merged over this process's environment. The child's output goes to
    ``log_path`` (default: a temporary file removed by ``stop()``). Raises :class:`SpecError`
    when the child rejects its input (exit 2), :class:`WorkloadError` when it fails otherwise
    or is not ready within ``ready_timeout`` seconds.
    """
    command = [sys.executable, "-m", "modelcanary.serving", model_uri]
    command += ["--host", host, "--port", str(port), "--parent-pid", str(os.getpid())]
    if tracking_uri:
        command += ["--tracking-uri", tracking_uri]
    if model_name:
        command += ["--model-name", model_name]
    if model_version:
        command += ["--model-version", model_version]
    command += (faults or Faults()).to_args()
    child_env = {**os.environ, **(env or {})}
    python_path = child_env.get("PYTHONPATH")
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, python_path]))
    own_log = log_path is None
    if log_path is None:
        handle, name = tempfile.mkstemp(prefix="modelcanary-serve-", suffix=".log")
        os.close(handle)
        log_path = name
    path = Path(log_path)
    started = time.monotonic()
    with path.open("wb") as log:
        popen = _SPAWNER.call(
            lambda: subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=child_env,
            )
        )  # fmt: skip
    server = ServerProcess(popen, model_uri, path, own_log)
    with _LIVE_LOCK:
        _LIVE.add(server)
    try:
        server.url = _wait_ready(server, started + ready_timeout)
    except BaseException:
        server.stop(grace=1.0)
        raise
    server.startup_seconds = time.monotonic() - started
    return server


def _wait_ready(server: ServerProcess, deadline: float) -> str:
    delay = 0.005
    while True:
        found = READY_LINE.search(server.read_log())
        if found:
            return found.group("url")
        code = server.popen.poll()
        if code is not None:
            output = server.read_log().strip()
            errors = [line for line in output.splitlines() if line.startswith("error:")]
            message = errors[-1].removeprefix("error:").strip() if errors else output[-2000:]
            if code == 2:
                raise SpecError(SpecIssue("model_uri", message), source=server.model_uri)
            raise WorkloadError(f"model server for {server.model_uri} exited {code}: {message}")
        if time.monotonic() > deadline:
            tail = server.read_log()[-2000:]
            raise WorkloadError(f"model server for {server.model_uri} not ready in time:\n{tail}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.05)


class _Spawner:
    """One daemon thread that forks every child, so PR_SET_PDEATHSIG follows the process."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], object], Future[object]]]
        self._jobs = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def call(self, job: Callable[[], T]) -> T:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="modelcanary-spawner", daemon=True
                )
                self._thread.start()
        future: Future[object] = Future()
        self._jobs.put((job, future))
        return future.result()  # type: ignore[return-value]

    def _loop(self) -> None:
        while True:
            job, future = self._jobs.get()
            try:
                future.set_result(job())
            except BaseException as exc:
                future.set_exception(exc)


_SPAWNER = _Spawner()
_LIVE: set[ServerProcess] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _stop_all() -> None:
    """Stop children still running when the parent exits normally."""
    with _LIVE_LOCK:
        running = list(_LIVE)
    for server in running:  # signal all first, then reap: the grace periods overlap
        if server.alive():
            server.popen.terminate()
    for server in running:
        server.stop(grace=2.0)


__all__ = ["READY_LINE", "ServerProcess", "start_server_process"]
