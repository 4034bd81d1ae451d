"""A real HTTP receiver on 127.0.0.1 that records what notifiers send (no mocks of httpx)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelcanary.ports import Notification


@dataclass
class Recorded:
    """One request as received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    """What the receiver answers on a path."""

    status: int = 200
    body: str = "ok"
    delay: float = 0.0
    content_type: str = "text/plain"


@dataclass
class Receiver:
    """Records requests; ``replies[path]`` sets the answer (default 200 ``ok``)."""

    url: str
    requests: list[Recorded] = field(default_factory=list)
    replies: dict[str, Reply] = field(default_factory=dict)

    def only(self) -> Recorded:
        assert len(self.requests) == 1, [r.path for r in self.requests]
        return self.requests[0]

    def reply(self, path: str, **answer: Any) -> None:
        """Answer requests to ``path`` with ``Reply(**answer)``."""
        self.replies[path] = Reply(**answer)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.requests.append(Recorded("POST", self.path, headers, body))
            reply = receiver.replies.get(self.path.split("?")[0], Reply())
            if reply.delay:
                time.sleep(reply.delay)
            data = reply.body.encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(box))
    server.daemon_threads = True
    box.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


def make_notification(**changes: Any) -> Notification:
    """A typical failure notification; override any field."""
    values: dict[str, Any] = {
        "rollout": "fraud",
        "namespace": "ml",
        "event": "RolloutFailed",
        "severity": "error",
        "message": "error-rate 0.031 > 0.01 after 3 failed checks",
        "phase": "Failed",
        "fields": {"Failed checks": "3", "Challenger": "models:/fraud/4"},
    }
    values.update(changes)
    return Notification(**values)


@pytest.fixture
def notification() -> Notification:
    return make_notification()


@pytest.fixture
def make() -> Any:
    """The notification builder, for tests that need several."""
    return make_notification
