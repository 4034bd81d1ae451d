"""The model server's request bounds (issue 13 item 7: it runs on the hardened ``_httpd`` base).

Before, a ``Content-Length`` over the limit was a 400 and a chunked body had no limit at all (a
client announcing a huge chunk held the connection's thread until it hung up); a request whose
body never came held it forever. Now: 413 without reading, 400 for malformed framing, 408 past
the request deadline, all in MLflow's error shape, and a good request still scores after them.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from serving_helpers import Models

from modelcanary._httpd import Limits
from modelcanary.serving import ModelServer
from modelcanary.serving._server import MAX_BODY_BYTES

BODY = b'{"inputs": {"x": [0.5]}}'
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(models: Models) -> Iterator[ModelServer]:
    with ModelServer(str(models.echo_dir)) as running:
        yield running


def exchange(server: ModelServer, raw: bytes) -> tuple[int, dict[str, Any]]:
    """Send raw request bytes; the status and JSON body of the answer (bounded by a timeout)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed in the answer"
            body += chunk
    return int(head.split(b" ", 2)[1]), json.loads(body)


def post(headers: str, body: bytes = b"") -> bytes:
    return (
        f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{headers}\r\n"
    ).encode() + body


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ("Content-Length: 1000000000000\r\n", 413),  # over 512 MiB: refused unread
        (f"Content-Length: {MAX_BODY_BYTES + 1}\r\n", 413),
        ("Content-Length: 99999999999999999999999999\r\n", 413),
        ("Content-Length: 12abc\r\n", 400),
        ("Content-Length: -1\r\n", 400),
        ("Content-Length: 5\r\nContent-Length: 500\r\n", 400),
        ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400),
        ("Transfer-Encoding: gzip\r\n", 400),
    ],
)
def test_bad_or_oversized_content_length_is_a_4xx(
    server: ModelServer, headers: str, status: int
) -> None:
    code, error = exchange(server, post(headers, b"{}"))
    assert code == status, error
    assert error["error_code"] == "BAD_REQUEST" and error["message"]


@pytest.mark.parametrize(
    ("chunks", "status"),
    [
        (b"FFFFFFFFFFFF\r\n", 413),  # a huge chunk announced: refused before it is sent
        (b"FFFFFFFFFFFFFFFFFFFFFFFF\r\n", 413),
        (b"zz\r\n{}\r\n0\r\n\r\n", 400),
        (b"-2\r\n{}\r\n0\r\n\r\n", 400),
        (b"2\r\n{}}}\r\n0\r\n\r\n", 400),  # a chunk longer than its size
    ],
)
def test_bad_or_oversized_chunked_bodies_are_a_4xx(
    server: ModelServer, chunks: bytes, status: int
) -> None:
    code, error = exchange(server, post("Transfer-Encoding: chunked\r\n", chunks))
    assert code == status, error
    assert error["error_code"] == "BAD_REQUEST"
    reply = httpx.post(f"{server.url}/invocations", content=BODY, headers=JSON, timeout=30)
    assert reply.json() == {"predictions": [0.5]}  # still serving


def test_configured_limits_bound_bodies_and_slow_requests(models: Models) -> None:
    limits = Limits(max_body=64, read_timeout=5, request_timeout=0.5, max_connections=4)
    with ModelServer(str(models.echo_dir), limits=limits) as server:
        code, error = exchange(server, post("Content-Length: 65\r\n", b"x" * 65))
        assert code == 413 and "64 bytes" in error["message"]
        chunked = b"".join(b"20\r\n" + b" " * 32 + b"\r\n" for _ in range(3)) + b"0\r\n\r\n"
        code, error = exchange(server, post("Transfer-Encoding: chunked\r\n", chunked))
        assert code == 413  # 96 bytes in three chunks of 32
        code, error = exchange(server, post("Content-Length: 40\r\n", b"{"))  # the rest never
        assert code == 408 and error["error_code"] == "BAD_REQUEST"
        reply = httpx.post(f"{server.url}/invocations", content=BODY, headers=JSON, timeout=30)
        assert reply.json() == {"predictions": [0.5]}
