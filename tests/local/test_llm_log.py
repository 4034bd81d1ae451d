"""The LLM log is bounded and windowed; the stream readers are indifferent to byte splits."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from modelcanary.analysis._llm_records import (
    MAX_ANSWER_CHARS,
    LLMExchange,
    LLMSource,
    approx_tokens,
)
from modelcanary.analysis._measurements import Window
from modelcanary.local._llm_log import LLMLog
from modelcanary.local._llm_parse import LLMTracker, is_llm_target, parse_request
from modelcanary.local._proxy.body import ChunkDecoder
from modelcanary.local._proxy.http11 import HttpError, RequestHead
from modelcanary.local._recorder import Recorder


def _exchange(timestamp: float, latency_ms: float = 10.0, rid: str = "r") -> LLMExchange:
    return LLMExchange(
        timestamp=timestamp,
        side="champion",
        mirrored=False,
        request_id=rid,
        status=200,
        error_class=None,
        stream=True,
        prompt_tokens=3,
        output_tokens=5,
        tokens_exact=True,
        latency_ms=latency_ms,
        ttft_ms=1.0,
        tpot_ms=1.0,
    )


def test_the_log_is_bounded_by_count_and_by_retention() -> None:
    log = LLMLog(retention_seconds=100.0, max_records=5000)
    assert isinstance(log, LLMSource)
    for i in range(20_000):
        log.add(_exchange(1000.0 + i * 0.001, rid=str(i)))
    assert len(log) == 5000 and log.total == 20_000
    assert len(log._items) <= 2 * 5000 + 4096  # compacted: memory does not grow with time
    kept = log.llm_exchanges(Window(0, 10_000))
    assert [e.request_id for e in kept] == [str(i) for i in range(15_000, 20_000)]
    log.add(_exchange(1200.0, rid="late"))  # 180 s after the others: they are past retention
    assert [e.request_id for e in log.llm_exchanges(Window(0, 10_000))] == ["late"]
    with pytest.raises(ValueError, match="max_records"):
        LLMLog(max_records=0)


def test_a_window_holds_the_exchanges_that_arrived_in_it_in_arrival_order() -> None:
    log = LLMLog()
    log.add(_exchange(100.0, latency_ms=50_000.0, rid="long"))  # arrived first, ended last
    log.add(_exchange(120.0, rid="short"))
    log.add(_exchange(99.0, latency_ms=5.0, rid="before"))
    window = [e.request_id for e in log.llm_exchanges(Window(100.0, 130.0))]
    assert window == ["long", "short"]
    assert [e.request_id for e in log.llm_exchanges(Window(0.0, 200.0))] == [
        "before",
        "long",
        "short",
    ]


def test_interval_data_carries_the_windows_exchanges_once_any_was_recorded() -> None:
    recorder = Recorder()
    recorder.record(100.0, "champion", 5.0, 200)
    assert recorder.interval_data(Window(90.0, 110.0)).llm is None  # not an LLM rollout
    recorder.llm.add(_exchange(101.0, rid="a"))
    recorder.llm.add(_exchange(150.0, rid="b"))
    data = recorder.interval_data(Window(90.0, 110.0))
    assert data.llm is not None and [e.request_id for e in data.llm] == ["a"]
    assert recorder.interval_data(Window(200.0, 210.0)).llm == ()


def test_the_chunk_decoder_gives_the_payload_whatever_the_reads() -> None:
    payload = [b"data: one\n\n", b"x" * 300, b"", b"data: [DONE]\n\n"]
    wire = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in payload if p)
    wire += b"0\r\ntrailer: yes\r\n\r\n"
    rng = random.Random(3)
    for _ in range(50):
        decoder, out, pos = ChunkDecoder(), b"", 0
        while pos < len(wire):
            step = rng.randint(1, 40)
            out += decoder.feed(wire[pos : pos + step])
            pos += step
        assert decoder.done and out == b"".join(payload)
    with pytest.raises(HttpError):
        ChunkDecoder().feed(b"zz\r\n")
    with pytest.raises(HttpError):
        ChunkDecoder().feed(b"2\r\nabXY")


def _stream(texts: list[str], usage: bool) -> bytes:
    events: list[dict[str, Any]] = [{"choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
    events += [{"choices": [{"index": 0, "delta": {"content": t}}]} for t in texts]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    if usage:
        events.append({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 77}})
    lines = [b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events]
    return b"".join([*lines, b": keep-alive comment\n\n", b"data: [DONE]\n\n"])


def test_the_event_reader_is_indifferent_to_how_the_bytes_are_split() -> None:
    texts = ["Hel", "lo, w", "orld", "! ", "caf\u00e9", "-", "au", "-lait", " 42"]
    request = parse_request(
        json.dumps({"messages": [{"role": "user", "content": "Say hi"}], "stream": True}).encode(),
        b"hi%21",
        5.0,
    )
    assert request.stream and request.prompt_tokens == 2 and request.reference == "hi!"
    rng = random.Random(5)
    for usage in (False, True):
        wire = _stream(texts, usage)
        for trial in range(30):
            tracker = LLMTracker(request, "challenger", True, "id", None, 0.0)
            tracker.begin(200, True)
            pos, now = 0, 1.0
            while pos < len(wire):
                step = len(wire) if trial == 0 else rng.randint(1, 25)
                tracker.feed(wire[pos : pos + step], now)
                pos, now = pos + step, now + 0.01
            record = tracker.end(now)
            assert record.answer == "".join(texts) and record.finish_reason == "length"
            assert record.ok and record.mirrored and record.timestamp == 5.0
            if usage:
                assert record.tokens_exact and (record.prompt_tokens, record.output_tokens) == (
                    9,
                    77,
                )
            else:  # counted as it passed, equal to the documented approximation
                assert not record.tokens_exact and record.prompt_tokens == 2
                assert record.output_tokens == approx_tokens("".join(texts))


def test_long_answers_are_cut_but_counted_and_cut_streams_are_timeouts() -> None:
    request = parse_request(b'{"prompt": "go", "stream": true}', None, 0.0)
    tracker = LLMTracker(request, "champion", False, "id", "user-1", 0.0)
    tracker.begin(200, True)
    tracker.feed(_stream(["word "] * 2000, usage=False).split(b"data: [DONE]")[0], 1.0)
    record = tracker.end(2.0)
    assert len(record.answer) == MAX_ANSWER_CHARS and record.output_tokens == 2000
    assert record.ok and record.unit == "user-1"
    cut = LLMTracker(request, "champion", False, "id", None, 0.0)
    cut.begin(200, True)
    cut.feed(b'data: {"choices": [{"delta": {"content": "par"}}]}\n\ndata: {"cho', 1.0)
    assert cut.end(2.0).error_class == "timeout"  # no finish_reason, no [DONE]
    broken = LLMTracker(request, "champion", False, "id", None, 0.0)
    broken.begin(200, True)
    assert broken.failed(502, 1.0).error_class == "timeout"
    refused = LLMTracker(request, "champion", False, "id", None, 0.0)
    refused.begin(400, False)
    refused.feed(b'{"error": {"message": "flagged by the content filter"}}', 1.0)
    assert refused.end(1.0).error_class == "content-filter"
    filtered = LLMTracker(request, "champion", False, "id", None, 0.0)
    filtered.begin(200, False)
    filtered.feed(b'{"choices": [{"text": "", "finish_reason": "content_filter"}]}', 1.0)
    assert filtered.end(1.0).error_class == "content-filter"
    for status, error_class in ((502, "server"), (504, "timeout"), (503, "server")):
        unreached = LLMTracker(request, "champion", False, "id", None, 0.0)
        assert unreached.failed(status, 1.0).error_class == error_class


def test_llm_targets_and_the_reference_header_on_the_wire() -> None:
    assert is_llm_target(b"/v1/chat/completions?x=1") and is_llm_target(b"/openai/v1/completions")
    assert not is_llm_target(b"/invocations") and not is_llm_target(b"/v1/models")
    head = RequestHead(
        b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-ModelCanary-Reference: a%20b\r\nA: 1"
    )
    assert head.reference == b"a%20b"
    forwarded = head.forward_head(b"", b"x", 0).lower()
    assert b"x-modelcanary-reference" not in forwarded and b"\r\na: 1" in forwarded
