"""LLM SLI values from the window's LLM exchanges (issue 17), through the analysis' own entry
points (``sli_value``, ``threshold_check``), and the engine adding the versions' prices.

The headline case: a challenger exactly as fast as the champion for every prompt length, that
happened to get mostly long prompts, is not worse on stratified TTFT/TPOT, while the raw
pooled quantile says it is several times slower.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from modelcanary.analysis._checks import threshold_check
from modelcanary.analysis._llm_records import MAX_ANSWER_CHARS, LLMExchange
from modelcanary.analysis._llm_sli import pooled_quantile, stratified_quantile
from modelcanary.analysis._measurements import (
    IntervalData,
    NoData,
    Samples,
    Scalar,
    VersionData,
    Window,
    version_data,
)
from modelcanary.analysis._shadow_eval import JudgedPair
from modelcanary.analysis._sli import sli_value
from modelcanary.engine._observe import collect
from modelcanary.spec import MetricSpec, Pricing, RolloutStatus, parse_rollout

WINDOW = Window(1000.0, 1030.0)
SHORT, LONG = 50, 1000  # prompt tokens: bucket [0, 128) and [512, 2048)


def ex(side: str, prompt: int = SHORT, **kw: Any) -> LLMExchange:
    """One answered streamed exchange (fields overridable)."""
    fields: dict[str, Any] = {
        "timestamp": 1000.0,
        "side": side,
        "mirrored": False,
        "request_id": "r",
        "status": 200,
        "error_class": None,
        "stream": True,
        "prompt_tokens": prompt,
        "output_tokens": 21,
        "tokens_exact": True,
        "latency_ms": 1000.0,
        "ttft_ms": 100.0,
        "tpot_ms": 20.0,
        "answer": "fine",
    }
    return LLMExchange(**(fields | kw))


def data(exchanges: list[LLMExchange], **kw: Any) -> IntervalData:
    chal = kw.pop("challenger", VersionData("challenger"))
    return IntervalData(WINDOW, chal, VersionData("champion"), llm=tuple(exchanges), **kw)


def value(name: str, d: IntervalData, side: str = "challenger", **fields: Any) -> Any:
    metric = MetricSpec.model_validate({"name": name, **fields})
    version = d.challenger if side == "challenger" else d.champion
    return sli_value(metric, d, version)


def _speed_by_bucket(side: str, n_short: int, n_long: int, slow: float = 1.0) -> list[LLMExchange]:
    """Same timing law for both versions: short prompts TTFT 100..200 ms and TPOT 10..20 ms,
    long prompts TTFT 600..800 ms and TPOT 30..50 ms (times ``slow``)."""
    out = []
    for n, prompt, (t0, t1), (p0, p1) in (
        (n_short, SHORT, (100, 200), (10, 20)),
        (n_long, LONG, (600, 800), (30, 50)),
    ):
        for ttft, tpot in zip(np.linspace(t0, t1, n), np.linspace(p0, p1, n), strict=True):
            out.append(ex(side, prompt, ttft_ms=ttft * slow, tpot_ms=tpot * slow))
    return out


def skewed(slow: float = 1.0) -> IntervalData:
    """Champion: 97 short and 3 long prompts; challenger: 3 short and 97 long."""
    return data(_speed_by_bucket("champion", 97, 3) + _speed_by_bucket("challenger", 3, 97, slow))


@pytest.mark.parametrize(
    ("name", "raw_ratio"),
    [("ttft-p95", 3.0), ("tpot-p95", 2.0), ("ttft-p50", 3.0), ("tpot-p99", 1.2)],
)
def test_longer_prompts_do_not_make_a_challenger_worse(name: str, raw_ratio: float) -> None:
    d = skewed()
    chal, champ = value(name, d), value(name, d, "champion")
    assert chal == pytest.approx(champ, rel=1e-9)
    # the raw pooled quantile blames the challenger for its prompts
    field = (lambda e: e.ttft_ms) if name.startswith("ttft") else (lambda e: e.tpot_ms)
    q = float(name.rsplit("p", 1)[1]) / 100
    raw_chal = pooled_quantile(d.llm or (), "challenger", field, q)
    raw_champ = pooled_quantile(d.llm or (), "champion", field, q)
    assert isinstance(raw_chal, float) and isinstance(raw_champ, float)
    assert raw_chal > raw_ratio * raw_champ


def test_the_relative_check_passes_stratified_where_raw_would_fail() -> None:
    d = skewed()
    metric = MetricSpec.model_validate(
        {"name": "ttft-p95", "relativeTo": "champion", "thresholdRange": {"max": 1.2}}
    )
    check = threshold_check(metric, d, "fail")
    assert check.verdict == "pass", check.reason
    assert check.value == pytest.approx(1.0)
    raw = pooled_quantile(d.llm or (), "challenger", lambda e: e.ttft_ms, 0.95)
    raw_champ = pooled_quantile(d.llm or (), "champion", lambda e: e.ttft_ms, 0.95)
    assert isinstance(raw, float) and isinstance(raw_champ, float)
    assert raw / raw_champ > 3.0  # what docs/llm.md says the raw p95 would claim


def test_a_challenger_slower_in_every_bucket_is_still_seen() -> None:
    d = skewed(slow=1.5)
    metric = MetricSpec.model_validate(
        {"name": "ttft-p95", "relativeTo": "champion", "thresholdRange": {"max": 1.2}}
    )
    check = threshold_check(metric, d, "fail")
    assert check.verdict == "fail" and check.value == pytest.approx(1.5)


def test_pooled_weights_and_buckets_one_version_lacks() -> None:
    # champion: 10 short (TTFT 100); challenger: 10 short (TTFT 200) and 30 long (TTFT 900);
    # the long bucket is the challenger's only: dropped, the short one compared alone
    exchanges = [ex("champion", SHORT, ttft_ms=100.0) for _ in range(10)]
    exchanges += [ex("challenger", SHORT, ttft_ms=200.0) for _ in range(10)]
    exchanges += [ex("challenger", LONG, ttft_ms=900.0) for _ in range(30)]
    d = data(exchanges)
    assert value("ttft-p50", d) == pytest.approx(200.0)
    assert value("ttft-p50", d, "champion") == pytest.approx(100.0)
    # two shared buckets weighted by the pooled mix: short 10+10, long 10+30 -> 1/3, 2/3
    exchanges += [ex("champion", LONG, ttft_ms=600.0) for _ in range(10)]
    d = data(exchanges)
    assert value("ttft-p50", d) == pytest.approx(200 / 3 + 2 * 900 / 3)
    assert value("ttft-p50", d, "champion") == pytest.approx(100 / 3 + 2 * 600 / 3)
    # custom bucket edges: one bucket for everything is the raw quantile
    assert value("ttft-p50", d, promptBuckets=[100_000]) == pytest.approx(900.0)


def test_no_shared_bucket_and_no_exchanges_are_no_data() -> None:
    d = data([ex("champion", SHORT), ex("challenger", LONG)])
    result = value("ttft-p95", d)
    assert isinstance(result, NoData) and "share no prompt-length bucket" in result.reason
    # a version alone in the window is measured on its own mix
    assert value("ttft-p95", data([ex("challenger", LONG, ttft_ms=300.0)])) == 300.0
    empty = IntervalData(WINDOW, VersionData("challenger"))
    for name in ("ttft-p99", "refusal-rate", "cost-per-1k-requests", "output-length-drift"):
        assert isinstance(value(name, empty), NoData), name
    failed = data([ex("challenger", status=500, error_class="server", ttft_ms=None)])
    assert isinstance(value("ttft-p99", failed), NoData)
    check = threshold_check(
        MetricSpec.model_validate({"name": "ttft-p99", "thresholdRange": {"max": 1000}}),
        empty,
        "fail",
    )
    assert check.verdict == "fail" and "no data" in check.reason  # never a pass on no data


def test_ttft_is_measured_on_streams_when_the_window_has_any() -> None:
    # the challenger got the blocking requests: their "first token" is the whole answer
    rows = [ex("champion", ttft_ms=100.0) for _ in range(10)]
    rows += [ex("challenger", ttft_ms=100.0) for _ in range(5)]
    rows += [ex("challenger", stream=False, ttft_ms=3000.0, tpot_ms=None) for _ in range(20)]
    assert value("ttft-p95", data(rows)) == 100.0
    blocking = [e for e in rows if not e.stream] + [ex("champion", stream=False, ttft_ms=2000.0)]
    assert value("ttft-p95", data(blocking)) == 3000.0  # no stream at all: the whole latency


def test_mirrored_copies_are_the_challengers_exchanges() -> None:
    shadow = [ex("champion", ttft_ms=100.0, request_id=f"r{i}") for i in range(5)]
    shadow += [ex("challenger", ttft_ms=250.0, mirrored=True, request_id=f"r{i}") for i in range(5)]
    d = data(shadow, mirrored=True)
    assert value("ttft-p50", d) == 250.0 and value("ttft-p50", d, "champion") == 100.0


def test_output_tokens_per_second_is_the_median_decode_speed_of_streams() -> None:
    rows = [
        ex("challenger", output_tokens=101, ttft_ms=100.0, latency_ms=2100.0),  # 100 / 2 s = 50
        ex("challenger", output_tokens=41, ttft_ms=200.0, latency_ms=1200.0),  # 40 / 1 s = 40
        ex("challenger", output_tokens=61, ttft_ms=0.0, latency_ms=1000.0),  # 60 / 1 s = 60
        ex("challenger", output_tokens=500, stream=False, ttft_ms=10.0, latency_ms=11.0),
        ex("challenger", output_tokens=1, ttft_ms=10.0, latency_ms=20.0),
        ex("challenger", status=429, error_class="rate-limit", output_tokens=0),
    ]
    assert value("output-tokens-per-second", data(rows)) == pytest.approx(50.0)
    only_blocking = data([ex("challenger", stream=False)])
    assert isinstance(value("output-tokens-per-second", only_blocking), NoData)


def test_cost_per_1k_requests_from_tokens_and_each_versions_pricing() -> None:
    rows = [
        ex("challenger", prompt_tokens=1000, output_tokens=500),  # 0.5 + 0.75 = 1.25
        ex("challenger", prompt_tokens=2000, output_tokens=0),  # 1.0
        ex("challenger", status=500, error_class="server", prompt_tokens=9999),  # not answered
        ex("champion", prompt_tokens=1000, output_tokens=1000),  # 0.1 + 0.2 = 0.3
    ]
    prices = {
        "challenger": Pricing(input_per_1k=0.5, output_per_1k=1.5),
        "champion": Pricing(input_per_1k=0.1, output_per_1k=0.2),
    }
    d = data(rows, pricing=prices)
    assert value("cost-per-1k-requests", d) == pytest.approx(1000 * (1.25 + 1.0) / 2)
    assert value("cost-per-1k-requests", d, "champion") == pytest.approx(300.0)
    unpriced = value("cost-per-1k-requests", data(rows))
    assert isinstance(unpriced, NoData) and "add pricing to spec.challenger" in unpriced.reason


def test_refusal_and_json_valid_rates_over_answers() -> None:
    answers = [
        "I'm sorry, but I can't help with that.",
        "As an AI, I cannot do this.",
        '{"city": "Paris"}',
        "[1, 2, 3]",
        "Paris is the capital.",
    ]
    rows = [ex("challenger", answer=a) for a in answers]
    rows.append(ex("challenger", status=400, error_class="content-filter", answer="I'm sorry"))
    rows.append(ex("challenger", answer="{" + "x" * (MAX_ANSWER_CHARS - 1)))  # cut: unknowable
    d = data(rows)
    assert value("refusal-rate", d) == pytest.approx(2 / 6)
    assert value("json-valid-rate", d) == pytest.approx(2 / 5)


def test_error_rate_by_class_counts_only_that_class() -> None:
    rows = [ex("challenger") for _ in range(6)]
    rows += [ex("challenger", status=429, error_class="rate-limit") for _ in range(3)]
    rows.append(ex("challenger", status=504, error_class="timeout"))
    counts = version_data("challenger", errors=[False] * 6 + [True] * 4)
    d = data(rows, challenger=counts)
    assert value("error-rate", d, errorClass="rate-limit") == pytest.approx(0.3)
    assert value("error-rate", d, errorClass="timeout") == pytest.approx(0.1)
    assert value("error-rate", d, errorClass="context-length") == 0.0
    assert value("error-rate", d) == pytest.approx(0.4)  # without a class: request counts


def test_error_rate_by_class_is_judged_by_threshold_not_the_all_errors_test() -> None:
    from modelcanary.analysis._judges import select_judge

    rows = [ex(side) for side in ("champion", "challenger") for _ in range(50)]
    champ = version_data("champion", errors=[False] * 50)
    chal = version_data("challenger", errors=[False] * 50)
    d = IntervalData(WINDOW, chal, champ, llm=tuple(rows))
    plain = MetricSpec.model_validate({"name": "error-rate", "thresholdRange": {"max": 0.1}})
    by_class = plain.model_copy(update={"error_class": "timeout"})
    assert select_judge(plain, d) == "sequential"
    assert select_judge(by_class, d) == "threshold"


def test_output_length_drift_compares_the_two_versions() -> None:
    rng = np.random.default_rng(7)
    same = [ex("champion", output_tokens=int(n)) for n in rng.integers(50, 150, 300)]
    same += [ex("challenger", output_tokens=int(n)) for n in rng.integers(50, 150, 300)]
    longer = [e for e in same if e.side == "champion"]
    longer += [ex("challenger", output_tokens=int(n)) for n in rng.integers(250, 350, 300)]
    small = value("output-length-drift", data(same), method="ks")
    large = value("output-length-drift", data(longer), method="ks")
    assert small < 0.1 and large == pytest.approx(1.0)
    assert value("output-length-drift", data(longer), "champion", method="ks") == large


def _pair(outcome: str) -> JudgedPair:
    return JudgedPair("r", 1000.0, 1001.0, outcome, "exact", "why", "a", "b")  # type: ignore[arg-type]


def test_win_rate_counts_ties_half_and_leaves_judge_errors_out() -> None:
    judged = tuple(_pair(o) for o in ["win"] * 3 + ["tie"] * 2 + ["loss"] * 5 + ["error"] * 4)
    d = IntervalData(WINDOW, VersionData("challenger"), judged=judged)
    assert value("win-rate", d, evaluator="exact") == pytest.approx((3 + 1) / 10)
    assert value("win-rate", d, "champion", evaluator="exact") == pytest.approx((5 + 1) / 10)
    none = IntervalData(WINDOW, VersionData("challenger"), judged=(_pair("error"),))
    assert isinstance(value("win-rate", none, evaluator="exact"), NoData)
    assert isinstance(value("win-rate", IntervalData(WINDOW, VersionData("challenger"))), NoData)


def test_a_providers_value_wins_and_samples_use_the_slis_quantile() -> None:
    rows = [ex("challenger", ttft_ms=100.0)]
    given = VersionData("challenger", values={"ttft-p95": Scalar(321.0)})
    assert value("ttft-p95", data(rows, challenger=given)) == 321.0
    samples = VersionData(
        "challenger", values={"tpot-p95": Samples(np.arange(1.0, 101.0), "challenger")}
    )
    assert value("tpot-p95", data(rows, challenger=samples)) == pytest.approx(95.05)


def test_stratified_quantile_is_the_raw_quantile_with_one_bucket() -> None:
    rows = _speed_by_bucket("challenger", 20, 20)
    one = stratified_quantile(rows, "challenger", lambda e: e.ttft_ms, 0.9, edges=(10**9,))
    raw = pooled_quantile(rows, "challenger", lambda e: e.ttft_ms, 0.9)
    assert one == pytest.approx(raw)


class _Provider:
    """A MetricProvider that returns fixed LLM exchanges (the port, not a stub of the code
    under test: the engine's ``collect`` is what is tested)."""

    def __init__(self, interval: IntervalData) -> None:
        self.interval = interval

    def collect(self, rollout: Any, window: Window) -> IntervalData:
        return self.interval

    def query(self, metric: Any, rollout: Any, window: Window) -> Any:
        raise AssertionError("no custom metric in this rollout")


def test_the_engine_adds_the_versions_prices_for_the_cost_sli() -> None:
    doc = {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "assistant"},
        "spec": {
            "champion": {
                "url": "http://127.0.0.1:8001",
                "protocol": "openai",
                "pricing": {"inputPer1k": 0.1, "outputPer1k": 0.2},
            },
            "challenger": {
                "url": "http://127.0.0.1:8002",
                "protocol": "openai",
                "pricing": {"inputPer1k": 0.5, "outputPer1k": 1.5},
            },
            "analysis": {
                "stepWeights": [10],
                "metrics": [
                    {
                        "name": "cost-per-1k-requests",
                        "relativeTo": "champion",
                        "thresholdRange": {"max": 1.5},
                    }
                ],
            },
        },
    }
    rollout = parse_rollout(doc)
    rows = [ex("champion", prompt_tokens=1000, output_tokens=1000)]
    rows.append(ex("challenger", prompt_tokens=1000, output_tokens=1000))
    provider = _Provider(data(rows))
    got, error = collect(provider, rollout, RolloutStatus(), datetime.now(UTC))  # type: ignore[arg-type]
    assert error is None and got is not None and got.pricing is not None
    check = threshold_check(rollout.spec.analysis.metrics[0], got, "fail")
    # challenger 0.5 + 1.5 = 2.0 per request, champion 0.3: ratio 6.7 > 1.5
    assert check.verdict == "fail" and check.value == pytest.approx(2.0 / 0.3)
