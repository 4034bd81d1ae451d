"""``ModelServer``: one MLflow pyfunc model over HTTP on loopback, with Prometheus metrics.

Endpoints (MLflow's scoring server, plus ``/metrics``):

- ``POST /invocations``: MLflow scoring protocol, answers ``{"predictions": [...]}``;
- ``GET /ping``, ``GET /health``: 200 once the model is loaded, 503 while it loads;
- ``GET /version``: the MLflow version, as MLflow answers it;
- ``GET /metrics``: Prometheus text format 0.0.4 (see :mod:`modelcanary.serving.metrics`).

The HTTP layer is the standard library's ``ThreadingHTTPServer`` speaking HTTP/1.1 with
keep-alive, one thread per connection, each answer written in a single ``send`` with Nagle
disabled; prediction runs in the connection's thread.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from ..errors import SpecError, SpecIssue
from .faults import FaultInjector, Faults
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import ServerMetrics
from .mlflow_pyfunc import Scorer, mlflow_version
from .model import LoadedModel, load_model
from .protocol import Reply, error_reply

_logger = logging.getLogger("modelcanary.serving")
MAX_BODY_BYTES = 512 * 1024 * 1024
DRAIN_SECONDS = 2.0
"""How long ``stop()`` lets requests in flight finish before closing their connections."""


class ModelServer:
    """Serve one model: ``start()`` binds, loads the model and returns once it is ready."""

    def __init__(
        self,
        model_uri: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tracking_uri: str | None = None,
        faults: Faults | None = None,
        model_name: str | None = None,
        model_version: str | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise SpecError(SpecIssue("port", f"{port} is not a TCP port", "use 0..65535"))
        self.model_uri = model_uri
        self.host, self.requested_port = host, port
        self.tracking_uri = tracking_uri
        self.faults = faults or Faults()
        self.model_name, self.model_version = model_name, model_version
        self.injector = FaultInjector(self.faults)
        self.model: LoadedModel | None = None
        self.scorer: Scorer | None = None
        self.metrics: ServerMetrics | None = None
        self.ready = self.draining = False
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port (after ``bind()``/``start()``; kept after ``stop()``)."""
        if self._port is None:
            raise RuntimeError("the server is not bound yet: call start() first")
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def bind(self) -> None:
        """Open the socket and answer requests (``/ping`` says 503 until the model is loaded)."""
        if self._httpd is not None:
            return
        try:
            self._httpd = _HTTPServer((self.host, self.requested_port), self)
        except OSError as exc:
            raise SpecError(
                SpecIssue("port", f"cannot listen on {self.host}:{self.requested_port}: {exc}",
                          "use another --port, or 0 for a free one")
            ) from exc  # fmt: skip
        self._port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"modelcanary-serve-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def load(self) -> LoadedModel:
        """Load the model (slow: imports mlflow and the flavor) and mark the server ready."""
        model = load_model(
            self.model_uri,
            tracking_uri=self.tracking_uri,
            name=self.model_name,
            version=self.model_version,
        )
        labels = model.labels
        self.scorer = Scorer(model.pyfunc)
        self.metrics = ServerMetrics(labels.name, labels.version, labels.uri)
        self.model = model
        self.ready = True
        return model

    def start(self) -> ModelServer:
        """Bind, load, and return when ``/ping`` answers 200 (stops again if loading fails)."""
        if self.ready:
            return self
        self.bind()
        try:
            self.load()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop accepting, close open keep-alive connections, release the port."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            self.ready = False
            return
        self.draining = True  # /ping says 503; requests in flight (or arriving on open
        httpd.shutdown()  # keep-alive connections) are still answered, for DRAIN_SECONDS
        with httpd.idle:
            httpd.idle.wait_for(lambda: httpd.busy == 0, timeout=DRAIN_SECONDS)
        self.ready = self.draining = False
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def invoke(self, body: bytes, content_type: str | None, started: float | None = None) -> Reply:
        """Answer one scoring request: faults, parse/predict, metrics (duration from ``started``,
        a ``time.perf_counter()`` taken when the request's headers were read)."""
        started = time.perf_counter() if started is None else started
        scorer, metrics = self.scorer, self.metrics
        if not self.ready or scorer is None or metrics is None:
            return error_reply(503, "TEMPORARILY_UNAVAILABLE", "the model is still loading")
        if self.injector.delay_seconds:
            time.sleep(self.injector.delay_seconds)
        if self.injector.should_fail():
            reply = error_reply(500, "INTERNAL_ERROR", "injected fault (fault error rate)")
        else:
            try:
                reply = scorer.score(body, content_type)
            except Exception as exc:  # not MLflow's nor the model's: still an answer, counted
                _logger.exception("cannot score a request")
                reply = error_reply(500, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
            if reply.status == 200:
                try:
                    metrics.observe_predictions(reply.predictions)
                except Exception:  # metrics must never fail a prediction
                    _logger.exception("cannot observe predictions")
        metrics.observe_request(reply.status, time.perf_counter() - started)
        return reply


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # the default 5 drops connection bursts (1 s SYN retries)

    def __init__(self, address: tuple[str, int], app: ModelServer) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.busy = 0  # requests being answered
        self.idle = threading.Condition()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse DNS lookup (slow in some containers)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def close_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: it would cost more than the HTTP handling itself."""

    def do_GET(self) -> None:
        app, path = self.server.app, self.path.split("?", 1)[0]
        if path in ("/ping", "/health"):
            ok = app.ready and not app.draining
            self._send(Reply(200 if ok else 503, b"\n" if ok else b"not ready\n"))
        elif path == "/version":
            self._send(Reply(200, mlflow_version().encode()))
        elif path == "/metrics":
            text = app.metrics.render() if app.metrics is not None else ""
            self._send(Reply(200, text.encode(), METRICS_CONTENT_TYPE))
        else:
            self._not_found()

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/invocations":
            self._discard_body()
            self._not_found()
            return
        started, server = time.perf_counter(), self.server
        with server.idle:
            server.busy += 1
        try:
            try:
                body = self._read_body()
            except ValueError as exc:
                self.close_connection = True
                message = f"cannot read the request body: {exc}"
                self._send(error_reply(400, "BAD_REQUEST", message))
                return
            self._send(server.app.invoke(body, self.headers.get("Content-Type"), started))
        finally:
            with server.idle:
                server.busy -= 1
                server.idle.notify_all()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY_BYTES:
            raise ValueError(f"Content-Length {length} is not in [0, {MAX_BODY_BYTES}]")
        return self.rfile.read(length)

    def _discard_body(self) -> None:
        try:
            self._read_body()
        except ValueError:
            self.close_connection = True

    def _not_found(self) -> None:
        message = f"no endpoint {self.command} {self.path}: use /invocations, /ping, /metrics"
        self._send(error_reply(404, "ENDPOINT_NOT_FOUND", message))

    def _send(self, reply: Reply) -> None:
        reason = HTTPStatus(reply.status).phrase
        head = (
            f"HTTP/1.1 {reply.status} {reason}\r\n"
            f"Content-Type: {reply.content_type}\r\n"
            f"Content-Length: {len(reply.body)}\r\n"
        )
        if self.close_connection or self.server.app.draining:  # draining: clients reconnect
            self.close_connection = True
            head += "Connection: close\r\n"
        self.wfile.write(head.encode("latin-1") + b"\r\n" + reply.body)
