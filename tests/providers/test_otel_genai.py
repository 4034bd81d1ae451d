"""LLM SLIs from the OpenTelemetry GenAI semantic conventions through the real OTLP receiver.

The series are pushed over HTTP (OTLP/JSON) to an ``OTLPReceiver`` on loopback, as two vLLM-like
Deployments' OpenTelemetry SDKs would push them (resource attributes ``k8s.namespace.name`` and
``k8s.deployment.name``), then read by the OpenTelemetry provider in-process and through the
receiver's read API; the analysis computes the SLIs from what ``collect`` returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llm_provider_rollouts import gateway_rollout, priced_rollout, sli_values
from otlp_fixtures import histogram_metric, post, request, running_receiver

from modelcanary.analysis import NoData, Window
from modelcanary.analysis._measurements import Counts, Scalar
from modelcanary.providers._opentelemetry import OpenTelemetryProvider, RemoteSeries
from modelcanary.providers._otlp_genai import reads_genai
from modelcanary.providers._otlp_store import OTLPStore
from modelcanary.spec import ModelRollout, parse_rollout

T = 1_800_000_000.0
WINDOW = Window(T, T + 60)
TTFT_BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0)
TPOT_BOUNDS = (0.01, 0.025, 0.05, 0.1)
DURATION_BOUNDS = (0.5, 1.0, 2.5, 5.0)
TOKEN_BOUNDS = (16.0, 64.0, 256.0, 1024.0)
METRICS = (
    "ttft-p50",
    "ttft-p95",
    "tpot-p50",
    "output-tokens-per-second",
    "error-rate",
    "latency-p50",
    "refusal-rate",
)


def _histogram(name: str, attrs: dict[str, Any], bounds: tuple[float, ...], buckets: list[int],
               total: float, unit: str = "s") -> dict[str, Any]:  # fmt: skip
    """A cumulative histogram born at T: zero at T + 1, ``buckets`` at T + 50."""
    zero = [0] * len(buckets)
    return histogram_metric(
        name, attrs, bounds, [(T + 1, zero, 0.0), (T + 50, buckets, total)], start=T, unit=unit
    )


def _server(deployment: str, *, slow: bool, errors: int) -> dict[str, Any]:
    """One Deployment's GenAI server metrics: 100 requests (``errors`` of them failed)."""
    ok = 100 - errors
    base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "vllm"}
    metrics = [
        _histogram(
            "gen_ai.server.time_to_first_token",
            base,
            TTFT_BOUNDS,
            [0, 0, 100, 0, 0, 0] if slow else [100, 0, 0, 0, 0, 0],
            17.5 if slow else 2.5,
        ),
        _histogram(
            "gen_ai.server.time_per_output_token",
            base,
            TPOT_BOUNDS,
            [0, 100, 0, 0, 0] if slow else [100, 0, 0, 0, 0],
            2.0 if slow else 0.5,  # 20 ms and 5 ms a token: 50 and 200 tokens/s
        ),
        _histogram("gen_ai.server.request.duration", base, DURATION_BOUNDS, [ok, 0, 0, 0, 0], 30.0),
    ]
    if errors:
        failed = {**base, "error.type": "500"}
        metrics.append(
            _histogram(
                "gen_ai.server.request.duration",
                failed,
                DURATION_BOUNDS,
                [errors, 0, 0, 0, 0],
                1.0,
            )
        )
    resource = {
        "service.name": "vllm",
        "k8s.namespace.name": "ml",
        "k8s.deployment.name": deployment,
    }
    return request(*metrics, resource=resource)


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[OTLPStore, str]]:
    with running_receiver() as (store, url):
        for body in (
            _server("assistant-primary", slow=False, errors=0),
            _server("assistant", slow=True, errors=10),
            _server("other", slow=True, errors=50),  # another workload: never counted
        ):
            answer = post(url, body)
            assert answer.status_code == 200, answer.text
        yield store, url


def _rollout(provider: str = "inference-pool", **metadata: Any) -> ModelRollout:
    return gateway_rollout(METRICS, provider, step_weights=[10], **metadata)


def test_genai_series_give_the_llm_slis(receiver: tuple[OTLPStore, str]) -> None:
    rollout = _rollout()
    data = OpenTelemetryProvider(receiver[0]).collect(rollout, WINDOW)
    assert data.champion.counts == Counts(100, 0, "champion")
    assert data.challenger.counts == Counts(100, 10, "challenger")  # "other" left out
    values = sli_values(data, rollout)
    champ, chal = values["champion"], values["challenger"]
    assert champ["ttft-p50"] == pytest.approx(25.0)  # half of the first bucket (50 ms)
    assert chal["ttft-p50"] == pytest.approx(175.0)  # middle of 100-250 ms
    assert chal["ttft-p95"] == pytest.approx(242.5)
    assert champ["tpot-p50"] == pytest.approx(5.0) and chal["tpot-p50"] == pytest.approx(17.5)
    assert champ["output-tokens-per-second"] == pytest.approx(200.0)
    assert chal["output-tokens-per-second"] == pytest.approx(50.0)
    assert chal["error-rate"] == pytest.approx(0.1) and champ["error-rate"] == 0
    assert chal["latency-p50"] == pytest.approx(250.0)
    assert isinstance(chal["refusal-rate"], NoData)  # no exchanges: no value, never a pass


def test_reading_through_the_receivers_api_gives_the_same(
    receiver: tuple[OTLPStore, str],
) -> None:
    rollout = _rollout()
    remote = OpenTelemetryProvider(RemoteSeries(receiver[1]))
    assert remote.collect(rollout, WINDOW) == OpenTelemetryProvider(receiver[0]).collect(
        rollout, WINDOW
    )


def test_which_rollouts_read_the_genai_series(receiver: tuple[OTLPStore, str]) -> None:
    assert reads_genai(_rollout("kserve-llm")) and reads_genai(_rollout("inference-pool"))
    assert not reads_genai(_rollout("istio"))
    annotated = _rollout("istio", annotations={"modelcanary.io/metrics-scheme": "otel-genai"})
    assert reads_genai(annotated)
    assert reads_genai(_rollout("istio"), "otel-genai")
    openai = {"url": "http://a:8000", "protocol": "openai"}
    spec = {"champion": openai, "challenger": {**openai, "url": "http://b:8000"}}
    for router, expected in (("istio", True), ("local", False)):
        doc = _rollout("istio").to_dict()
        del doc["spec"]["targetRef"]
        doc["spec"] |= spec
        doc["spec"]["router"]["provider"] = router
        assert reads_genai(parse_rollout(doc)) is expected
    # a non-LLM rollout keeps reading the router's series: none here, so no requests
    data = OpenTelemetryProvider(receiver[0]).collect(_rollout("istio"), WINDOW)
    assert isinstance(data.challenger.counts, NoData)
    data = OpenTelemetryProvider(receiver[0], scheme="otel-genai").collect(
        _rollout("istio"), WINDOW
    )
    assert data.challenger.counts == Counts(100, 10, "challenger")


def test_model_rewrite_versions_are_told_apart_by_response_model() -> None:
    """Behind inference-model-rewrite both versions share a pool: gen_ai.response.model
    decides; series of another model are left out."""
    with running_receiver() as (store, url):
        for model, slow in (("assistant-v1", False), ("assistant-v2", True), ("x", True)):
            body = _server("pool", slow=slow, errors=0)
            for metric in body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]:
                for point in metric["histogram"]["dataPoints"]:
                    point["attributes"].append(
                        {"key": "gen_ai.response.model", "value": {"stringValue": model}}
                    )
            assert post(url, body).status_code == 200
        doc = _rollout("inference-model-rewrite").to_dict()
        doc["spec"]["router"]["inference"] = {
            "championModel": "assistant-v1",
            "challengerModel": "assistant-v2",
        }
        rollout = parse_rollout(doc)
        data = OpenTelemetryProvider(store).collect(rollout, WINDOW)
    values = sli_values(data, rollout)
    assert values["champion"]["ttft-p50"] == pytest.approx(25.0)
    assert values["challenger"]["ttft-p50"] == pytest.approx(175.0)
    assert data.challenger.counts == Counts(100, 0, "challenger")


def test_cost_per_1k_requests_from_token_usage() -> None:
    rollout = priced_rollout("otel-genai", "ml", 1e6)
    with running_receiver() as (store, url):
        for deployment, (inputs, outputs) in (
            ("assistant-primary", (5000.0, 2000.0)),
            ("assistant-canary", (5000.0, 8000.0)),
        ):
            metrics = [
                _histogram(
                    "gen_ai.client.token.usage",
                    {"gen_ai.token.type": kind},
                    TOKEN_BOUNDS,
                    [0, 100, 0, 0, 0],
                    total,
                    unit="{token}",
                )
                for kind, total in (("input", inputs), ("output", outputs))
            ]
            resource = {"k8s.namespace.name": "ml", "k8s.deployment.name": deployment}
            assert post(url, request(*metrics, resource=resource)).status_code == 200
        data = OpenTelemetryProvider(store).collect(rollout, WINDOW)
    # per request: 50 input tokens and 20 (champion) or 80 (challenger) output tokens
    assert data.champion.values["cost-per-1k-requests"] == Scalar(
        pytest.approx(1000 * (50 * 0.5 + 20 * 1.5) / 1000), "champion"
    )
    assert data.challenger.values["cost-per-1k-requests"] == Scalar(
        pytest.approx(1000 * (50 * 0.5 + 80 * 1.5) / 1000), "challenger"
    )
