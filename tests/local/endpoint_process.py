"""A scripted model endpoint in its own process (no mocks), shared by dead_challenger_endpoint.py
and hung_challenger_server.py: the handler base and the server loop of the child's script, and
the context manager that starts ``python -c SCRIPT ARGS``, reads the port it bound and kills it
when the block ends."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

HANDLER = r"""
import json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, body):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
"""
"""The child's prelude: its imports and ``JsonHandler.answer(body)`` (a 200 JSON answer)."""

SERVE = r"""
server = ThreadingHTTPServer(("127.0.0.1", bind_port), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""
"""The child's end: serve ``Handler`` on 127.0.0.1:``bind_port``, the port printed first."""


@contextmanager
def endpoint_process(script: str, *args: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``python -c script args`` until the block ends: the port it printed and the process,
    killed (if still running) and reaped at the end."""
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield port, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
