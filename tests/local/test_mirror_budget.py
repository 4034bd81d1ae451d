"""The mirror spend cap: no more copies once prompts, tokens or cost reach the budget."""

from __future__ import annotations

import time

import httpx
import pytest
from llm_stream_fixtures import chat, exchanges, sim, sim_finished, wait_for
from router_fixtures import router

from modelcanary.analysis._llm_records import LLMExchange
from modelcanary.analysis._measurements import Window
from modelcanary.local._proxy.budget import MirrorBudget
from modelcanary.local._proxy.server import LocalRouter
from modelcanary.local._runtime import mirror_budget
from modelcanary.rollout._commands import Routes
from modelcanary.spec import ModelRollout, parse_rollout

MIRROR_ALL = Routes(100, 0, 100)


def _mirrored(r: LocalRouter) -> list[LLMExchange]:
    return [e for e in exchanges(r) if e.mirrored]


def test_the_prompt_cap_stops_mirroring_and_counts_the_rest_as_dropped() -> None:
    with (
        sim(model="champ", ttft_ms=5, tokens_per_second=1000) as champion,
        sim(model="chal", ttft_ms=5, tokens_per_second=1000) as challenger,
        router(
            champion.url, challenger.url, MIRROR_ALL, mirror_budget=MirrorBudget(max_prompts=3)
        ) as r,
        httpx.Client(timeout=30) as client,
    ):
        bodies = []
        for _ in range(8):
            with client.stream("POST", r.url + "/v1/chat/completions", json=chat()) as answer:
                bodies.append(answer.read())
        assert wait_for(lambda: len(_mirrored(r)) == 3 and sim_finished(challenger) == 3)
        assert r.mirror_eligible == 8  # every copy was decided when its request was routed
        assert r.mirror_spend["prompts"] == 3
        assert r.mirror_drops["budget"] == 5
        assert all(b'"champ"' in b and b'"chal"' not in b for b in bodies)  # never a mirror
        served = {e.request_id for e in exchanges(r) if not e.mirrored}
        assert len(served) == 8 and {e.request_id for e in _mirrored(r)} <= served
        window = Window(0, time.time() + 5)
        recorder = r.recorder

        def coverage() -> tuple[int, int]:  # the router hands its counts over every 50 ms
            counts = recorder.mirror_coverage(window)  # type: ignore[attr-defined]
            return counts.eligible, counts.dropped

        assert wait_for(lambda: coverage() == (8, 5))


def test_the_token_and_cost_caps_count_prompt_and_output_tokens_at_the_price() -> None:
    budget = MirrorBudget(max_cost=0.001, input_per_1k=0.01, output_per_1k=0.03)
    with (
        sim(ttft_ms=1, tokens_per_second=1000) as champion,
        sim(ttft_ms=1, tokens_per_second=1000, mean_output_tokens=30) as challenger,
        router(champion.url, challenger.url, MIRROR_ALL, mirror_budget=budget) as r,
        httpx.Client(timeout=30) as client,
    ):
        for sent in range(1, 6):  # one at a time: each copy's answer is priced before the next
            client.post(r.url + "/v1/chat/completions", json=chat(stream=False))
            assert wait_for(lambda: len(_mirrored(r)) + r.mirror_drops["budget"] == sent)  # noqa: B023
        copies = _mirrored(r)
        prompt = sum(e.prompt_tokens for e in copies)
        output = sum(e.output_tokens for e in copies)
        spend = r.mirror_spend
        assert spend["tokens"] == prompt + output and spend["prompts"] == len(copies)
        assert spend["cost"] == pytest.approx((prompt * 0.01 + output * 0.03) / 1000, abs=1e-6)
        assert spend["cost"] >= 0.001  # the cap was reached...
        cost_before_last = (
            spend["cost"]
            - (copies[-1].prompt_tokens * 0.01 + copies[-1].output_tokens * 0.03) / 1000
        )
        assert cost_before_last < 0.001  # ...by the last copy sent, and none went after it
        assert len(copies) + r.mirror_drops["budget"] == 5 and r.mirror_drops["budget"] >= 1
    with (
        sim(ttft_ms=1, tokens_per_second=1000) as champion,
        sim(ttft_ms=1, tokens_per_second=1000) as challenger,
        router(
            champion.url, challenger.url, MIRROR_ALL, mirror_budget=MirrorBudget(max_tokens=1)
        ) as r,
        httpx.Client(timeout=30) as client,
    ):
        for _ in range(3):
            client.post(r.url + "/v1/chat/completions", json=chat(stream=False))
        assert wait_for(lambda: len(_mirrored(r)) == 1 and r.mirror_drops["budget"] == 2)
        assert r.mirror_spend["tokens"] > 1


def test_mirrored_streams_are_recorded_but_never_reach_the_client() -> None:
    with (
        sim(model="champ", ttft_ms=5, tokens_per_second=500) as champion,
        sim(model="chal", ttft_ms=1, tokens_per_second=2000) as challenger,
        router(champion.url, challenger.url, MIRROR_ALL) as r,
        httpx.Client(timeout=30) as client,
    ):
        for _ in range(5):
            body = chat(stream_options={"include_usage": True})
            with client.stream("POST", r.url + "/v1/chat/completions", json=body) as answer:
                raw = answer.read()
            assert b'"champ"' in raw and b'"chal"' not in raw
            assert answer.headers["x-modelcanary-version"] == "champion"
        assert wait_for(lambda: len(_mirrored(r)) == 5)
        for copy in _mirrored(r):
            assert copy.side == "challenger" and copy.stream and copy.tokens_exact
            assert copy.ttft_ms is not None and copy.ok
        assert r.mirror_spend["prompts"] == 5 and r.mirror_budget is None


def test_the_runtime_reads_the_budget_and_the_challengers_pricing_from_the_spec() -> None:
    def spec(analysis: dict[str, object]) -> ModelRollout:
        return parse_rollout(
            {
                "metadata": {"name": "chat"},
                "spec": {
                    "champion": {"url": "http://127.0.0.1:1", "protocol": "openai"},
                    "challenger": {
                        "url": "http://127.0.0.1:2",
                        "protocol": "openai",
                        "pricing": {"inputPer1k": 0.5, "outputPer1k": 1.5},
                    },
                    "analysis": {
                        "interval": "10s",
                        "steps": [
                            {"mirrorWeight": 100, "iterations": 2},
                            {"weight": 50, "iterations": 2},
                        ],
                        **analysis,
                    },
                },
            }
        )

    budget = mirror_budget(spec({"mirrorBudget": {"maxPrompts": 40, "maxCost": 2.5}}))
    assert budget == MirrorBudget(
        max_prompts=40, max_tokens=None, max_cost=2.5, input_per_1k=0.5, output_per_1k=1.5
    )
    assert mirror_budget(spec({})) is None
