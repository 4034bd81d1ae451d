"""Streaming passthrough: events reach the client as the model produces them, recorded."""

from __future__ import annotations

import json
import socket
import threading

import httpx
import pytest
from llm_stream_fixtures import (
    SSE_HEAD,
    chat,
    delta,
    event,
    exchanges,
    raw_upstream,
    sim,
    sim_finished,
    wait_for,
)
from router_fixtures import dead_url, router, settle

from modelcanary.analysis._llm_records import approx_tokens
from modelcanary.rollout._commands import Routes


def _content(line: str) -> str:
    if not line.startswith("data:") or line == "data: [DONE]":
        return ""
    choices = json.loads(line[5:])["choices"]
    return str(choices[0].get("delta", {}).get("content") or "") if choices else ""


def test_the_first_event_reaches_the_client_before_the_upstream_sent_the_rest() -> None:
    """An upstream that holds the rest of its answer until the client has the first event:
    a buffering router would deliver nothing until the hold times out."""
    got_first = threading.Event()
    finished = threading.Event()

    def script(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(SSE_HEAD + event(delta("Hello")))
        got_first.wait(60)  # the client has the first event by now, or never gets it early
        conn.sendall(event(delta(" world", "stop")) + b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
        finished.set()

    with raw_upstream(script) as up, router(up.url, up.url) as r, httpx.Client() as client:
        with client.stream("POST", r.url + "/v1/chat/completions", json=chat()) as answer:
            lines = answer.iter_lines()
            first = next(line for line in lines if _content(line))
            upstream_done_before_first = finished.is_set()
            got_first.set()
            rest = "".join(_content(line) for line in lines)
        assert _content(first) == "Hello" and rest == " world"
        assert not upstream_done_before_first
        assert answer.headers["transfer-encoding"] == "chunked"
        settle(r)
        (record,) = exchanges(r)
        assert record.answer == "Hello world" and record.finish_reason == "stop"
        assert record.ok and record.stream and record.output_tokens == 2


def test_the_simulator_is_still_generating_when_the_client_gets_its_first_token() -> None:
    with (
        sim(
            ttft_ms=20, ttft_sigma=0, tokens_per_second=50, mean_output_tokens=40, seed=20
        ) as model,
        router(model.url, model.url) as r,
        httpx.Client(timeout=30) as client,
    ):
        with client.stream("POST", r.url + "/v1/chat/completions", json=chat()) as answer:
            lines = answer.iter_lines()
            next(line for line in lines if _content(line))
            finished_at_first = sim_finished(model)
            remaining = sum(1 for line in lines if _content(line))
        assert finished_at_first == 0  # the simulator had not finished its answer
        assert remaining > 50  # of its 94 tokens, more than 50 were still to come


def test_recorded_ttft_tpot_and_tokens_match_the_simulator() -> None:
    ttft, speed = 80.0, 50.0  # ms; tokens per second: 20 ms per output token
    # Seed 49: a 56-token answer. The simulator paces each token from the request's start, so
    # a first token that reaches the router X ms late shortens the measured TPOT by
    # X / (tokens - 1): with 56 tokens X must pass 275 ms to fail "tpot >= 15". With the
    # default seed (7), a 4-token answer: 15 ms of lateness, one stall on a loaded machine.
    with (
        sim(ttft_ms=ttft, ttft_sigma=0, tokens_per_second=speed, seed=49) as model,
        router(model.url, model.url) as r,
        httpx.Client(timeout=30) as client,
    ):
        body = chat(stream_options={"include_usage": True})
        with client.stream("POST", r.url + "/v1/chat/completions", json=body) as answer:
            lines = list(answer.iter_lines())
        usage = next(json.loads(x[5:])["usage"] for x in lines if '"usage"' in x)
        text = "".join(_content(x) for x in lines)
        settle(r)
        (record,) = exchanges(r)
        assert record.tokens_exact and record.output_tokens == usage["completion_tokens"] == 56
        assert record.prompt_tokens == usage["prompt_tokens"]
        assert record.answer == text and record.finish_reason == "stop"
        assert record.ttft_ms is not None and ttft <= record.ttft_ms < ttft + 400
        assert record.tpot_ms is not None and 15.0 <= record.tpot_ms <= 60.0
        assert record.latency_ms >= record.ttft_ms + (record.output_tokens - 1) * 15.0


def test_without_usage_the_tokens_are_approximated_and_marked_so() -> None:
    with (
        sim(ttft_ms=5, ttft_sigma=0, tokens_per_second=500) as model,
        router(model.url, model.url) as r,
        httpx.Client(timeout=30) as client,
    ):
        with client.stream("POST", r.url + "/v1/chat/completions", json=chat()) as answer:
            text = "".join(_content(x) for x in answer.iter_lines())
        whole = client.post(r.url + "/v1/chat/completions", json=chat(stream=False)).json()
        settle(r)
        streamed, unstreamed = exchanges(r)
        assert not streamed.tokens_exact and streamed.output_tokens == approx_tokens(text)
        assert streamed.prompt_tokens == approx_tokens("Tell me about the sea")
        assert unstreamed.tokens_exact and not unstreamed.stream
        assert unstreamed.output_tokens == whole["usage"]["completion_tokens"]
        assert unstreamed.answer == whole["choices"][0]["message"]["content"][:4096]
        assert unstreamed.ttft_ms == unstreamed.latency_ms and unstreamed.tpot_ms is None


@pytest.mark.parametrize(
    ("config", "content", "status", "error_class"),
    [
        ({"rate_limit_rate": 1.0}, "hi", 429, "rate-limit"),
        ({"context_length": 3}, "a prompt far longer than three tokens", 400, "context-length"),
        ({"error_rate": 1.0, "ttft_ms": 1}, "hi", 500, "server"),
    ],
)
def test_error_answers_are_classed(
    config: dict[str, float], content: str, status: int, error_class: str
) -> None:
    with sim(**config) as model, router(model.url, model.url) as r, httpx.Client() as client:
        answer = client.post(r.url + "/v1/chat/completions", json=chat(content))
        assert answer.status_code == status
        settle(r)
        (record,) = exchanges(r)
        assert record.status == status and record.error_class == error_class and not record.ok


def test_a_stream_cut_off_upstream_is_cut_off_to_the_client_and_recorded_as_timeout() -> None:
    def script(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(SSE_HEAD + event(delta("Half")) + event(delta(" an")))
        conn.shutdown(socket.SHUT_RDWR)  # no last chunk, no [DONE]

    with raw_upstream(script) as up, router(up.url, up.url) as r, httpx.Client() as client:
        seen: list[str] = []
        with (
            pytest.raises(httpx.RemoteProtocolError),
            client.stream("POST", r.url + "/v1/chat/completions", json=chat()) as answer,
        ):
            seen.extend(_content(line) for line in answer.iter_lines())
        assert "".join(seen) == "Half an"  # what came was forwarded, then the cut
        assert wait_for(lambda: len(exchanges(r)) == 1)
        (record,) = exchanges(r)
        assert record.error_class == "timeout" and record.status == 200 and not record.ok
        assert record.answer == "Half an"
        assert wait_for(lambda: len(r.recorder.rows()) == 1)  # type: ignore[attr-defined]
        assert r.recorder.rows()[0].status == 502  # type: ignore[attr-defined]


def test_the_reference_header_is_stripped_and_kept_in_the_exchange() -> None:
    answer_body = json.dumps(
        {"choices": [{"index": 0, "message": {"content": "Paris"}, "finish_reason": "stop"}]}
    ).encode()

    def script(conn: socket.socket, _request: bytes) -> None:
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        conn.sendall(head % len(answer_body) + answer_body)

    with raw_upstream(script) as up, router(up.url, up.url) as r, httpx.Client() as client:
        headers = {"x-modelcanary-reference": "Paris%2C%20%C3%AEle-de-France"}
        answer = client.post(
            r.url + "/v1/chat/completions", json=chat(stream=False), headers=headers
        )
        assert answer.status_code == 200
        settle(r)
        (request,) = up.requests
        assert b"x-modelcanary-reference" not in request.lower()
        assert b"Paris%2C" not in request
        (record,) = exchanges(r)
        assert record.reference == "Paris, \u00eele-de-France" and record.answer == "Paris"


def test_streams_keep_the_connection_alive_and_http10_clients_get_a_close_delimited_body() -> None:
    with (
        sim(ttft_ms=1, ttft_sigma=0, tokens_per_second=1000) as model,
        router(model.url, model.url) as r,
        socket.create_connection((r.host, r.port), timeout=10) as sock,
    ):
        body = json.dumps(chat()).encode()
        request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        for _ in range(2):  # the same connection, twice: the chunked answer ended cleanly
            sock.sendall(request)
            data = b""
            while not data.endswith(b"\r\n0\r\n\r\n"):
                more = sock.recv(65536)
                assert more, "the router closed a keep-alive connection"
                data += more
            assert data.startswith(b"HTTP/1.1 200") and b"data: [DONE]" in data
        with socket.create_connection((r.host, r.port), timeout=10) as old:
            old.sendall(request.replace(b"HTTP/1.1", b"HTTP/1.0", 1))
            data = b""
            while more := old.recv(65536):
                data += more
        head, _, payload = data.partition(b"\r\n\r\n")
        assert b"transfer-encoding" not in head.lower() and b"connection: close" in head.lower()
        assert payload.endswith(b"data: [DONE]\n\n")  # raw events, no chunk framing
        settle(r)
        assert len(exchanges(r)) == 3 and all(e.ok for e in exchanges(r))


def test_a_call_the_dead_challenger_never_got_is_recorded_for_both_versions() -> None:
    with (
        sim(ttft_ms=1, tokens_per_second=1000) as model,
        router(model.url, dead_url(), Routes(0, 100)) as r,
        httpx.Client(timeout=30) as client,
    ):
        with client.stream("POST", r.url + "/v1/chat/completions", json=chat()) as answer:
            text = "".join(_content(x) for x in answer.iter_lines())
        assert answer.headers["x-modelcanary-version"] == "champion" and text
        settle(r)
        failed, served = sorted(exchanges(r), key=lambda e: e.side == "champion")
        assert (failed.side, failed.status, failed.error_class) == ("challenger", 502, "server")
        assert served.side == "champion" and served.ok and served.answer == text
        assert failed.request_id == served.request_id
