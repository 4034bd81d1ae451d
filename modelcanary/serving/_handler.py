"""``ScoringHandler``: the model server's HTTP endpoints on the hardened base handler.

The base (:class:`modelcanary._httpd.Handler`) bounds request sizes and times and answers bad
requests with a 4xx; this module adds the MLflow scoring endpoints, MLflow-shaped JSON error
bodies, the drain rule of :meth:`ModelServer.stop` and chunked request bodies (MLflow's scoring
server accepts them; the other modelcanary ports do not need them).
"""

from __future__ import annotations

import io
import re
import time
from typing import TYPE_CHECKING

from .._httpd import Handler, HTTPProblem
from ._exposition import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ._mlflow_pyfunc import mlflow_version
from ._protocol import Reply, error_reply

if TYPE_CHECKING:
    from ._server import ModelServer

_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_LONG_HEX = re.compile(rb"[0-9A-Fa-f]+")
_CODES = {404: "ENDPOINT_NOT_FOUND", 500: "INTERNAL_ERROR", 503: "TEMPORARILY_UNAVAILABLE"}


def read_chunked(rfile: io.BufferedIOBase, limit: int) -> bytes:
    """The payload of a chunked body (trailers dropped): 400 when malformed, 413 past ``limit``.

    Each chunk-size line is checked before its chunk is read, so a client announcing a huge
    chunk is refused without waiting for it.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(1026)
        size_text = line.split(b";", 1)[0].strip()
        if not line.endswith(b"\n") or not _HEX.fullmatch(size_text):
            if line.endswith(b"\n") and _LONG_HEX.fullmatch(size_text):  # over 15 hex digits
                raise HTTPProblem(413, f"body over {limit} bytes")
            raise HTTPProblem(400, "malformed chunked body: bad chunk-size line")
        size = int(size_text, 16)
        if total + size > limit:
            raise HTTPProblem(413, f"body over {limit} bytes")
        if size == 0:
            for _ in range(100):  # trailers, up to the empty line
                if rfile.readline(65537) in (b"\r\n", b"\n", b""):
                    return b"".join(chunks)
            raise HTTPProblem(431, "too many trailer lines")
        chunk = rfile.read(size)
        if len(chunk) != size or rfile.readline(3) not in (b"\r\n", b"\n"):
            raise HTTPProblem(400, "malformed chunked body: a chunk ended early")
        chunks.append(chunk)
        total += size


class ScoringHandler(Handler):
    """``/invocations``, ``/ping``, ``/health``, ``/version`` and ``/metrics``."""

    server_version = "modelcanary-serve"
    wbufsize = -1  # buffered: head and body of an answer leave in one send (flushed in reply)

    @property
    def app(self) -> ModelServer:
        app: ModelServer = self.server.app
        return app

    def log_message(self, format: str, *args: object) -> None:
        """No access log: it would cost more than the HTTP handling itself."""

    def do_GET(self) -> None:
        app, path = self.app, self.path_only()
        if path in ("/ping", "/health"):
            ok = app.ready and not app.draining
            self.send(Reply(200 if ok else 503, b"\n" if ok else b"not ready\n"))
        elif path == "/version":
            self.send(Reply(200, mlflow_version().encode()))
        elif path == "/metrics":
            text = app.metrics.render() if app.metrics is not None else ""
            self.send(Reply(200, text.encode(), METRICS_CONTENT_TYPE))
        else:
            self._not_found()

    def do_POST(self) -> None:
        if self.path_only() != "/invocations":
            self.read_body()  # bounded: keeps the connection usable
            self._not_found()
            return
        started, app = time.perf_counter(), self.app
        with app.idle:
            app.busy += 1
        try:
            body = self.read_body()
            self.send(app.invoke(body, self.headers.get("Content-Type"), started))
        finally:
            with app.idle:
                app.busy -= 1
                app.idle.notify_all()

    def read_body(self, *, required: bool = False) -> bytes:
        """A ``Content-Length`` body (the base's checks) or a chunked one, within the limits."""
        coding = self.headers.get("Transfer-Encoding")
        if coding is None:
            return super().read_body(required=required)
        self.close_connection = True  # until the whole body is read
        if coding.strip().lower() != "chunked" or self.headers.get("Content-Length") is not None:
            raise HTTPProblem(400, "only Transfer-Encoding: chunked without Content-Length")
        body = read_chunked(self.rfile, self.server.limits.max_body)
        self._body_read = True
        self.close_connection = False
        return body

    def handle_expect_100(self) -> bool:
        """``Expect: 100-continue`` with a chunked body: the limit applies as it arrives."""
        if self.headers.get("Transfer-Encoding") is not None:
            go_on = super(Handler, self).handle_expect_100()
        else:
            go_on = super().handle_expect_100()
        self.wfile.flush()
        return go_on

    def error_body(self, status: int, message: str) -> tuple[bytes, str]:
        """Errors in MLflow's shape: ``{"error_code": ..., "message": ...}``."""
        reply = error_reply(status, _CODES.get(status, "BAD_REQUEST"), message)
        return reply.body, reply.content_type

    def reply(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        """The base's answer, sent at once (the write buffer holds head and body)."""
        super().reply(status, body, content_type, headers)
        self.wfile.flush()

    def send(self, reply: Reply) -> None:
        """Answer; while draining, ask the client to reconnect (``Connection: close``)."""
        if self.app.draining:
            self.close_connection = True
        self.reply(reply.status, reply.body, reply.content_type)

    def _not_found(self) -> None:
        message = f"no endpoint {self.command} {self.path}: use /invocations, /ping, /metrics"
        self.send(error_reply(404, "ENDPOINT_NOT_FOUND", message))


__all__ = ["ScoringHandler", "read_chunked"]
