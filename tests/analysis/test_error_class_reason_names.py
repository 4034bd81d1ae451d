"""The reason line of a check names the check, not only its metric.

A rollout may check ``error-rate`` (all errors) and ``error-rate`` with ``errorClass:
rate-limit`` side by side. Their reasons are what the CLI, the widget and the report show in
the "reason" column; before, both started with ``error-rate`` and, with the same bound, read
exactly alike. Each now starts with its identity (``error-rate[rate-limit]``).
"""

from __future__ import annotations

import modelcanary as mc
from modelcanary.analysis._checks import threshold_check
from modelcanary.analysis._interval import analyse_interval
from modelcanary.analysis._llm_records import LLMExchange
from modelcanary.analysis._measurements import Counts, IntervalData, VersionData, Window
from modelcanary.spec import MetricSpec

llm = mc.sli.llm


_ANSWERED = {"status": 200, "error_class": None, "output_tokens": 20, "answer": "fine"}
_LIMITED = {"status": 429, "error_class": "rate-limit", "output_tokens": 0, "answer": ""}


def _side(side: str, rate_limited: int, total: int = 100) -> list[LLMExchange]:
    """``total`` streamed answers of one side, the first ``rate_limited`` refused with 429."""
    return [
        LLMExchange(
            **(_LIMITED if i < rate_limited else _ANSWERED),  # type: ignore[arg-type]
            timestamp=1000.0 + i * 0.1,
            side=side,  # type: ignore[arg-type]
            mirrored=False,
            request_id=f"{side}-{i}",
            stream=True,
            prompt_tokens=40,
            tokens_exact=True,
            latency_ms=300.0,
            ttft_ms=None if i < rate_limited else 50.0,
            tpot_ms=None if i < rate_limited else 10.0,
        )
        for i in range(total)
    ]


def _rollout(*checks: object) -> mc.Rollout:
    return (
        mc.Rollout("assistant")
        .champion(url="http://127.0.0.1:8001", protocol="openai")
        .challenger(url="http://127.0.0.1:8002", protocol="openai")
        .canary(steps=[10, 50], interval="30s")
        .slo(*checks)  # type: ignore[arg-type]
    )


def test_both_failing_checks_of_one_metric_give_two_reasons_each_naming_its_check() -> None:
    # the same 5 % bound on both: only the errorClass tells the two checks apart
    rollout = _rollout(llm.error_rate(error_class="rate-limit") < "5%", llm.error_rate() < "5%")
    analysis = rollout.build().spec.analysis
    data = IntervalData(
        Window(1000.0, 1060.0),
        VersionData("challenger", counts=Counts(100, 8)),
        VersionData("champion"),
        llm=tuple(_side("challenger", rate_limited=8)),
    )
    result = analyse_interval(analysis, data)
    reasons = {c.key: c.reason for c in result.checks}
    assert {c.key: c.verdict for c in result.checks} == {
        "error-rate[rate-limit]": "fail",
        "error-rate": "fail",
    }
    assert reasons["error-rate[rate-limit]"] == "error-rate[rate-limit] 0.08 outside max 0.05"
    assert reasons["error-rate"] == "error-rate 0.08 outside max 0.05"
    assert reasons["error-rate[rate-limit]"] in result.message  # the interval's first failure


def test_a_comparison_with_the_champion_names_the_error_class_too() -> None:
    metric = MetricSpec.model_validate(
        {
            "name": "error-rate",
            "errorClass": "rate-limit",
            "relativeTo": "champion",
            "thresholdRange": {"max": 1.5},
        }
    )
    data = IntervalData(
        Window(1000.0, 1060.0),
        VersionData("challenger"),
        VersionData("champion"),
        llm=(*_side("challenger", rate_limited=10), *_side("champion", rate_limited=2)),
    )
    check = threshold_check(metric, data, "fail")
    assert check.verdict == "fail" and check.key == "error-rate[rate-limit]@champion"
    assert check.reason.startswith(
        "error-rate[rate-limit] ratio 5 (challenger 0.1 vs champion 0.02)"
    )
