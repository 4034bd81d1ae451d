"""Real HTTP upstreams on 127.0.0.1 for the router tests (no mocks): echo, slow, failing."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ports import closed_url

from modelcanary.local._proxy.server import LocalRouter
from modelcanary.local._recorder import Recorder
from modelcanary.rollout._commands import Routes
from modelcanary.spec import ModelRollout, parse_rollout


@dataclass
class Seen:
    """One request as an upstream received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    """A model server stand-in: answers ``{"predictions": [prediction], "server": name, ...}``."""

    name: str
    prediction: Any = 0.5
    delay: float = 0.0
    status: int = 200
    drop: bool = False
    """Close the connection without answering."""
    chunked: bool = False
    """Answer with a chunked body."""
    http10: bool = False
    """Answer as HTTP/1.0 without Content-Length (body ends when the connection closes)."""
    hang_up: bool = False
    """Close the connection after each answer without saying so (a stale keep-alive)."""
    gate: threading.Event | None = None
    """Hold every answer until this is set (bounded: 120 s), after any ``delay``."""
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests(self) -> list[Seen]:
        with self.lock:
            return list(self.seen)


def _handler(up: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                body = _read_chunked(self.rfile)
            seen = Seen(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            with up.lock:
                up.seen.append(seen)
            if up.delay:
                time.sleep(up.delay)
            if up.gate is not None:
                up.gate.wait(120)
            if up.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            payload = json.dumps(
                {
                    "predictions": [up.prediction],
                    "server": up.name,
                    "request_id": seen.headers.get("x-request-id"),
                    "method": self.command,
                    "path": self.path,
                    "headers": seen.headers,
                    "body": body.decode("latin-1"),
                }
            ).encode()
            if up.http10:
                self.protocol_version = "HTTP/1.0"
            self.send_response(up.status)
            self.send_header("content-type", "application/json")
            self.send_header("x-upstream", up.name)
            if up.chunked:
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                if self.command != "HEAD":
                    half = len(payload) // 2
                    for part in (payload[:half], payload[half:]):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                return
            if up.http10:
                self.close_connection = True
            else:
                self.send_header("content-length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            if up.hang_up:
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _read_chunked(rfile: Any) -> bytes:
    parts = []
    while True:
        size = int(rfile.readline().split(b";")[0], 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b""):
                pass
            return b"".join(parts)
        parts.append(rfile.read(size))
        rfile.read(2)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients (the router) hanging up mid-answer is expected in these tests


@contextmanager
def upstream(name: str, **options: Any) -> Iterator[Upstream]:
    """Serve an ``Upstream`` on a free loopback port for the duration of the block."""
    up = Upstream(name, **options)
    server = _Server(("127.0.0.1", 0), _handler(up))
    up.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield up
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def dead_url() -> str:
    """A loopback URL where nothing listens (:func:`ports.closed_url`: held closed, never
    handed to another server during the test)."""
    return closed_url()


def rollout(name: str = "fraud") -> ModelRollout:
    """A minimal rollout named ``name``."""
    return parse_rollout(
        {
            "metadata": {"name": name, "namespace": "ml"},
            "spec": {
                "champion": {"modelUri": "models:/fraud@champion"},
                "challenger": {"modelUri": "models:/fraud/2"},
                "analysis": {
                    "interval": "30s",
                    "stepWeights": [10, 50],
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
                },
            },
        }
    )


@contextmanager
def router(
    champion: str, challenger: str, routes: Routes | None = None, **options: Any
) -> Iterator[LocalRouter]:
    """A started ``LocalRouter`` (rollout ``fraud``) with its own ``Recorder``."""
    options.setdefault("recorder", Recorder())
    r = LocalRouter(champion, challenger, rollout="fraud", **options).start()
    if routes is not None:
        r.set_routes(rollout(), routes)
    try:
        yield r
    finally:
        r.stop()


def settle(r: LocalRouter) -> None:
    """Wait until the router recorded every answer already sent (one round trip to it).

    The router records an answer right after writing it, in the same event-loop callback,
    so any later request to the router is handled after that recording.
    """
    with socket.create_connection((r.host, r.port), timeout=5) as sock:
        sock.sendall(b"GET /_modelcanary/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while sock.recv(65536):
            pass


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name + "{"):
            continue
        label_text, value = line[len(name) + 1 :].rsplit("} ", 1)
        found = dict(part.split("=", 1) for part in _split_labels(label_text))
        if all(found.get(k) == f'"{v}"' for k, v in labels.items()):
            return float(value)
    return 0.0


def _split_labels(text: str) -> list[str]:
    parts, depth, current = [], False, ""
    for ch in text:
        if ch == '"':
            depth = not depth
        if ch == "," and not depth:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current] if current else parts


@contextmanager
def released(gate: threading.Event) -> Iterator[None]:
    """Set ``gate`` when the block ends (before the servers it holds are stopped): an
    upstream held on ``gate`` answers then, so a test never waits on a timer."""
    try:
        yield
    finally:
        gate.set()
