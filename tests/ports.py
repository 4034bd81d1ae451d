"""A loopback port nothing listens on, for tests of "the other end is down".

``127.0.0.1:9`` (the discard port) is closed on most machines, not on all: a CI runner or a
developer box may run a discard service, and any process may bind it. A port that was bound
and closed again is no better: the kernel hands ``bind(port 0)`` a *random* free port, so any
server another test (or the other xdist worker) starts may be given it while the test still
counts on it being closed (~1e-3 of runs for a test that needs it for a few seconds while
servers start around it). So the port stays bound, never listening, until this process ends:
connecting to it is refused at once, and nobody else can be handed it.
"""

from __future__ import annotations

import socket

_HELD: list[socket.socket] = []
"""The sockets holding the closed ports (bound, never listening) for the process's life."""


def closed_port() -> int:
    """A TCP port on 127.0.0.1 with no listener: bound by this process (without ``listen()``)
    until it exits, so connecting is refused and no other socket can bind it meanwhile."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    _HELD.append(sock)
    return int(sock.getsockname()[1])


def closed_url(path: str = "") -> str:
    """``http://127.0.0.1:PORT{path}`` on a :func:`closed_port`."""
    return f"http://127.0.0.1:{closed_port()}{path}"


def reserved_port() -> int:
    """A TCP port on 127.0.0.1 kept for this process's servers (a server that dies and comes
    back on the same port): held, bound with ``SO_REUSEADDR`` and never listening, until this
    process exits. Connecting is refused while no server listens there; a server binding it
    explicitly with ``SO_REUSEADDR`` (``http.server`` does) succeeds; ``bind(port 0)`` never
    hands it out, so between two of its servers nobody else can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    _HELD.append(sock)
    return int(sock.getsockname()[1])
