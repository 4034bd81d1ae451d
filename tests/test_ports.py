"""``ports.closed_port``: a loopback port where a connection is refused, on any machine."""

from __future__ import annotations

import socket

import pytest
from ports import closed_port, closed_url


def test_a_closed_port_refuses_connections() -> None:
    port = closed_port()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 5):
        pass


def test_closed_url_is_http_on_loopback_with_the_path() -> None:
    url = closed_url("/hook")
    assert url.startswith("http://127.0.0.1:") and url.endswith("/hook")
    assert int(url.removeprefix("http://127.0.0.1:").removesuffix("/hook")) > 0
