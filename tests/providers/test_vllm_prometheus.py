"""LLM SLIs from vLLM's metric names through a real Prometheus.

Two LLM simulators (``modelcanary serve --llm-sim``, which exports vLLM's ``vllm:*`` series) on
loopback stand in for the champion's and the challenger's vLLM pods; a real Prometheus scrapes
them with the ``namespace``/``pod`` target labels Kubernetes service discovery would add. Real
chat completions (streamed and not) go to each; the Prometheus provider then reads the window
with the ``vllm`` series scheme, the default of the LLM routers, and the analysis computes the
SLIs from what it returns: TTFT and TPOT quantiles from vLLM's histograms, decode speed,
error rate from ``finished_reason``, cost from the token counters. A slower, failing challenger
must come out slower and failing; SLIs vLLM cannot give are NoData, never a pass.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from llm_provider_rollouts import gateway_rollout, priced_rollout, sli_values
from prom_fixtures import PROMETHEUS, Prometheus, wait_until

from modelcanary.analysis import NoData, Window
from modelcanary.analysis._measurements import Scalar
from modelcanary.providers._prometheus import PrometheusProvider
from modelcanary.serving import LLMSimConfig, LLMSimServer
from modelcanary.spec import ModelRollout, parse_rollout

PODS = {"champion": "assistant-primary-5d8f7c9b4-x1abc", "challenger": "assistant-7f9c4b6d8-q2w3e"}
"""Pods in namespace ``ml`` of a targetRef rollout of Deployment ``assistant``."""
PRICED_PODS = {
    "champion": "assistant-primary-5d8f7c9b4-x1abc",
    "challenger": "assistant-canary-7f9c4b6d8-q2w3e",
}
"""The same two servers scraped again in namespace ``priced``, named as the pods of a rollout
with explicit champion/challenger versions (``<name>-primary``, ``<name>-canary``)."""
REQUESTS = 56
"""Per version. The challenger fails 1 request in 4 (``error_rate=0.25``); its 8 concurrent
requests take the simulator's seeded draws in thread order, so the number of 500s is not
fixed: none in 56 has probability 0.75**56 < 1e-7 (with 24 it was 1e-3)."""
METRICS = (
    "ttft-p50",
    "ttft-p95",
    "tpot-p50",
    "tpot-p99",
    "output-tokens-per-second",
    "error-rate",
    "cost-per-1k-requests",
    "refusal-rate",
)


class LabelledPrometheus(Prometheus):
    """Prometheus whose static targets carry the pod labels service discovery would add."""

    def __init__(self, workdir: Path, targets: dict[str, dict[str, tuple[str, str]]]) -> None:
        self.targets = targets  # job -> host:port -> (namespace, pod)
        super().__init__(workdir)

    def _write_config(self) -> None:
        lines = ["global:", "  scrape_interval: 1s", "scrape_configs:"]
        for job, targets in self.targets.items():
            lines += [f"  - job_name: {job}", "    static_configs:"]
            for target, (namespace, pod) in targets.items():
                lines += [
                    f"      - targets: [{target!r}]",
                    f"        labels: {{namespace: {namespace}, pod: {pod}}}",
                ]
        self.config.write_text("\n".join(lines) + "\n")


@dataclass
class Scenario:
    prometheus: Prometheus
    window: Window
    errors: int
    """Requests the challenger answered 500 (vLLM: finished ``error``)."""


def _chat(url: str, i: int) -> int:
    body: dict[str, Any] = {
        "model": "assistant",
        "messages": [{"role": "user", "content": f"Write a short note number {i}."}],
        "stream": i % 2 == 0,
    }
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as reply:
        reply.read()
        return reply.status_code


def _finished(prometheus: Prometheus, pod: str) -> list[float]:
    """Finished requests of ``pod`` as last scraped by each job (namespace)."""
    rows = prometheus.query(f'sum by (namespace) (vllm:request_success_total{{pod="{pod}"}})')
    return sorted(float(row["value"][1]) for row in rows)


@pytest.fixture(scope="module")
def scenario() -> Iterator[Scenario]:
    if not Path(PROMETHEUS).exists():  # a missing server is a failure, never a skip
        pytest.fail(f"{PROMETHEUS} is missing: apt-get install --no-install-recommends prometheus")
    champion = LLMSimConfig(
        model="assistant-v1", ttft_ms=40, ttft_sigma=0.1, tokens_per_second=400, seed=1
    )
    challenger = LLMSimConfig(
        model="assistant-v2",
        ttft_ms=200,
        ttft_sigma=0.1,
        tokens_per_second=60,
        error_rate=0.25,
        mean_output_tokens=12,
        seed=2,
    )
    with (
        LLMSimServer(champion) as champ,
        LLMSimServer(challenger) as chal,
        tempfile.TemporaryDirectory(prefix="mc-vllm-prom-") as tmp,
    ):
        servers = {"champion": champ, "challenger": chal}
        hosts = {
            job: {
                s.url.removeprefix("http://"): (namespace, pods[side])
                for side, s in servers.items()
            }
            for job, namespace, pods in (("vllm", "ml", PODS), ("priced", "priced", PRICED_PODS))
        }
        jobs = Counter([*PODS.values(), *PRICED_PODS.values()])  # pod -> jobs scraping it
        start = time.time() - 1.0
        prometheus = LabelledPrometheus(Path(tmp), hosts)
        try:
            for pod in jobs:
                wait_until(lambda pod=pod: _finished(prometheus, pod) == [0] * jobs[pod], 30, pod)
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(lambda i: _chat(chal.url, i), range(REQUESTS)))
                list(pool.map(lambda i: _chat(champ.url, i), range(REQUESTS)))
            for pod in jobs:  # every request scraped
                wait_until(
                    lambda pod=pod: _finished(prometheus, pod) == [REQUESTS] * jobs[pod], 30, pod
                )
            yield Scenario(prometheus, Window(start, time.time()), codes.count(500))
        finally:
            prometheus.stop()


def _rollout(provider: str = "inference-pool") -> ModelRollout:
    return gateway_rollout(METRICS, provider, step_weights=[10, 50])


def test_vllm_slis_tell_a_slow_failing_challenger_apart(scenario: Scenario) -> None:
    rollout = _rollout()
    with PrometheusProvider(scenario.prometheus.url) as provider:
        assert provider.scheme_of(rollout).name == "vllm"
        data = provider.collect(rollout, scenario.window)
    values = sli_values(data, rollout)
    champ, chal = values["champion"], values["challenger"]
    # TTFT: ~40 ms vs ~200 ms (vLLM's buckets 40/60 ms and 100/250 ms; bounds leave room
    # for a loaded machine's late wake-ups)
    assert isinstance(champ["ttft-p50"], float) and champ["ttft-p50"] <= 100
    assert isinstance(chal["ttft-p50"], float) and 100 < chal["ttft-p50"] <= 250
    # tails: present and the challenger's slow (56 requests: one stalled champion stream on a
    # loaded machine can lift its p95 too, so tails are not compared)
    assert isinstance(chal["ttft-p95"], float) and chal["ttft-p95"] > 100
    assert isinstance(champ["ttft-p95"], float)
    # TPOT: 2.5 ms vs 16.7 ms a token (vLLM's buckets: 10 ms, 10-25 ms)
    assert isinstance(chal["tpot-p50"], float) and 10 < chal["tpot-p50"] <= 25
    assert isinstance(champ["tpot-p50"], float) and champ["tpot-p50"] < chal["tpot-p50"]
    # the tail: a value, not compared (a loaded machine may stall one champion stream)
    assert isinstance(chal["tpot-p99"], float) and isinstance(champ["tpot-p99"], float)
    # decode speed: 1 / mean TPOT, ~60 tokens/s for the challenger
    assert isinstance(chal["output-tokens-per-second"], float)
    assert 40 <= chal["output-tokens-per-second"] <= 65
    assert champ["output-tokens-per-second"] > 2 * chal["output-tokens-per-second"]  # type: ignore[operator]
    # error rate from finished_reason: the 500s are "error", the rest stop/length
    assert scenario.errors > 0
    assert chal["error-rate"] == pytest.approx(scenario.errors / REQUESTS, abs=0.01)
    assert champ["error-rate"] == 0
    # no pricing, no exchanges: NoData, never a value to pass on
    assert isinstance(chal["cost-per-1k-requests"], NoData)
    assert isinstance(chal["refusal-rate"], NoData)


def test_cost_per_1k_requests_from_token_counters(scenario: Scenario) -> None:
    """With explicit priced versions and the scheme forced by annotation, cost comes from
    vLLM's prompt and generation token counters."""
    rollout = priced_rollout("vllm", "priced", 1000, router={"provider": "local"})
    with PrometheusProvider(scenario.prometheus.url) as provider:
        assert provider.scheme_of(rollout).name == "vllm"
        data = provider.collect(rollout, scenario.window)
        # what vLLM counted, read back directly: the expected cost
        tokens = {
            side: {
                name: float(
                    scenario.prometheus.query(
                        f'sum(vllm:{name}_tokens_total{{namespace="priced",pod="{pod}"}})'
                    )[0]["value"][1]
                )
                for name in ("prompt", "generation")
            }
            for side, pod in PRICED_PODS.items()
        }
    for side in (data.champion, data.challenger):
        value = side.values["cost-per-1k-requests"]
        used = tokens[side.side]
        expected = 1000 * (used["prompt"] * 0.5 + used["generation"] * 1.5) / 1000 / REQUESTS
        assert isinstance(value, Scalar) and value.value == pytest.approx(expected, rel=0.02)


def test_model_rewrite_rollouts_tell_versions_apart_by_model_name(scenario: Scenario) -> None:
    """Behind inference-model-rewrite both versions share the pods: model_name decides."""
    doc = _rollout("inference-model-rewrite").to_dict()
    doc["spec"]["router"]["inference"] = {
        "championModel": "assistant-v1",
        "challengerModel": "assistant-v2",
    }
    rollout = parse_rollout(doc)
    with PrometheusProvider(scenario.prometheus.url) as provider:
        data = provider.collect(rollout, scenario.window)
    values = sli_values(data, rollout)
    assert values["challenger"]["ttft-p50"] > values["champion"]["ttft-p50"]  # type: ignore[operator]
    assert values["challenger"]["error-rate"] == pytest.approx(scenario.errors / REQUESTS, abs=0.01)
    # a model name no server reports: no data for that version, never a pass
    doc["spec"]["router"]["inference"]["challengerModel"] = "assistant-v3"
    rollout = parse_rollout(doc)
    with PrometheusProvider(scenario.prometheus.url) as provider:
        data = provider.collect(rollout, scenario.window)
    missing = sli_values(data, rollout)["challenger"]
    assert isinstance(missing["ttft-p50"], NoData) and isinstance(missing["error-rate"], NoData)


def test_which_rollouts_read_vllms_series() -> None:
    """LLM routers and explicit OpenAI versions behind a cluster router read vLLM's series;
    the local router keeps its own, MLflow versions the model servers'."""
    assert PrometheusProvider("http://127.0.0.1:9").scheme_of(_rollout("kserve-llm")).name == "vllm"

    def versions(router: str, **version: str) -> ModelRollout:
        return parse_rollout(
            {
                "metadata": {"name": "assistant", "namespace": "ml"},
                "spec": {
                    "champion": {"url": "http://a:8000", **version},
                    "challenger": {"url": "http://b:8000", **version},
                    "router": {"provider": router},
                    "analysis": {
                        "interval": "1m",
                        "stepWeights": [10],
                        "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.1}}],
                    },
                },
            }
        )

    with PrometheusProvider("http://127.0.0.1:9") as provider:
        assert provider.scheme_of(versions("istio", protocol="openai")).name == "vllm"
        assert provider.scheme_of(versions("local", protocol="openai")).name == "router"
        assert provider.scheme_of(versions("istio")).name == "modelcanary-model"
