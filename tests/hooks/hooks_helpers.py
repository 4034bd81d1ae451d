"""Real loopback HTTP servers for the webhook tests (no mocks of httpx)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from modelcanary.hooks._runner import HttpWebhookRunner
from modelcanary.spec import Webhook


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    """What the recording server answers to one request."""

    status: int = 200
    body: str = "ok"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    """One request the recording server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class RecordingServer:
    """Answers each request with the next ``Reply`` (the last one repeats) and records it."""

    def __init__(self, replies: list[Reply] | None = None, tls: ssl.SSLContext | None = None):
        self.replies = replies or [Reply()]
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with outer.lock:
                    index = len(outer.seen)
                    outer.seen.append(
                        Seen(self.command, self.path, dict(self.headers.items()), body)
                    )
                reply = outer.replies[min(index, len(outer.replies) - 1)]
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.body.encode()
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> RecordingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def hook(url: str, **fields: object) -> Webhook:
    """A validated webhook spec (camelCase or snake_case keys, as the spec accepts)."""
    return Webhook.model_validate({"name": "h", "url": url, **fields})


@contextmanager
def fast_runner() -> Iterator[HttpWebhookRunner]:
    """A runner with a tiny backoff, closed afterwards."""
    runner = HttpWebhookRunner(backoff=0.01, max_backoff=0.05)
    try:
        yield runner
    finally:
        runner.close()


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition: object, timeout: float = 60.0) -> bool:
    """Poll ``condition()`` every 20 ms until true or ``timeout`` (a bound on a hung run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False
