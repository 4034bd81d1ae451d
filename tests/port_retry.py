"""Start an external server on ports picked for it, again on new ports if one was taken.

A binary that takes its port in a flag or a config file (Prometheus, influxd, carbon,
VictoriaMetrics, the operator's health and metrics ports) cannot bind port 0 and report the
port back, so the harness picks a free port (bind 0, read it, close) and the binary binds it
a moment later. In between, any other socket may be handed the same port by the kernel (the
other xdist worker's servers, a client's ephemeral port): the binary then exits with
"address already in use" (~1e-4..1e-3 per start). That is the harness's problem, not the
test's, so :func:`start_retrying` starts it again on fresh ports (a few attempts).

A starter picks its ports with :func:`pick_port` (called through this module, so a test can
monkeypatch it to hand out a port that is taken) and raises :class:`PortTaken` when the
server could not bind (see :func:`says_port_taken` for reading its log), after cleaning up.
It counts the server as up only once :func:`owns_port` says the server's own process holds
the listening socket: an answer on the port may come from whoever took it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

ATTEMPTS = 5
"""Starts before giving up: 5 clashes in a row at ~1e-3 each never happen by chance."""


class PortTaken(AssertionError):
    """The server could not bind a port picked for it: another socket holds it."""


def pick_port() -> int:
    """A TCP port on 127.0.0.1 free right now (it may be taken before the server binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def says_port_taken(log: str) -> bool:
    """The server's log reports a failed bind (Go: "bind: address already in use"; Python:
    "[Errno 98] Address already in use"; Twisted: "Couldn't listen on ...")."""
    text = log.lower()
    return "address already in use" in text or "couldn't listen on" in text


def listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on TCP ``port`` (any address), from /proc/net/tcp{,6}."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found


def owns_port(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the socket listening on ``port``.

    An answer on the port proves nothing: when the port was taken, the answer may come from
    whoever took it (the other xdist worker's server of the same kind answers the same
    readiness probe) while our server is still failing to bind."""
    inodes = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    if not inodes:
        return False
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except (FileNotFoundError, PermissionError):
        return False
    for fd in fds:
        try:
            if os.readlink(fd) in inodes:
                return True
        except OSError:
            continue
    return False


def start_retrying(start: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """``start()`` until it returns, at most ``attempts`` times while it raises
    :class:`PortTaken` (each call picks new ports); any other error propagates at once."""
    for attempt in range(1, attempts + 1):
        try:
            return start()
        except PortTaken:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = [
    "ATTEMPTS",
    "PortTaken",
    "listening_inodes",
    "owns_port",
    "pick_port",
    "says_port_taken",
    "start_retrying",
]
