"""A client that stops reading a stream stops the router reading it: memory stays bounded."""

from __future__ import annotations

import socket
import time

from llm_stream_fixtures import SSE_HEAD, raw_upstream, wait_for
from router_fixtures import router

PIECE = b"data: " + b"x" * (64 * 1024 - 8) + b"\n\n"
TOTAL = 64 * 1024 * 1024  # the router's old whole-answer limit: it used to buffer it all


def test_a_stalled_client_pauses_the_upstream_and_a_gone_one_lets_it_finish() -> None:
    sent = [0]

    def script(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(SSE_HEAD)
        chunk = b"%x\r\n%s\r\n" % (len(PIECE), PIECE)
        while sent[0] < TOTAL:
            conn.sendall(chunk)
            sent[0] += len(PIECE)
        conn.sendall(b"0\r\n\r\n")

    with raw_upstream(script) as up, router(up.url, up.url) as r:
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        client.connect((r.host, r.port))
        client.sendall(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
        assert client.recv(1024).startswith(b"HTTP/1.1 200")
        last, still_since = -1, time.monotonic()  # wait until the upstream is held back
        while time.monotonic() - still_since < 1.0 and sent[0] < TOTAL:
            if sent[0] != last:
                last, still_since = sent[0], time.monotonic()
            time.sleep(0.05)
        assert sent[0] < TOTAL // 4  # held back by the client, not buffered by the router
        client.close()  # the client gives up: the router reads the stream to its end
        assert wait_for(lambda: len(r.recorder.rows()) == 1, 60)  # type: ignore[attr-defined]
        assert sent[0] >= TOTAL
        assert r.recorder.rows()[0].status == 200  # type: ignore[attr-defined]
