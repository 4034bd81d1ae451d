"""Resource limits of the local router: sizes, read and idle time, connections, memory.

Every test drives a real router on loopback with real upstreams, on raw sockets, and checks
that a slow, idle or oversized client is answered (431, 413, 408, 503) or closed, while a
normal request on another connection is still served.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest
from router_fixtures import Upstream, router, upstream
from router_raw import closed_by_router, connect, exchange, get, read_answer, rss_bytes

from modelcanary.local._proxy.limits import RouterLimits
from modelcanary.local._proxy.server import LocalRouter
from modelcanary.rollout._commands import Routes

MIB = 1024 * 1024


@pytest.fixture
def champion() -> Iterator[Upstream]:
    with upstream("champion") as up:
        yield up


def _limited(champion: Upstream, **limits: float) -> contextlib.AbstractContextManager[LocalRouter]:
    return router(champion.url, champion.url, Routes(), limits=RouterLimits(**limits))  # type: ignore[arg-type]


def _served(r: LocalRouter) -> bool:
    answer = exchange(r, get(body=b'{"x": 1}'))
    return answer is not None and answer.status == 200


def test_a_head_over_the_limit_is_431_even_when_it_arrives_whole(champion: Upstream) -> None:
    with router(champion.url, champion.url, Routes()) as r:
        huge = get(headers="X-Big: " + "a" * (100 * 1024) + "\r\n")  # one send, blank line included
        answer = exchange(r, huge)
        assert answer is not None and answer.status == 431
        assert not champion.requests()  # never forwarded
        assert _served(r)


def test_bodies_over_the_limit_are_413_before_they_are_buffered(champion: Upstream) -> None:
    with _limited(champion, max_body=1024) as r:
        declared = exchange(r, get(headers="Content-Length: 1025\r\n"))
        assert declared is not None and declared.status == 413
        chunked = b"POST / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n" + b"401\r\n"
        answer = exchange(r, chunked)  # a 1025-byte chunk is refused from its size line
        assert answer is not None and answer.status == 413
        assert _served(r)


def test_a_huge_chunk_size_is_refused_at_once_with_default_limits(champion: Upstream) -> None:
    with router(champion.url, champion.url, Routes()) as r:
        payload = b"POST / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\nfffffffff\r\n"
        answer = exchange(r, payload)
        assert answer is not None and answer.status == 413


def test_an_unfinished_request_gets_408_and_is_closed(champion: Upstream) -> None:
    with _limited(champion, read_timeout=0.3) as r, connect(r) as head, connect(r) as body:
        head.sendall(b"POST /p HTTP/1.1\r\nHost: r\r\n")  # head never finished
        body.sendall(get(headers="Content-Length: 100\r\n") + b"only part")
        for sock in (head, body):
            answer = read_answer(sock)
            assert answer is not None and answer.status == 408
            assert answer.header("connection") == "close"
            assert closed_by_router(sock)
        assert _served(r)
        assert len(champion.requests()) == 1  # only the normal request reached the model


def test_a_slowloris_sender_cannot_extend_the_read_deadline(champion: Upstream) -> None:
    with _limited(champion, read_timeout=0.5) as r, connect(r) as sock:
        sock.sendall(b"POST /p HTTP/1.1\r\n")
        sent = 0
        try:
            for _ in range(200):  # one byte every 50 ms: far longer than the deadline
                sock.sendall(b"x")
                sent += 1
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < 200, "the router kept reading a request that never ends"
        answer = read_answer(sock)
        assert answer is None or answer.status == 408


def test_idle_keepalive_connections_are_closed(champion: Upstream) -> None:
    with _limited(champion, idle_timeout=0.3) as r, connect(r) as sock:
        sock.sendall(get())
        answer = read_answer(sock)
        assert answer is not None and answer.status == 200
        assert closed_by_router(sock)  # nothing sent after the answer: closed when idle
        assert _served(r)


def test_at_the_cap_the_oldest_idle_connection_makes_room(champion: Upstream) -> None:
    with _limited(champion, max_connections=4) as r:
        idle = [connect(r) for _ in range(4)]
        try:
            for sock in idle:
                sock.sendall(get())
                answer = read_answer(sock)
                assert answer is not None and answer.status == 200
            for _ in range(3):  # new clients are served, every time
                assert _served(r)
            assert closed_by_router(idle[0])  # the oldest idle ones were closed for them
        finally:
            for sock in idle:
                sock.close()


def test_at_the_cap_slow_senders_are_evicted_before_new_clients_wait(champion: Upstream) -> None:
    with _limited(champion, max_connections=3, read_timeout=60) as r:
        slow = [connect(r) for _ in range(3)]
        try:
            for sock in slow:
                sock.sendall(b"POST /p HTTP/1.1\r\nHost: r\r\n")
            time.sleep(0.2)  # most likely read by then; either way the oldest one goes
            assert _served(r)
            answer = read_answer(slow[0])  # the oldest slow sender: 503, or closed if unread
            assert answer is None or (answer.status, answer.header("retry-after")) == (503, "1")
            assert closed_by_router(slow[0])
        finally:
            for sock in slow:
                sock.close()


def _pending_body(r: LocalRouter, total: int, sent: int) -> socket.socket:
    sock = connect(r)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(get(headers=f"Content-Length: {total}\r\n") + b"x" * sent)
    return sock


def test_unfinished_bodies_cannot_grow_memory_past_the_budget(champion: Upstream) -> None:
    with _limited(champion, max_buffered=40 * MIB, read_timeout=60) as r:
        before = rss_bytes()
        held = [_pending_body(r, 60 * MIB, 16 * MIB) for _ in range(10)]  # 160 MiB offered
        try:
            assert _served(r)  # a small request still passes
            grown = rss_bytes() - before
            refused = 0
            for sock in held:
                sock.settimeout(1.0)
                with contextlib.suppress(TimeoutError):
                    answer = read_answer(sock)  # 503 (or a reset that swallowed it)
                    refused += answer is None or answer.status == 503
            assert refused >= 7, refused  # about two 16 MiB bodies fit in 40 MiB
            assert grown < 96 * MIB, f"router grew by {grown / MIB:.0f} MiB"
        finally:
            for sock in held:
                sock.close()
