"""A model server on 127.0.0.1 whose answers the test scripts, for runs through the real router.

``scripted_model(status)`` serves MLflow-style ``/invocations`` on a free port: every POST is
answered ``{"predictions": [0.5]}`` with the HTTP status ``status(headers, body)`` returns (the
request's headers, lower-case names, and its body), GETs (pings) with 200. The script keeps its
own state (counters per user, a switch that makes it fail); answers are HTTP/1.1 keep-alive.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Script = Callable[[Mapping[str, str], bytes], int]
"""(request headers with lower-case names, request body) -> the answer's HTTP status."""


@dataclass(frozen=True)
class ScriptedModel:
    """A running scripted server: its base URL."""

    url: str


@contextmanager
def scripted_model(
    status: Script, predictions: tuple[object, ...] = (0.5,)
) -> Iterator[ScriptedModel]:
    """Serve ``status``'s answers until the block ends (then shut down and joined)."""
    answer = json.dumps({"predictions": list(predictions)}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer(200, b'{"status": "ok"}')

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._answer(status(headers, body), answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield ScriptedModel(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
