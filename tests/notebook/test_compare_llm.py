"""``mc.compare_llm``: two real OpenAI-compatible servers (the LLM simulator), deterministic
and pairwise judges (a real judge model server), the win-rate verdict."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import modelcanary as mc
from modelcanary.serving import LLM_TASKS, LLMSimConfig, LLMSimServer


def _sim(quality: float, seed: int) -> LLMSimServer:
    return LLMSimServer(LLMSimConfig(ttft_ms=0, tokens_per_second=1e6, quality=quality, seed=seed))


def test_a_worse_challenger_fails_and_an_equal_one_passes() -> None:
    prompts = [{"prompt": t.prompt, "reference": t.reference} for t in LLM_TASKS] * 4
    with _sim(0.95, 1) as good, _sim(0.3, 2) as bad, _sim(0.95, 3) as twin:
        worse = mc.compare_llm(good.url, bad.url, prompts)
        same = mc.compare_llm(good.url, {"url": twin.url, "model": "twin"}, prompts * 3)
    frame = worse.frame
    assert len(frame) == 120 and set(frame["outcome"]) <= {"win", "tie", "loss"}
    assert worse.verdict == "fail" and worse.win_rate is not None and worse.win_rate < 0.35
    assert worse.band is not None and worse.band[1] < 0.45
    row = frame[frame["outcome"] == "loss"].iloc[0]
    assert "matches the reference" in row["reason"] and "does not match" in row["reason"]
    assert same.verdict == "pass" and same.band is not None and same.band[0] > 0.45
    assert "win rate" in worse._repr_html_()


class _Judge(BaseHTTPRequestHandler):
    """A judge model: prefers the answer equal to the reference (or always 'A' when biased)."""

    biased = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        prompt = body["messages"][-1]["content"]
        ref = re.search(r"Reference answer:\n(.*)\n", prompt)
        a = re.search(r"Answer A:\n(.*)\n", prompt)
        b = re.search(r"Answer B:\n(.*)\n", prompt)
        assert ref and a and b
        if self.biased or a.group(1).strip() == ref.group(1).strip() != b.group(1).strip():
            choice = "A"
        elif b.group(1).strip() == ref.group(1).strip() != a.group(1).strip():
            choice = "B"
        else:
            choice = "TIE"
        reply = {
            "choices": [{"message": {"content": f"{choice}\nbecause"}, "finish_reason": "stop"}]
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def _judge_server(biased: bool) -> Iterator[str]:
    handler = type("J", (_Judge,), {"biased": biased})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fair_judge() -> Iterator[str]:
    yield from _judge_server(False)


@pytest.fixture
def biased_judge() -> Iterator[str]:
    yield from _judge_server(True)


def test_pairwise_judge_asks_twice_and_cancels_position_bias(
    fair_judge: str, biased_judge: str
) -> None:
    prompts = [{"prompt": t.prompt, "reference": t.reference} for t in LLM_TASKS] * 2
    with _sim(0.95, 1) as good, _sim(0.3, 2) as bad:
        fair = mc.compare_llm(
            good.url, bad.url, prompts, judge="pairwise", judge_endpoint=fair_judge
        )
        biased = mc.compare_llm(
            good.url, bad.url, prompts, judge="pairwise", judge_endpoint=biased_judge
        )
    assert fair.verdict == "fail" and fair.state.losses > fair.state.wins
    assert "A=champion: " in fair.frame["reason"].iloc[0]
    # a judge that always says "A" prefers each side once: every pair is a tie
    assert biased.state.ties == len(prompts) and biased.state.wins == biased.state.losses == 0


def test_bad_arguments_are_clear() -> None:
    with pytest.raises(ValueError, match="judge_endpoint"):
        mc.compare_llm("http://127.0.0.1:1", "http://127.0.0.1:2", ["hi"], judge="pairwise")
    with pytest.raises(ValueError, match="use pairwise or one of"):
        mc.compare_llm("http://127.0.0.1:1", "http://127.0.0.1:2", ["hi"], judge="vibes")
    with pytest.raises(ValueError, match=r"prompts\[0\]"):
        mc.compare_llm("http://127.0.0.1:1", "http://127.0.0.1:2", [3])
