"""A loopback port nothing listens on, for tests of "the other end is down".

``127.0.0.1:9`` (the discard port) is closed on most machines, not on all: a CI runner or a
developer box may run a discard service, and any process may bind it. A port the kernel just
handed out and that was closed again has no listener: connecting to it is refused at once.
"""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A TCP port on 127.0.0.1 with no listener (bound, read and closed: connect is refused).

    The socket is closed without ``listen()``, so nothing ever accepted on it; the kernel hands
    ports out in turn, so another test binding the same one within the test is unlikely."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_url(path: str = "") -> str:
    """``http://127.0.0.1:PORT{path}`` on a :func:`closed_port`."""
    return f"http://127.0.0.1:{closed_port()}{path}"
