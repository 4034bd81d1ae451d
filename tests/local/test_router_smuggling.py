"""Request heads the router must refuse rather than forward, and ids it must not keep.

The router forwards a client's head bytes as they are, so a head an upstream could read
differently (a header hidden behind a bare LF, ``Content-Length :``, both framings) would let
a client smuggle a second request or inject a header. Each is answered 400 (or 431/501/505
where HTTP says so) and never reaches a model server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from router_fixtures import Upstream, router, settle, upstream
from router_raw import connect, exchange, get, read_answer

from modelcanary.local._proxy.server import LocalRouter
from modelcanary.rollout._commands import Routes


@pytest.fixture
def pair() -> Iterator[tuple[Upstream, LocalRouter]]:
    with upstream("champion") as champion, router(champion.url, champion.url, Routes()) as r:
        yield champion, r


BAD_HEADS = {
    "space-before-colon": b"POST / HTTP/1.1\r\nHost: r\r\nContent-Length : 5\r\n\r\nGET /x",
    "bare-lf-in-value": b"GET / HTTP/1.1\r\nHost: r\r\nX-A: a\nX-Injected: yes\r\n\r\n",
    "bare-cr-in-value": b"GET / HTTP/1.1\r\nHost: r\r\nX-A: a\rX-Injected: yes\r\n\r\n",
    "nul-in-value": b"GET / HTTP/1.1\r\nHost: r\r\nX-A: a\x00b\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: r\r\nX-A: a\r\n folded\r\n\r\n",
    "no-colon": b"GET / HTTP/1.1\r\nHost: r\r\nJunk\r\n\r\n",
    "length-and-chunked": (
        b"POST / HTTP/1.1\r\nHost: r\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n"
    ),
    "chunked-not-last": b"POST / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked, x\r\n\r\n",
    "chunked-twice": b"POST / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
    "chunked-in-http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two-hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "absolute-form": b"GET http://evil/ HTTP/1.1\r\nHost: r\r\n\r\n",
    "double-space": b"GET  / HTTP/1.1\r\nHost: r\r\n\r\n",
    "lowercase-version": b"GET / http/1.1\r\nHost: r\r\n\r\n",
    "signed-length": b"POST / HTTP/1.1\r\nHost: r\r\nContent-Length: +5\r\n\r\nhello",
    "bad-chunk-size": b"POST / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
}


@pytest.mark.parametrize("name", sorted(BAD_HEADS))
def test_ambiguous_heads_are_400_and_never_forwarded(
    pair: tuple[Upstream, LocalRouter], name: str
) -> None:
    champion, r = pair
    answer = exchange(r, BAD_HEADS[name])
    assert answer is not None and answer.status == 400, answer
    assert answer.header("connection") == "close"
    assert answer.body.startswith(b'{"error": ')
    assert not champion.requests()
    normal = exchange(r, get())
    assert normal is not None and normal.status == 200  # the router keeps serving


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"GET / HTTP/2.0\r\nHost: r\r\n\r\n", 505),
        (b"POST / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    ],
)
def test_well_formed_but_unsupported_requests(
    pair: tuple[Upstream, LocalRouter], payload: bytes, status: int
) -> None:
    champion, r = pair
    answer = exchange(r, payload)
    assert answer is not None and answer.status == status
    assert not champion.requests()


def test_blank_lines_before_a_request_are_ignored(pair: tuple[Upstream, LocalRouter]) -> None:
    _, r = pair
    with connect(r) as sock:
        sock.sendall(get(body=b"{}") + b"\r\n" + get())  # a stray CRLF after a body (RFC 9112)
        for _ in range(2):
            answer = read_answer(sock)
            assert answer is not None and answer.status == 200


def test_long_or_odd_request_ids_are_replaced_everywhere(
    pair: tuple[Upstream, LocalRouter],
) -> None:
    champion, r = pair
    odd = [
        b"a" * 10_000,
        b"has space",
        b"tab\there",
        "\u00e9-utf8".encode(),
        b"one\r\nX-Request-Id: two",
    ]
    for client_id in odd:
        answer = exchange(
            r, b"GET / HTTP/1.1\r\nHost: r\r\nX-Request-Id: " + client_id + b"\r\n\r\n"
        )
        assert answer is not None and answer.status == 200
    kept = exchange(r, get(headers="X-Request-Id: 6f1c-4e2b_trace.9\r\n"))
    assert kept is not None and kept.status == 200
    settle(r)
    forwarded = [seen.headers["x-request-id"] for seen in champion.requests()]
    assert len(forwarded) == len(odd) + 1
    assert forwarded[-1] == "6f1c-4e2b_trace.9"  # a sane id is kept as it is
    for rid in forwarded[:-1]:  # the router's own ids: short, visible ASCII, none reused
        assert len(rid) <= 128 and rid.isascii() and rid.isprintable() and " " not in rid
        assert rid not in ("one", "two")
    assert len(set(forwarded)) == len(forwarded)
    recorded = [row.request_id for row in r.recorder.rows()]  # type: ignore[attr-defined]
    assert recorded == forwarded  # the recorder pairs on exactly what was forwarded
