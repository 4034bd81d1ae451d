"""The OTLP/HTTP receiver on the hardened server base: bounded gzip, validated Content-Length,
content type checked before the body is read, no DNS rebinding or cross-site writes."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
from collections.abc import Iterator

import pytest

from modelcanary.providers._otlp_receiver import OTLPReceiver
from modelcanary.providers._otlp_store import OTLPStore

EXPORT = json.dumps({"resourceMetrics": []}).encode()


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver(OTLPStore(), "127.0.0.1", 0, max_body=64 * 1024) as running:
        yield running


def port_of(receiver: OTLPReceiver) -> int:
    return int(receiver.url.rsplit(":", 1)[1])


def post(receiver: OTLPReceiver, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port_of(receiver), timeout=10)
    try:
        merged = {"Host": "127.0.0.1", "Content-Type": "application/json", **headers}
        conn.request("POST", "/v1/metrics", body=body, headers=merged)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def exchange(receiver: OTLPReceiver, head: bytes) -> bytes:
    """Send a request head only (no body) and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port_of(receiver)), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_a_gzip_bomb_is_413_not_unbounded_memory(receiver: OTLPReceiver) -> None:
    bomb = gzip.compress(b" " * (8 << 20))  # 8 MB of JSON whitespace in ~8 KB
    assert len(bomb) < 64 * 1024
    status, text = post(receiver, bomb, {"Content-Encoding": "gzip"})
    assert status == 413 and "expands beyond 65536 bytes" in json.loads(text)["message"]
    fine = gzip.compress(EXPORT) + gzip.compress(b" ")  # two gzip members are one body
    assert post(receiver, fine, {"Content-Encoding": "gzip"})[0] == 200
    assert post(receiver, b"\x1f\x8b junk", {"Content-Encoding": "gzip"})[0] == 400
    assert post(receiver, EXPORT, {"Content-Encoding": "br"})[0] == 415


@pytest.mark.parametrize(
    ("length", "status"),
    [("abc", b"400"), ("-1", b"400"), (str(1 << 30), b"413"), ("1" * 40, b"413")],
)
def test_bad_content_length_is_answered_before_any_body(
    receiver: OTLPReceiver, length: str, status: bytes
) -> None:
    head = (
        "POST /v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    assert exchange(receiver, head).startswith(b"HTTP/1.1 " + status)


def test_the_content_type_is_checked_before_the_body_is_read(receiver: OTLPReceiver) -> None:
    head = (
        b"POST /v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 60000\r\n\r\n"
    )
    assert exchange(receiver, head).startswith(b"HTTP/1.1 415")


def test_web_pages_cannot_write_metrics(receiver: OTLPReceiver) -> None:
    assert post(receiver, EXPORT, {"Host": "evil.example"})[0] == 403  # DNS rebinding
    assert post(receiver, EXPORT, {"Origin": "http://evil.example"})[0] == 403
    assert post(receiver, EXPORT, {"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert post(receiver, EXPORT, {"Host": "localhost:4318"})[0] == 200
    assert post(receiver, b"[" * 50_000, {})[0] == 400, "deep JSON is a 400, not a crash"


def test_names_beyond_loopback_are_configurable() -> None:
    with OTLPReceiver(OTLPStore(), "127.0.0.1", 0, allow_hosts=["otlp.ml.svc"]) as receiver:
        assert post(receiver, EXPORT, {"Host": "otlp.ml.svc:4318"})[0] == 200
        assert post(receiver, EXPORT, {"Host": "evil.example"})[0] == 403
