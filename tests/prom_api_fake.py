"""A Prometheus-API server on 127.0.0.1 that a test steers, shared by the controller and the
operator bundle tests (one fake, not one per directory).

``PromAPI``: a stdlib HTTP server answering Prometheus' documented ``/api/v1/query`` and
``/api/v1/query_range`` shapes; a query containing one of the keys of ``values`` answers that
value as a one-sample vector, ``vector(1)`` (the operator's readiness probe of the backend)
answers 1, every other query an empty vector (the built-in SLI queries then have no data,
which the analysis reports as such). It records each query and its Authorization header.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class PromAPI:
    """Prometheus' query API with values the test sets (``prom.values["errors"] = 0.2``)."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.queries: list[str] = []
        self.authorizations: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                self._answer(url.path, params)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                params = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                self._answer(urllib.parse.urlsplit(self.path).path, params)

            def _answer(self, path: str, params: dict[str, str]) -> None:
                query = params.get("query", "")
                owner.queries.append(query)
                owner.authorizations.append(self.headers.get("Authorization") or "")
                at = float(params.get("time") or time.time())
                if path == "/api/v1/query":
                    result = [
                        {"metric": {}, "value": [at, repr(value)]}
                        for key, value in list(owner.values.items())
                        if key in query
                    ][:1]
                    if query == "vector(1)":
                        result = [{"metric": {}, "value": [at, "1"]}]
                    data: dict[str, Any] = {"resultType": "vector", "result": result}
                elif path == "/api/v1/query_range":
                    data = {"resultType": "matrix", "result": []}
                else:
                    self.send_error(404)
                    return
                body = json.dumps({"status": "success", "data": data}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
