"""Raw-socket helpers for the router's hardening tests: exact bytes in, parsed answers out.

httpx would refuse to send most of what these tests send (bad framing, control bytes, huge
heads), so requests are written on a plain socket and the answer is parsed here. Also a
model server that accepts connections and never answers (a hung challenger).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from modelcanary.local._proxy.server import LocalRouter


@dataclass
class Answer:
    """One HTTP response as the client received it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    head: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive)."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def connect(r: LocalRouter, timeout: float = 10.0) -> socket.socket:
    """A socket connected to the router."""
    return socket.create_connection((r.host, r.port), timeout=timeout)


def read_answer(sock: socket.socket, buf: bytearray | None = None) -> Answer | None:
    """Read one response from ``sock``; None when the router closed without answering.

    ``buf`` carries bytes already received past the previous answer (pipelining).
    """
    data = buf if buf is not None else bytearray()
    while b"\r\n\r\n" not in data:
        chunk = _recv(sock)
        if not chunk:
            if data:
                raise AssertionError(f"connection closed inside a response head: {bytes(data)!r}")
            return None
        data += chunk
    end = data.index(b"\r\n\r\n")
    head = bytes(data[:end])
    del data[: end + 4]
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    answer = Answer(status, headers, b"", head)
    length = answer.header("content-length")
    if answer.header("transfer-encoding") == "chunked":
        while b"0\r\n\r\n" not in data:
            chunk = _recv(sock)
            assert chunk, "connection closed inside a chunked body"
            data += chunk
        stop = data.index(b"0\r\n\r\n") + 5
        answer.body = bytes(data[:stop])
        del data[:stop]
    elif length is not None:
        while len(data) < int(length):
            chunk = _recv(sock)
            assert chunk, "connection closed inside a body"
            data += chunk
        answer.body = bytes(data[: int(length)])
        del data[: int(length)]
    else:
        while chunk := _recv(sock):
            data += chunk
        answer.body = bytes(data)
        data.clear()
    return answer


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def exchange(r: LocalRouter, payload: bytes, timeout: float = 10.0) -> Answer | None:
    """Send ``payload`` on a new connection and read one answer (None: closed, no answer)."""
    with connect(r, timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(payload)
        return read_answer(sock)


def closed_by_router(sock: socket.socket) -> bool:
    """True once the router closed ``sock`` (EOF or reset; waits up to the socket timeout)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def get(path: str = "/predict", headers: str = "", body: bytes = b"") -> bytes:
    """A well-formed keep-alive request."""
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    return f"POST {path} HTTP/1.1\r\nHost: router\r\n{headers}{length}\r\n".encode() + body


def rss_bytes() -> int:
    """This process's resident memory now (Linux ``/proc``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@dataclass
class HungServer:
    """Accepts connections and reads requests, never answers (a hung model server)."""

    url: str = ""
    accepted: list[socket.socket] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def connections(self) -> int:
        with self.lock:
            return len(self.accepted)


@contextlib.contextmanager
def hung_server() -> Iterator[HungServer]:
    """A loopback server that holds every connection open without a byte of answer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.settimeout(0.05)
    server = HungServer(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with server.lock:
                server.accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        with server.lock:
            for conn in server.accepted:
                conn.close()
