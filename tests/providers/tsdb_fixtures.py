"""Real InfluxDB 1.x, Graphite (carbon-cache + graphite-web) and VictoriaMetrics on loopback.

Each is started once per test session (``scope="session"``) on free 127.0.0.1 ports in a
temporary directory (started again on new ports if a picked port was taken meanwhile:
``port_retry``), from the Debian packages ``influxdb``, ``graphite-carbon`` +
``graphite-web`` and ``victoria-metrics`` (a missing binary is a failure with the install
hint, never a skip). Test modules import the fixture they need by name::

    from tsdb_fixtures import influxdb  # noqa: F401  (pytest fixture)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import port_retry
import pytest
from port_retry import PortTaken, says_port_taken, start_retrying
from prom_fixtures import free_port, wait_until

INFLUXD = os.environ.get("MODELCANARY_INFLUXD") or shutil.which("influxd") or "/usr/bin/influxd"
CARBON = shutil.which("carbon-cache") or "/usr/bin/carbon-cache"
GRAPHITE_WEB = Path("/usr/lib/python3/dist-packages/graphite")
SYSTEM_PYTHON = "/usr/bin/python3"
"""graphite-web and carbon are Debian Python packages: they run on the system interpreter."""
VICTORIA = (
    os.environ.get("MODELCANARY_VICTORIA_METRICS")
    or shutil.which("victoria-metrics")
    or "/usr/bin/victoria-metrics"
)
INFLUX_USER, INFLUX_PASSWORD = "mcadmin", "influx-s3cret"
"""The admin user the session's InfluxDB requires (auth enabled)."""
INFLUX_DB = "telegraf"


def _require(path: str | Path, package: str) -> None:
    if not Path(path).exists():
        pytest.fail(f"{path} is missing: apt-get install -y --no-install-recommends {package}")


class Process:
    """A server process with its log in the work directory; ``stop()`` ends it by pid."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.log_path = args[0], log
        self._log = log.open("wb")
        self.popen = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def alive(self) -> bool:
        """True while it runs; :class:`PortTaken` if its log reports a failed bind (it may
        exit, or run on without that listener), else AssertionError if it exited."""
        exited = self.popen.poll() is not None
        if exited or self.log_path.stat().st_size:
            self._log.flush()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            if says_port_taken(tail):
                raise PortTaken(f"{self.name} could not bind its port:\n{tail}")
            if exited:
                raise AssertionError(f"{self.name} exited ({self.popen.returncode}):\n{tail}")
        return True

    def owns(self, port: int) -> bool:
        """It listens on ``port`` itself (not whoever took the port, if it was taken)."""
        return port_retry.owns_port(self.popen.pid, port)

    def stop(self) -> None:
        if self._log.closed:
            return
        self.popen.terminate()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._log.close()


# -- InfluxDB 1.x ---------------------------------------------------------------------------
class InfluxDB:
    """``influxd`` 1.x with auth enabled, an admin user and a ``telegraf`` database."""

    def __init__(self, workdir: Path) -> None:
        self.port = port_retry.pick_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "influxdb.conf"
        config.write_text(
            textwrap.dedent(
                f"""\
                reporting-disabled = true
                bind-address = "127.0.0.1:{port_retry.pick_port()}"
                [meta]
                  dir = "{workdir / "meta"}"
                [data]
                  dir = "{workdir / "data"}"
                  wal-dir = "{workdir / "wal"}"
                  query-log-enabled = false
                [monitor]
                  store-enabled = false
                [http]
                  enabled = true
                  bind-address = "127.0.0.1:{self.port}"
                  auth-enabled = true
                  log-enabled = false
                [logging]
                  level = "warn"
                """
            )
        )
        self.process = Process([INFLUXD, "run", "-config", str(config)], workdir / "influxd.log")
        try:
            wait_until(self._ready, 30, "influxd /ping")
            # with no user yet, InfluxDB accepts exactly this statement unauthenticated
            self.query(
                f"CREATE USER {INFLUX_USER} WITH PASSWORD '{INFLUX_PASSWORD}' WITH ALL PRIVILEGES",
                auth=False,
            )
            self.query(f"CREATE DATABASE {INFLUX_DB}")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if not (self.process.alive() and self.process.owns(self.port)):
            return False
        return httpx.get(f"{self.url}/ping", timeout=1).status_code == 204

    def query(self, q: str, db: str = "", auth: bool = True) -> dict[str, Any]:
        params = {"q": q, **({"db": db} if db else {})}
        response = httpx.post(
            f"{self.url}/query",
            params=params,
            auth=(INFLUX_USER, INFLUX_PASSWORD) if auth else None,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert not any("error" in r for r in body["results"]), body
        return body

    def write(self, lines: list[str], db: str = INFLUX_DB) -> None:
        """Write line-protocol points with millisecond timestamps."""
        response = httpx.post(
            f"{self.url}/write",
            params={"db": db, "precision": "ms"},
            content="\n".join(lines).encode(),
            auth=(INFLUX_USER, INFLUX_PASSWORD),
            timeout=10,
        )
        assert response.status_code == 204, response.text

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture(scope="session")
def influxdb() -> Iterator[InfluxDB]:
    """A real InfluxDB 1.x for the session (auth on; user ``INFLUX_USER``)."""
    _require(INFLUXD, "influxdb")
    with tempfile.TemporaryDirectory(prefix="mc-influx-") as tmp:
        server = start_retrying(lambda: InfluxDB(Path(tempfile.mkdtemp(dir=tmp))))
        try:
            yield server
        finally:
            server.stop()


# -- Graphite -------------------------------------------------------------------------------
_GRAPHITE_SETTINGS = """\
SECRET_KEY = "modelcanary-tests"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
STORAGE_DIR = {storage!r}
WHISPER_DIR = {whisper!r}
LOG_DIR = {logs!r}
INDEX_FILE = {index!r}
CARBONLINK_HOSTS = ["127.0.0.1:{cache_port}"]
DATABASES = {{"default": {{"NAME": {db!r}, "ENGINE": "django.db.backends.sqlite3"}}}}
TAGDB = ""
"""
_GRAPHITE_WSGI = """\
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from graphite.wsgi import application


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


make_server("127.0.0.1", int(sys.argv[1]), application, Server, Quiet).serve_forever()
"""


class Graphite:
    """carbon-cache (plaintext receiver) + graphite-web (render API) on one whisper dir.

    graphite-web is a Django app of the Debian package, served by the system Python with
    wsgiref and a settings module (``GRAPHITE_SETTINGS_MODULE``) pointing at the temporary
    directory; it reads whisper files and carbon-cache's in-memory points (carbonlink).
    Whisper retention is ``10s:1d``: points are 10 s apart.
    """

    step = 10

    def __init__(self, workdir: Path) -> None:
        whisper, logs, conf = workdir / "whisper", workdir / "log", workdir / "conf"
        for directory in (whisper, logs, conf):
            directory.mkdir()
        self.line_port, cache_port = port_retry.pick_port(), port_retry.pick_port()
        self._carbon_ports = (self.line_port, cache_port, port_retry.pick_port())
        (conf / "storage-schemas.conf").write_text("[default]\npattern = .*\nretentions = 10s:1d\n")
        (conf / "carbon.conf").write_text(
            textwrap.dedent(
                f"""\
                [cache]
                STORAGE_DIR = {workdir}/
                LOCAL_DATA_DIR = {whisper}/
                CONF_DIR = {conf}/
                LOG_DIR = {logs}/
                PID_DIR = {workdir}/
                DATABASE = whisper
                ENABLE_LOGROTATION = False
                MAX_CACHE_SIZE = inf
                MAX_UPDATES_PER_SECOND = 10000
                MAX_CREATES_PER_MINUTE = inf
                LINE_RECEIVER_INTERFACE = 127.0.0.1
                LINE_RECEIVER_PORT = {self.line_port}
                ENABLE_UDP_LISTENER = False
                PICKLE_RECEIVER_INTERFACE = 127.0.0.1
                PICKLE_RECEIVER_PORT = {self._carbon_ports[2]}
                CACHE_QUERY_INTERFACE = 127.0.0.1
                CACHE_QUERY_PORT = {cache_port}
                ENABLE_TAGS = False
                WHISPER_AUTOFLUSH = True
                WHISPER_FALLOCATE_CREATE = False
                """
            )
        )
        self.carbon = Process(
            [SYSTEM_PYTHON, CARBON, f"--config={conf / 'carbon.conf'}", "--nodaemon", "start"],
            workdir / "carbon.log",
        )
        (workdir / "mc_graphite_settings.py").write_text(
            _GRAPHITE_SETTINGS.format(
                storage=f"{workdir}/",
                whisper=f"{whisper}/",
                logs=f"{logs}/",
                index=str(workdir / "index"),
                cache_port=cache_port,
                db=str(workdir / "graphite.db"),
            )
        )
        (workdir / "mc_graphite_wsgi.py").write_text(_GRAPHITE_WSGI)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(workdir),
            "GRAPHITE_SETTINGS_MODULE": "mc_graphite_settings",
            "DJANGO_SETTINGS_MODULE": "graphite.settings",
        }
        self.port = port_retry.pick_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web = Process(
            [SYSTEM_PYTHON, str(workdir / "mc_graphite_wsgi.py"), str(self.port)],
            workdir / "graphite-web.log",
            env,
        )
        try:
            wait_until(self._ready, 60, "graphite-web /render and carbon-cache")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        self.carbon.alive()
        self.web.alive()
        if not all(self.carbon.owns(port) for port in self._carbon_ports):
            return False
        if not self.web.owns(self.port):
            return False
        with socket.create_connection(("127.0.0.1", self.line_port), timeout=1):
            pass
        params = {"target": "constantLine(1)", "format": "json"}
        return httpx.get(f"{self.url}/render", params=params, timeout=2).status_code == 200

    def send(self, points: list[tuple[str, float, int]]) -> None:
        """Send ``(path, value, unix seconds)`` points over carbon's plaintext protocol."""
        text = "".join(f"{path} {value!r} {ts}\n" for path, value, ts in points)
        with socket.create_connection(("127.0.0.1", self.line_port), timeout=5) as sock:
            sock.sendall(text.encode())

    def render(self, target: str, start: int, end: int) -> list[dict[str, Any]]:
        params = {"target": target, "format": "json", "from": str(start), "until": str(end)}
        body: list[dict[str, Any]] = httpx.get(
            f"{self.url}/render", params=params, timeout=5
        ).json()
        return body

    def stop(self) -> None:
        self.web.stop()
        self.carbon.stop()


@pytest.fixture(scope="session")
def graphite() -> Iterator[Graphite]:
    """A real carbon-cache + graphite-web for the session."""
    _require(CARBON, "graphite-carbon")
    _require(GRAPHITE_WEB, "graphite-web")
    _require(SYSTEM_PYTHON, "python3")
    with tempfile.TemporaryDirectory(prefix="mc-graphite-") as tmp:
        server = start_retrying(lambda: Graphite(Path(tempfile.mkdtemp(dir=tmp))))
        try:
            yield server
        finally:
            server.stop()


# -- VictoriaMetrics ------------------------------------------------------------------------
class VictoriaMetrics:
    """Single-node ``victoria-metrics`` with a temporary storage directory."""

    def __init__(self, workdir: Path) -> None:
        self.port = port_retry.pick_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process(
            [
                VICTORIA,
                f"-storageDataPath={workdir / 'data'}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-search.disableCache",
                "-loggerLevel=ERROR",
            ],
            workdir / "victoria-metrics.log",
        )
        try:
            wait_until(self._ready, 30, "victoria-metrics /health")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if not (self.process.alive() and self.process.owns(self.port)):
            return False
        return httpx.get(f"{self.url}/health", timeout=1).text == "OK"

    def import_prometheus(self, text: str) -> None:
        """Import Prometheus text-format samples (with ms timestamps) and make them visible."""
        response = httpx.post(
            f"{self.url}/api/v1/import/prometheus", content=text.encode(), timeout=10
        )
        assert response.status_code == 204, response.text
        assert httpx.get(f"{self.url}/internal/force_flush", timeout=10).status_code == 200

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture(scope="session")
def victoriametrics() -> Iterator[VictoriaMetrics]:
    """A real VictoriaMetrics for the session."""
    _require(VICTORIA, "victoria-metrics")
    with tempfile.TemporaryDirectory(prefix="mc-vm-") as tmp:
        server = start_retrying(lambda: VictoriaMetrics(Path(tempfile.mkdtemp(dir=tmp))))
        try:
            yield server
        finally:
            server.stop()


__all__ = [
    "INFLUX_DB",
    "INFLUX_PASSWORD",
    "INFLUX_USER",
    "Graphite",
    "InfluxDB",
    "VictoriaMetrics",
    "free_port",
    "graphite",
    "influxdb",
    "victoriametrics",
    "wait_until",
]
