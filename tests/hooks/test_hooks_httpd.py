"""``modelcanary._httpd``, the hardened server base: time bounds, connection cap, header budget,
Expect handling, quiet failures. A small echo app on a real loopback socket."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hooks_helpers import wait_until

from modelcanary._httpd import BackgroundServer, Handler, HostPolicy, Limits, host_name

log = logging.getLogger("tests.httpd")


class Echo(Handler):
    def do_POST(self) -> None:
        self.reply(200, self.read_body())

    def do_GET(self) -> None:
        if self.path == "/boom":
            raise RuntimeError("a bug in a handler")
        self.reply(200, b"ok")


@pytest.fixture
def small() -> Iterator[BackgroundServer]:
    # read_timeout 2 s (it was 0.5 s): the trickling client's 0.2 s pauses and the 5 requests
    # sent while 3 slow connections must still be open both had to fit in it on a loaded
    # machine; the request deadline stays twice the read timeout
    limits = Limits(
        max_body=1000,
        max_header_bytes=4096,
        read_timeout=2.0,
        request_timeout=4.0,
        max_connections=3,
    )
    server = BackgroundServer(
        "127.0.0.1", 0, Echo, app=None, limits=limits, logger=log, name="test-httpd"
    )
    server.start()
    try:
        yield server
    finally:
        server.close()


def connect(server: BackgroundServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def get(server: BackgroundServer) -> bytes:
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        return read_all(sock)


def test_a_trickling_client_is_cut_at_the_request_deadline(small: BackgroundServer) -> None:
    with connect(small) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\n")
        answer = b""
        for _ in range(100):  # one header byte every 0.2 s: each read is in time, the whole not
            try:
                sock.sendall(b"X")
            except OSError:
                break
            time.sleep(0.2)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_an_idle_connection_is_closed_after_the_read_timeout(small: BackgroundServer) -> None:
    with connect(small) as sock:
        assert read_all(sock) == b"", "closed without an answer (nothing was asked)"


def test_connections_over_the_cap_get_503_and_threads_stay_bounded(
    small: BackgroundServer,
) -> None:
    threads = threading.active_count()
    slow = [connect(small) for _ in range(3)]
    for sock in slow:
        sock.sendall(b"POST / HTTP/1.1\r\n")  # and then nothing
    assert wait_until(lambda: small.server.open_connections() == 3)
    extra = [get(small) for _ in range(5)]
    assert all(a.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in a for a in extra), extra
    assert threading.active_count() <= threads + 3
    for sock in slow:
        sock.close()
    assert wait_until(lambda: small.server.open_connections() == 0)
    assert get(small).startswith(b"HTTP/1.1 200")
    assert small.server.refused == 5


def test_headers_over_the_budget_are_431(small: BackgroundServer) -> None:
    many = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 100) for i in range(60))
    with connect(small) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n" + many + b"\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 431")
    with connect(small) as sock:
        sock.sendall(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 414")


def test_expect_100_is_refused_before_the_body_when_too_large(small: BackgroundServer) -> None:
    with connect(small) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 413") and b"100 Continue" not in answer
    with connect(small) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"hi")
        assert read_all(sock).endswith(b"\r\n\r\nhi")


def test_keep_alive_after_a_refused_body_closes_the_connection(small: BackgroundServer) -> None:
    """An answer sent before an announced body was read closes the connection: the unread
    body is never parsed as the next request (request smuggling)."""
    smuggled = b"GET /boom HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with connect(small) as sock:
        sock.sendall(
            b"PUT / HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
            + smuggled
        )
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 405") and b"Allow: GET, POST" in answer
    assert answer.count(b"HTTP/1.1") == 1, answer


def test_a_handler_bug_is_one_log_line_and_a_500(
    small: BackgroundServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="tests.httpd")
    with connect(small) as sock:
        sock.sendall(b"GET /boom HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 500")
    assert get(small).startswith(b"HTTP/1.1 200"), "the server keeps serving"
    [line] = [r for r in caplog.records if "boom" in r.getMessage()]
    assert "RuntimeError: a bug in a handler" in line.getMessage() and line.exc_info is None
    assert "Traceback" not in capfd.readouterr().err


def test_host_policy() -> None:
    policy = HostPolicy.build("0.0.0.0", ["gate.ml", "*.svc.cluster.local"])
    assert [host_name(h) for h in ("A.b:80", "[::1]:9", "::1", "x.")] == ["a.b", "::1", "::1", "x"]
    assert policy.allows("localhost") and policy.allows("192.0.2.7") and policy.allows("::1")
    assert policy.allows("gate.ml") and policy.allows("g.ml.svc.cluster.local")
    assert not policy.allows("0.0.0.0.evil") and not policy.allows("svc.cluster.local")
    assert not policy.allows("evil.example")
    assert HostPolicy.build("gate.internal").allows("gate.internal")
    assert HostPolicy.build("::1", ["*"]).allows("anything.example")


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080"),
        ("::1", "http://[::1]:8080"),
        ("[::1]", "http://[::1]:8080"),  # as users write it: was http://[[::1]]:8080
        ("localhost", "http://localhost:8080"),
    ],
)
def test_http_url_brackets_an_ipv6_literal_once(host: str, url: str) -> None:
    from modelcanary._httpd.service import http_url

    assert http_url(host, 8080) == url
