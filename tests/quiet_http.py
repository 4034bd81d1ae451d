"""``QuietHandler``: the base of the tests' loopback HTTP/1.1 servers (keep-alive, no access
log on stderr) with the request's JSON body at hand."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def json_body(self) -> Any:
        """The request's body (``content-length`` bytes), parsed as JSON."""
        return json.loads(self.rfile.read(int(self.headers["content-length"])))
