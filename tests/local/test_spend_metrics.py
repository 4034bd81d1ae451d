"""The router exports what mirroring an LLM cost: ``modelcanary_router_mirror_spend_prompts_total``,
``_tokens_total`` and ``_cost_total`` next to the ``mirrorBudget`` caps as gauges
(``modelcanary_router_mirror_budget_max_prompts`` ...), at its ``/_modelcanary/metrics``, so a
dashboard or an alert sees the spend of a shadow phase as it happens.

The real router between two OpenAI-compatible simulators, mirroring every prompt under a cap of
4 prompts; its exposition is read over HTTP, parsed by prometheus_client's parser, and scraped
by a real Prometheus. Before, the spend was only in ``LocalRouter.mirror_spend`` (Python).
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from llm_stream_fixtures import chat, exchanges, sim, sim_finished, wait_for
from prometheus_client.parser import text_string_to_metric_families
from router_fixtures import router

from modelcanary.local._proxy.budget import MirrorBudget
from modelcanary.rollout._commands import Routes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers"))

from prom_fixtures import running_prometheus, wait_until

MIRROR_ALL = Routes(100, 0, 100)
BUDGET = MirrorBudget(max_prompts=4, max_cost=5.0, input_per_1k=0.5, output_per_1k=1.5)


def _samples(text: str) -> dict[str, float]:
    """``name`` -> value of every sample of rollout ``fraud`` (the parser checks the format)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("rollout") == "fraud" and len(sample.labels) == 1:
                out[sample.name] = sample.value
    return out


def test_the_router_exports_the_mirror_spend_and_the_caps() -> None:
    with (
        sim(model="champ", ttft_ms=1, tokens_per_second=2000) as champion,
        sim(model="chal", ttft_ms=1, tokens_per_second=2000, mean_output_tokens=20) as chal,
        router(champion.url, chal.url, MIRROR_ALL, mirror_budget=BUDGET) as r,
        httpx.Client(timeout=30) as client,
        running_prometheus(
            {"router": ([r.url.removeprefix("http://")], "/_modelcanary/metrics")}
        ) as prometheus,
    ):
        before = _samples(client.get(r.url + "/_modelcanary/metrics").text)
        assert before["modelcanary_router_mirror_spend_prompts_total"] == 0
        assert before["modelcanary_router_mirror_spend_tokens_total"] == 0
        for _ in range(6):
            client.post(r.url + "/v1/chat/completions", json=chat(stream=False))
        assert wait_for(lambda: sim_finished(chal) == 4)
        assert wait_for(lambda: len([e for e in exchanges(r) if e.mirrored]) == 4)
        copies = [e for e in exchanges(r) if e.mirrored]
        prompt = sum(e.prompt_tokens for e in copies)
        output = sum(e.output_tokens for e in copies)
        assert output > 0
        shown = _samples(client.get(r.url + "/_modelcanary/metrics").text)
        assert shown["modelcanary_router_mirror_spend_prompts_total"] == 4  # the cap
        assert shown["modelcanary_router_mirror_spend_tokens_total"] == prompt + output
        cost = (prompt * 0.5 + output * 1.5) / 1000
        assert shown["modelcanary_router_mirror_spend_cost_total"] == pytest.approx(cost)
        assert shown["modelcanary_router_mirror_budget_max_prompts"] == 4
        assert shown["modelcanary_router_mirror_budget_max_cost"] == 5.0
        assert "modelcanary_router_mirror_budget_max_tokens" not in shown  # no token cap
        assert r.mirror_spend["tokens"] == prompt + output  # what the router enforces

        def scraped() -> float | None:
            found = prometheus.query(
                'modelcanary_router_mirror_spend_tokens_total{rollout="fraud"}'
            )
            return float(found[0]["value"][1]) if found else None

        wait_until(lambda: scraped() == prompt + output, 60, "Prometheus to scrape the spend")
        (cap,) = prometheus.query("modelcanary_router_mirror_budget_max_prompts")
        assert float(cap["value"][1]) == 4 and cap["metric"]["job"] == "router"
