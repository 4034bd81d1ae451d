"""Proxy fidelity: methods, paths, headers, bodies, framing, pipelining, reserved paths."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from router_fixtures import Upstream, rollout, router, settle, upstream

from modelcanary.local._proxy.server import LocalRouter
from modelcanary.rollout._commands import Routes


@pytest.fixture
def champion() -> Iterator[Upstream]:
    with upstream("champion") as up:
        yield up


@pytest.fixture
def proxy(champion: Upstream) -> Iterator[LocalRouter]:
    with router(champion.url, champion.url, Routes()) as r:
        yield r


def _raw(url: str, payload: bytes, until: bytes = b"", close: bool = True) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(payload)
        data = b""
        while until not in data or not until:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if until and data.count(until) >= 1 and not close:
                break
        return data


def test_methods_paths_queries_headers_and_bodies_are_forwarded(
    proxy: LocalRouter, champion: Upstream
) -> None:
    with httpx.Client() as c:
        for method in ("GET", "PUT", "DELETE", "PATCH", "POST"):
            answer = c.request(
                method,
                f"{proxy.url}/v1/models/m:predict?a=1&b=%20x",
                content=b"payload-" + method.encode(),
                headers={"X-Custom": "yes", "Connection": "keep-alive, X-Hop", "X-Hop": "no"},
            )
            echo = answer.json()
            assert (echo["method"], echo["path"]) == (method, "/v1/models/m:predict?a=1&b=%20x")
            assert echo["body"] == f"payload-{method}"
            assert echo["headers"]["x-custom"] == "yes"
            assert "x-hop" not in echo["headers"] and "connection" not in echo["headers"]
            assert answer.headers["x-upstream"] == "champion"
        head = c.head(f"{proxy.url}/anything")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) > 0
    assert [s.method for s in champion.requests()][-1] == "HEAD"


def test_chunked_requests_and_responses(champion: Upstream) -> None:
    with (
        upstream("chunky", chunked=True, prediction="yes") as chunky,
        router(champion.url, chunky.url, Routes(0, 100)) as r,
        httpx.Client() as c,
    ):

        def parts() -> Iterator[bytes]:
            yield b'{"inputs": '
            yield b"[1, 2, 3]}"

        answer = c.post(f"{r.url}/invocations", content=parts())  # chunked upload
        assert answer.headers["transfer-encoding"] == "chunked"
        assert answer.json()["body"] == '{"inputs": [1, 2, 3]}'
        received = chunky.requests()[0]
        assert received.headers["content-length"] == "21"  # forwarded de-chunked
        assert "transfer-encoding" not in received.headers
        settle(r)
        assert r.recorder.rows()[0].prediction == "yes"  # type: ignore[attr-defined]
        # an HTTP/1.0 client gets the body de-chunked, with a length, and a close
        raw = _raw(r.url, b"GET /old HTTP/1.0\r\n\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower()
        assert b"chunked" not in head.lower() and json.loads(body)["path"] == "/old"


def test_pipelined_requests_are_answered_in_order(proxy: LocalRouter) -> None:
    requests = b"".join(
        b"POST /p%d HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-Request-Id: id%d\r\n\r\n{}"
        % (i, i)
        for i in range(5)
    )
    raw = _raw(proxy.url, requests + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    paths = [
        json.loads(part.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1")[0])["path"]
        for part in raw.split(b"HTTP/1.1 200")[1:]
    ]
    assert paths == ["/p0", "/p1", "/p2", "/p3", "/p4", "/last"]


def test_expect_continue_and_bad_requests(proxy: LocalRouter) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        assert b"HTTP/1.1 200" in sock.recv(65536)
    assert _raw(proxy.url, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert _raw(proxy.url, b"GET / HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.1 505")
    too_big = b"POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n"
    assert _raw(proxy.url, too_big).startswith(b"HTTP/1.1 413")


def test_backend_url_path_prefix_and_request_ids(champion: Upstream) -> None:
    with router(champion.url + "/base/", champion.url, Routes()) as r, httpx.Client() as c:
        echo = c.post(f"{r.url}/invocations?x=1", json={}).json()
        assert echo["path"] == "/base/invocations?x=1"
        assert echo["request_id"]  # generated and forwarded
        given = c.post(f"{r.url}/i", json={}, headers={"X-Request-ID": "mine"}).json()
        assert given["request_id"] == "mine"


def test_reserved_endpoints(proxy: LocalRouter, champion: Upstream) -> None:
    with httpx.Client() as c:
        assert c.get(f"{proxy.url}/_modelcanary/health").json()["status"] == "ok"
        routes = c.get(f"{proxy.url}/_modelcanary/routes").json()
        assert routes["championWeight"] == 100 and routes["backends"]["champion"] == champion.url
        metrics = c.get(f"{proxy.url}/_modelcanary/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "modelcanary_router_weight" in metrics.text
        assert c.get(f"{proxy.url}/_modelcanary/nope").status_code == 404
    assert champion.requests() == []  # none of these reached the model server


def test_http10_upstreams_and_stale_keepalive_connections_are_handled(champion: Upstream) -> None:
    with (
        upstream("old", http10=True, prediction=0.7) as old,
        upstream("hangs-up", hang_up=True) as hangs_up,
        router(old.url, hangs_up.url, Routes(100, 0)) as r,
        httpx.Client() as c,
    ):
        for _ in range(5):  # body framed by the connection's end, re-framed with a length
            answer = c.post(f"{r.url}/x", json={})
            assert answer.json()["server"] == "old" and answer.headers["content-length"]
        r.set_routes(rollout(), Routes(0, 100))
        for i in range(30):  # pooled connections the server closed: skipped or retried once
            assert c.post(f"{r.url}/x", json={"i": i}).status_code == 200
            if i % 3 == 0:
                time.sleep(0.02)
        settle(r)
        statuses = {row.status for row in r.recorder.rows()}  # type: ignore[attr-defined]
        predictions = {row.prediction for row in r.recorder.rows() if row.version == "champion"}  # type: ignore[attr-defined]
    assert statuses == {200} and predictions == {0.7}
