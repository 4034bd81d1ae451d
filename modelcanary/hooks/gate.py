"""``GateServer``: a built-in gate and load-test service, API-compatible with Flagger's loadtester.

Endpoints (fluxcd/flagger ``pkg/loadtester/server.go``; any method, the body is the webhook
payload ``{"name": ..., "namespace": ..., ...}``):

========================  ===============================================================
``/healthz``              200 ``OK``
``/gate/approve``         200 always (a confirm-* hook pointing here passes)
``/gate/halt``            403 always (a confirm-* hook pointing here waits)
``/gate/check``           200 when the gate of ``name.namespace`` is open, else 403
``/gate/open|close``      open / close that gate: 202
``/rollback/check``       200 when the rollback gate of ``name.namespace`` is open, else 403
``/rollback/open|close``  open / close that rollback gate: 202
``/``                     run a task from ``metadata`` (see ``tasks.py``): ``type: cmd``
                          (default) starts it in the background, 202; ``type: bash`` runs it
                          and answers 200 or 500; no metadata, no ``cmd`` or another type: 400
========================  ===============================================================

Gates start closed. All state (gates, running tasks) lives in this process's memory, like
Flagger's ``in-memory`` gate storage: a restart closes every gate, and replicas do not share
state, so run one replica. The service runs any command it is sent: bind it to loopback or a
trusted network, and restrict namespaces with ``namespace_regexp`` (Flagger's
``-namespace-regexp``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

from .payload import string_map
from .tasks import DEFAULT_TASK_TIMEOUT, TaskRunner

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}  # Go's strconv.ParseBool (errors count as false)


class GateStore:
    """Open/closed gates, keyed like Flagger's: ``name.namespace``, ``rollback.name.namespace``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, bool] = {}

    def is_open(self, key: str) -> bool:
        """True when the gate was opened (and not closed since); unknown gates are closed."""
        with self._lock:
            return self._open.get(key, False)

    def set(self, key: str, is_open: bool) -> None:
        """Open or close a gate."""
        with self._lock:
            self._open[key] = is_open


class _HTTPServer(ThreadingHTTPServer):
    """Tracks open connections so ``stop()`` can close idle keep-alive ones too."""

    daemon_threads = True
    app: GateServer

    def server_activate(self) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "modelcanary-gate"
    sys_version = ""
    timeout = 15  # close idle keep-alive connections (Flagger's IdleTimeout)
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        app = cast(_HTTPServer, self.server).app
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            self._reply(413, f"request body over {MAX_BODY} bytes")
            return
        body = self.rfile.read(length) if length > 0 else b""
        status, text = app.handle(urlsplit(self.path).path, body)
        self._reply(status, text)

    def _reply(self, status: int, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class GateServer:
    """Flagger-loadtester-compatible gate/task HTTP service on a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8090,
        *,
        task_timeout: float = DEFAULT_TASK_TIMEOUT,
        namespace_regexp: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.gates = GateStore()
        self.tasks = TaskRunner(timeout=task_timeout)
        self.namespace_regexp = re.compile(namespace_regexp) if namespace_regexp else None
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8090`` (the real port once started with port 0)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve in a daemon thread; raises ``OSError`` when the address is unusable."""
        if self._server is not None:
            return
        server_class = _HTTPServer6 if ":" in self.host else _HTTPServer
        server = server_class((self.host, self.port), _Handler)
        server.app = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="modelcanary-gate",
            daemon=True,
        )
        self._thread.start()
        log.info("gate service listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving, kill running tasks and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()  # no new connections
        self.tasks.stop()  # kill tasks: blocked bash requests answer 500
        server.close_connections()  # idle keep-alive connections too
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        log.info("gate service stopped")

    def __enter__(self) -> GateServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- request handling (plain method, so it is testable without sockets) ---

    def handle(self, path: str, body: bytes) -> tuple[int, str]:
        """Answer one request: ``(status, text)``."""
        if path == "/healthz":
            return 200, "OK"
        if path == "/gate/approve":
            return 200, "OK"
        if path == "/gate/halt":
            return 403, "Forbidden"
        prefix, _, action = path.strip("/").partition("/")
        known = prefix in ("gate", "rollback") and action in ("check", "open", "close")
        if path != "/" and not known:
            return 404, f"no endpoint {path}"
        payload = _parse(body)
        if isinstance(payload, str):
            return 400, payload
        name, namespace, metadata = payload
        if self.namespace_regexp is not None and not self.namespace_regexp.search(namespace):
            return 403, "Forbidden"
        if path == "/":
            return self._task(f"{name}.{namespace}", metadata)
        key = f"{name}.{namespace}" if prefix == "gate" else f"rollback.{name}.{namespace}"
        if action == "check":
            approved = self.gates.is_open(key)
            log.info("%s check: approved %s", key, approved)
            return (200, "Approved") if approved else (403, "Forbidden")
        self.gates.set(key, action == "open")
        what = f"{'gate' if prefix == 'gate' else 'rollback gate'} of {name}.{namespace}"
        verb = "opened" if action == "open" else "closed"
        log.info("%s %s", what, verb)
        return 202, f"{what} {verb}"

    def _task(self, rollout: str, metadata: dict[str, str]) -> tuple[int, str]:
        if not metadata:
            return 400, "metadata not found in payload"
        kind = metadata.get("type", "cmd")
        if kind not in ("cmd", "bash"):
            return 400, f"unknown task type {kind} (this service runs cmd and bash tasks)"
        command = metadata.get("cmd", "")
        if not command:
            return 400, "cmd not found in metadata"
        if kind == "bash":
            result = self.tasks.run(rollout, command, shell="bash")
            if not result.ok:
                return 500, result.failure()
            return 200, result.output if metadata.get("returnCmdOutput") in _TRUE else ""
        started = self.tasks.submit(
            rollout, command, log_output=metadata.get("logCmdOutput") in _TRUE
        )
        if not started and self.tasks.stopped:
            return 503, "the service is stopping"
        return 202, "task started" if started else "task already running"


def _parse(body: bytes) -> tuple[str, str, dict[str, str]] | str:
    """``(name, namespace, metadata)`` of a webhook payload, or why it cannot be read."""
    try:
        data = json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"decoding the request body failed: {exc}"
    if not isinstance(data, dict):
        return 'decoding the request body failed: expected a JSON object {"name", "namespace"}'
    name, namespace = data.get("name"), data.get("namespace")
    if not (isinstance(name, str) and name and isinstance(namespace, str) and namespace):
        return "name and namespace (non-empty strings) are required in the payload"
    metadata = string_map(data.get("metadata") or {})
    if metadata is None:
        return "metadata must be a map of strings"
    return name, namespace, dict(metadata)


__all__ = ["MAX_BODY", "GateServer", "GateStore"]
