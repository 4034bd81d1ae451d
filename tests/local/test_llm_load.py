"""LLM load records: OpenAI bodies sent to their paths, the ``reference`` moved from the body
to its header, streamed answers read to the end, request ids that lead back to prompts; bad
records are a SpecError naming the field and the fix. Real HTTP on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from quiet_http import QuietHandler

from modelcanary.analysis._llm_records import MAX_REFERENCE_CHARS, REFERENCE_HEADER
from modelcanary.errors import SpecError
from modelcanary.local._load import LoadGenerator
from modelcanary.local._load_llm import LLMLoad, parse_record, records_from_file, task_records
from modelcanary.serving import LLMSimConfig, LLMSimServer

STREAM_GAP = 0.05
STREAM_PIECES = 6


@contextmanager
def _capture() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An OpenAI-ish server that keeps what it received; streams six pieces 50 ms apart."""
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.json_body()
            with lock:
                seen.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                     "body": body}
                )  # fmt: skip
            if body.get("stream"):
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for i in range(STREAM_PIECES):
                    time.sleep(STREAM_GAP)
                    event = {"choices": [{"index": 0, "delta": {"content": f"t{i} "}}]}
                    self._chunk(f"data: {json.dumps(event)}\n\n".encode())
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")
                return
            payload = json.dumps({"choices": [{"message": {"content": "ok"}}]}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _send(url: str, load: LLMLoad, count: int) -> Any:
    gen = LoadGenerator(f"{url}/invocations", load.requests(), rps=200, concurrency=4)
    gen.start()
    deadline = time.monotonic() + 120  # a bound on a hung run, not a speed target
    while gen.stats.ok + gen.stats.errors < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return gen.stop()


def test_records_go_to_their_paths_with_the_reference_in_a_header(tmp_path: Path) -> None:
    long_reference = "é" * (MAX_REFERENCE_CHARS + 50)
    lines = [
        {"model": "m", "messages": [{"role": "user", "content": "2+2?"}], "reference": "4 / four"},
        {"model": "m", "prompt": "Say hi", "reference": long_reference},
        {"model": "m", "input": "embed me", "path": "/v1/embeddings"},
    ]
    file = tmp_path / "llm.jsonl"
    file.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    load = LLMLoad(records_from_file(file))
    with _capture() as (url, seen):
        stats = _send(url, load, 3)
    assert stats.errors == 0 and stats.ok >= 3
    by_path = {s["path"]: s for s in seen}
    chat, completion = by_path["/v1/chat/completions"], by_path["/v1/completions"]
    assert "/v1/embeddings" in by_path
    assert "reference" not in chat["body"] and "reference" not in completion["body"]
    assert chat["body"]["messages"][0]["content"] == "2+2?"
    assert unquote(chat["headers"][REFERENCE_HEADER]) == "4 / four"
    sent = unquote(completion["headers"][REFERENCE_HEADER])
    assert sent == "é" * MAX_REFERENCE_CHARS  # capped
    assert REFERENCE_HEADER not in by_path["/v1/embeddings"]["headers"]
    assert "path" not in by_path["/v1/embeddings"]["body"]
    # every request id leads back to the record's question
    ids = [s["headers"]["x-request-id"] for s in seen]
    assert len(set(ids)) == len(ids)
    assert load.prompt_of(chat["headers"]["x-request-id"]) == "2+2?"
    assert load.prompt_of(completion["headers"]["x-request-id"]) == "Say hi"
    assert load.prompt_of("someone-else-1") is None


def test_streamed_answers_are_read_to_the_end() -> None:
    record = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    with _capture() as (url, seen):
        stats = _send(url, LLMLoad([record]), 2)
    assert stats.errors == 0 and seen[0]["body"]["stream"] is True
    # the whole stream takes six gaps: a client that stopped at the headers would be faster
    assert min(stats.latencies_ms) >= STREAM_PIECES * STREAM_GAP * 1000


def test_task_set_load_against_the_simulator_streamed_and_not() -> None:
    with LLMSimServer(LLMSimConfig(ttft_ms=1, tokens_per_second=5000, seed=1)) as sim:
        for stream in (False, True):
            load = LLMLoad(task_records(stream=stream))
            stats = _send(sim.url, load, 40)
            assert stats.errors == 0 and stats.ok >= 40
        metrics = sim.simulator.render()
    answered = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("vllm:request_success_total{")
    )
    assert answered >= 80  # the simulator answered every chat request, streamed or not


@pytest.mark.parametrize(
    ("record", "field", "fix"),
    [
        ({"model": "m"}, "spec.load.requests", 'give "messages" (chat) or "prompt"'),
        ({"messages": "hi"}, "spec.load.requests.messages", '"messages": [{"role"'),
        ({"prompt": "x", "path": "v1/x"}, "spec.load.requests.path", "/v1/completions"),
        ([1, 2], "spec.load.requests", "one OpenAI request body per line"),
    ],
)
def test_bad_records_name_the_field_and_the_fix(record: Any, field: str, fix: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_record(record)
    text = str(caught.value)
    assert field in text and fix in text


def test_bad_file_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.jsonl"
    file.write_text('{"prompt": "ok"}\n{not json\n')
    with pytest.raises(SpecError, match=r"bad.jsonl:2"):
        records_from_file(file)
    with pytest.raises(SpecError, match="does not exist"):
        records_from_file(tmp_path / "missing.jsonl")
