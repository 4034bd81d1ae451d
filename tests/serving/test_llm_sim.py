"""The OpenAI-compatible LLM simulator (``modelcanary serve --llm-sim``) over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from modelcanary.serving._llm_server import LLMSimServer
from modelcanary.serving._llm_sim import LLMSimConfig
from modelcanary.serving._llm_tasks import REFUSAL, TASKS, count_tokens, normalise, pieces


def _chat(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model": "sim-llm", "messages": [{"role": "user", "content": prompt}], **extra}


def _stream(url: str, body: dict[str, Any]) -> tuple[float, list[dict[str, Any]], bool]:
    """(seconds to the first content token, the events, whether [DONE] ended the stream)."""
    started = time.monotonic()
    first: float | None = None
    events: list[dict[str, Any]] = []
    done = False
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "text/event-stream"
        for line in reply.iter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                continue
            event = json.loads(line[6:])
            events.append(event)
            choices = event.get("choices") or []
            if first is None and choices and choices[0].get("delta", {}).get("content"):
                first = time.monotonic() - started
    assert first is not None
    return first, events, done


def test_streamed_answer_arrives_token_by_token_after_the_ttft() -> None:
    # Seeded to a 54-token answer (2.65 s at 20 tokens/s) and the first token must come a
    # quarter of that before the end: the client thread may lag ~2 s behind the server (a
    # loaded machine) before a paced stream looks buffered. Before: a 9-token answer and half
    # of it, a 0.2 s margin that one scheduling stall could eat.
    config = LLMSimConfig(
        ttft_ms=300, ttft_sigma=0, tokens_per_second=20, mean_output_tokens=50, seed=30
    )
    with LLMSimServer(config) as sim:
        body = _chat("Tell me about canaries.", stream=True, stream_options={"include_usage": True})
        started = time.monotonic()
        ttft, events, done = _stream(sim.url, body)
        total = time.monotonic() - started
    assert done
    contents = [e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]]
    text = "".join(contents)
    tokens = [c for c in contents if c]
    assert events[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert events[0]["object"] == "chat.completion.chunk"
    assert len(tokens) == len(pieces(text)) == 54
    assert total >= 0.3 + (len(tokens) - 1) / 20 * 0.9  # paced at the configured speed
    # the first token comes after the TTFT, long before the answer is complete (not buffered)
    assert 0.28 <= ttft <= total - (len(tokens) - 1) / 20 * 0.25
    finish = [e for e in events if e["choices"] and e["choices"][0].get("finish_reason")]
    assert finish[-1]["choices"][0]["finish_reason"] == "stop"
    usage = events[-1]["usage"]
    assert events[-1]["choices"] == []
    assert usage["completion_tokens"] == len(tokens)
    assert usage["prompt_tokens"] == count_tokens("Tell me about canaries.")


def test_task_answers_follow_the_quality_and_usage_counts() -> None:
    tasks = TASKS[:20]
    for quality, low, high in ((1.0, 20, 20), (0.0, 0, 0)):
        with LLMSimServer(LLMSimConfig(ttft_ms=0, tokens_per_second=1e6, quality=quality)) as sim:
            right = 0
            for task in tasks:
                reply = httpx.post(f"{sim.url}/v1/chat/completions", json=_chat(task.prompt))
                body = reply.json()
                assert reply.status_code == 200 and body["object"] == "chat.completion"
                content = body["choices"][0]["message"]["content"]
                right += normalise(content) == normalise(task.reference)
                assert body["usage"]["completion_tokens"] == count_tokens(content)
            assert low <= right <= high


def test_errors_rate_limits_and_refusals_in_openai_shapes() -> None:
    config = LLMSimConfig(ttft_ms=0, rate_limit_rate=0.3, error_rate=0.2, refusal_rate=0.5, seed=7)
    codes: dict[int, int] = {}
    refusals = 0
    with LLMSimServer(config) as sim:
        for _ in range(200):
            reply = httpx.post(f"{sim.url}/v1/chat/completions", json=_chat("hello"))
            codes[reply.status_code] = codes.get(reply.status_code, 0) + 1
            if reply.status_code == 429:
                assert reply.headers["retry-after"] == "1"
                assert reply.json()["error"]["code"] == "rate_limit_exceeded"
            elif reply.status_code == 500:
                assert reply.json()["error"]["type"] == "server_error"
            else:
                refusals += reply.json()["choices"][0]["message"]["content"] == REFUSAL
        metrics = httpx.get(f"{sim.url}/metrics").text
    assert 40 <= codes[429] <= 80 and 20 <= codes[500] <= 60
    assert 0.35 <= refusals / codes[200] <= 0.65
    assert (
        f'modelcanary_llm_sim_requests_total{{model_name="sim-llm",status="429"}} {codes[429]}'
        in metrics
    )
    assert (
        f'vllm:request_success_total{{model_name="sim-llm",finished_reason="stop"}} {codes[200]}'
        in metrics
    )


def test_context_length_json_mode_completions_and_bad_input() -> None:
    # Seeded: unseeded, the filler answer to "hi" (exponential length, mean 40) is 3 tokens or
    # fewer in about 7 % of runs, and then finishes with "stop", not "length".
    config = LLMSimConfig(ttft_ms=0, context_length=10, json_invalid_rate=0.0, seed=3)
    with LLMSimServer(config) as sim:
        long = httpx.post(f"{sim.url}/v1/chat/completions", json=_chat("word " * 50))
        assert long.status_code == 400
        assert long.json()["error"]["code"] == "context_length_exceeded"
        fmt = {"response_format": {"type": "json_object"}}
        answer = httpx.post(f"{sim.url}/v1/chat/completions", json=_chat("What is 7 + 8?", **fmt))
        assert "answer" in json.loads(answer.json()["choices"][0]["message"]["content"])
        legacy = httpx.post(f"{sim.url}/v1/completions", json={"prompt": "hi", "max_tokens": 3})
        body = legacy.json()
        assert (
            body["object"] == "text_completion" and body["choices"][0]["finish_reason"] == "length"
        )
        assert body["usage"]["completion_tokens"] <= 3
        bad = httpx.post(f"{sim.url}/v1/chat/completions", json={"messages": "hi"})
        assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]
        assert httpx.get(f"{sim.url}/v1/models").json()["data"][0]["id"] == "sim-llm"
        metrics = httpx.get(f"{sim.url}/metrics").text
    assert 'vllm:time_to_first_token_seconds_count{model_name="sim-llm"} 2' in metrics
    assert 'vllm:generation_tokens_total{model_name="sim-llm"}' in metrics


def test_invalid_json_share_is_invalid() -> None:
    config = LLMSimConfig(ttft_ms=0, json_invalid_rate=1.0)
    with LLMSimServer(config) as sim:
        fmt = {"response_format": {"type": "json_object"}}
        reply = httpx.post(f"{sim.url}/v1/chat/completions", json=_chat("hello", **fmt))
        with pytest.raises(ValueError):
            json.loads(reply.json()["choices"][0]["message"]["content"])


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="refusal_rate"):
        LLMSimConfig(refusal_rate=2)


def test_cli_serves_the_simulator_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelcanary.cli._main", "serve", "--llm-sim", "--port", "0",
         "--ttft-ms", "5", "--model-name", "tiny"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving LLM simulator 'tiny' on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[-1].strip()
        reply = httpx.post(f"{url}/v1/chat/completions", json=_chat("What is 7 + 8?"), timeout=10)
        assert reply.json()["model"] == "tiny"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    bad = subprocess.run(
        [sys.executable, "-m", "modelcanary.cli._main", "serve", "--llm-sim", "--quality", "3"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "quality" in bad.stderr
