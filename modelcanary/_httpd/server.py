"""The listening side: a threading server with a connection cap, the deadline reader of each
connection, and a background-thread wrapper."""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import socketserver
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from .checks import HeadersTooLarge, Limits, client_name
from .service import http_url

if TYPE_CHECKING:
    from .handler import Handler


class DeadlineReader(io.RawIOBase):
    """The socket as a raw stream with a per-request deadline and a header byte budget."""

    def __init__(self, sock: socket.socket, read_timeout: float) -> None:
        super().__init__()
        self._sock = sock
        self._read_timeout = read_timeout
        self.deadline = time.monotonic() + read_timeout
        self.budget: int | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        view = memoryview(buffer).cast("B")
        if self.budget is not None:
            if self.budget <= 0:
                raise HeadersTooLarge("request line and headers are too large")
            view = view[: self.budget]
        self._sock.settimeout(min(self._read_timeout, remaining))
        count = self._sock.recv_into(view)
        if self.budget is not None:
            self.budget -= count
        return count


class Server(socketserver.ThreadingTCPServer):
    """A threading TCP server with a connection cap, tracked connections and quiet errors."""

    daemon_threads = True
    block_on_close = False  # close() cuts connections itself
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        host: str,
        port: int,
        handler: type[Handler],
        *,
        app: Any,
        limits: Limits,
        logger: logging.Logger,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app = app
        self.limits = limits
        self.log = logger
        self.refused = 0
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._warned = 0.0
        # the listen backlog: a burst of up to max_connections new connections is not dropped
        self.request_queue_size = max(type(self).request_queue_size, limits.max_connections)
        super().__init__((host.strip("[]"), port), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            full = len(self._connections) >= self.limits.max_connections
            if not full:
                self._connections.add(request)
        if not full:
            super().process_request(request, client_address)
            return
        self.refused += 1
        now = time.monotonic()
        if now - self._warned > 10:
            self._warned = now
            self.log.warning(
                "%d connections open (the cap): refusing new ones with 503",
                self.limits.max_connections,
            )
        _refuse(request)
        self.shutdown_request(request)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line, never a traceback (the handler already answered what it could)."""
        exc = sys.exc_info()[1]
        lost = isinstance(exc, OSError)  # the peer went away while we answered
        self.log.log(
            logging.DEBUG if lost else logging.WARNING,
            "connection from %s failed: %s: %s",
            client_name(client_address),
            type(exc).__name__,
            exc,
        )

    def open_connections(self) -> int:
        """Connections being served right now."""
        with self._lock:
            return len(self._connections)

    def close_connections(self) -> None:
        """Shut down every open connection (idle keep-alive ones included)."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _refuse(request: socket.socket) -> None:
    """Answer 503 on a connection over the cap without a thread, then drain what was sent."""
    data = b"server busy: too many connections\n"
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(data)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        request.settimeout(0.5)
        request.sendall(head.encode("ascii") + data)
        request.shutdown(socket.SHUT_WR)
        request.setblocking(False)
        for _ in range(16):  # unread data would turn close() into a reset
            if not request.recv(65536):
                break


class BackgroundServer:
    """A :class:`Server` on a daemon thread: ``start()``, ``shutdown()`` (no new requests),
    ``close()`` (cut open connections and release the port). Binds in the constructor."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: type[Handler],
        *,
        app: Any,
        limits: Limits,
        logger: logging.Logger,
        name: str,
    ) -> None:
        self.server = Server(host, port, handler, app=app, limits=limits, logger=logger)
        self.name = name
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when asked for port 0)."""
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` of the bound address."""
        return http_url(str(self.server.server_address[0]), self.port)

    def start(self) -> None:
        """Serve in a daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.server.serve_forever, args=(0.05,), name=self.name, daemon=True
            )
            self._thread.start()

    def shutdown(self) -> None:
        """Stop accepting connections; open ones are served until :meth:`close`."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self.server.shutdown()
            thread.join(5)

    def close(self) -> None:
        """Stop serving, shut open connections and release the port (idempotent)."""
        self.shutdown()
        self.server.close_connections()
        self.server.server_close()


__all__ = ["BackgroundServer", "DeadlineReader", "Server"]
