"""Two ``error-rate`` checks on one rollout: the rate of one ``errorClass`` (rate-limit <= 5 %)
and the rate of all errors (<= 1 %). Each is its own check: its own metric key
(``error-rate[rate-limit]`` next to ``error-rate``), kept by the spec rules, the builder and a
YAML round trip, judged on its own bound, and one row each in the history.

Before, the spec refused the second as "'error-rate' is already used", and the builder's
``slo()`` replaced one with the other.
"""

from __future__ import annotations

from typing import Any

import modelcanary as mc
from modelcanary.analysis import metric_key
from modelcanary.analysis._interval import analyse_interval
from modelcanary.analysis._llm_records import LLMExchange
from modelcanary.analysis._measurements import Counts, IntervalData, VersionData, Window
from modelcanary.errors import SpecError
from modelcanary.notebook._history import history_rows
from modelcanary.spec import AnalysisRecord, Phase, parse_rollout, parse_rollout_yaml, to_yaml

llm = mc.sli.llm
RATE_LIMIT, ALL = "error-rate[rate-limit]", "error-rate"


def _rollout() -> mc.Rollout:
    return (
        mc.Rollout("assistant")
        .champion(url="http://127.0.0.1:8001", protocol="openai")
        .challenger(url="http://127.0.0.1:8002", protocol="openai")
        .canary(steps=[10, 50], interval="30s")
        .slo(llm.error_rate(error_class="rate-limit") < "5%", llm.error_rate() < "1%")
    )


def _bounds(rollout: Any) -> dict[str, float | None]:
    return {metric_key(m): m.effective_range().max for m in rollout.spec.analysis.metrics}


def test_both_checks_are_kept_by_the_rules_and_a_yaml_round_trip() -> None:
    built = _rollout().build()  # the spec rules accept the pair
    assert _bounds(built) == {RATE_LIMIT: 0.05, ALL: 0.01}
    again = parse_rollout_yaml(to_yaml(built))
    assert again == built and _bounds(again) == {RATE_LIMIT: 0.05, ALL: 0.01}
    assert "errorClass: rate-limit" in to_yaml(built)


def test_the_same_error_class_twice_is_still_refused_naming_it() -> None:
    doc = _rollout().build().model_dump(mode="json", by_alias=True, exclude_none=True)
    metrics = doc["spec"]["analysis"]["metrics"]
    metrics.append({**metrics[0], "thresholdRange": {"max": 0.1}})
    try:
        parse_rollout(doc)
    except SpecError as err:
        (issue,) = err.issues
        assert issue.path == "spec.analysis.metrics[2].name"
        assert issue.message == "'error-rate[rate-limit]' is already used by metrics[0]"
        assert "errorClass" in issue.hint
    else:
        raise AssertionError("the same errorClass twice was accepted")


def test_the_builder_replaces_only_the_check_with_the_same_key() -> None:
    tuned = _rollout().slo(llm.error_rate() < "2%").build()  # all errors: 1 % -> 2 %
    assert _bounds(tuned) == {RATE_LIMIT: 0.05, ALL: 0.02}
    retuned = _rollout().slo(llm.error_rate(error_class="rate-limit") < "3%").build()
    assert _bounds(retuned) == {RATE_LIMIT: 0.03, ALL: 0.01}
    assert _bounds(_rollout().without_slo(RATE_LIMIT).build()) == {ALL: 0.01}
    without = _rollout().slo(mc.sli.latency(p=99) < "250ms").without_slo("error-rate")
    assert list(_bounds(without.build())) == ["latency-p99"]  # every check on error-rate


def _exchange(i: int, error: str | None) -> LLMExchange:
    return LLMExchange(
        timestamp=1000.0 + i * 0.1,
        side="challenger",
        mirrored=False,
        request_id=f"r{i}",
        status=429 if error == "rate-limit" else 500 if error else 200,
        error_class=error,  # type: ignore[arg-type]
        stream=True,
        prompt_tokens=40,
        output_tokens=0 if error else 20,
        tokens_exact=True,
        latency_ms=300.0,
        ttft_ms=None if error else 50.0,
        tpot_ms=None if error else 10.0,
        answer="" if error else "fine",
    )


def _interval(rate_limited: int, server_errors: int, total: int = 400) -> IntervalData:
    errors = ["rate-limit"] * rate_limited + ["server"] * server_errors
    exchanges = [_exchange(i, errors[i] if i < len(errors) else None) for i in range(total)]
    challenger = VersionData("challenger", counts=Counts(total, len(errors)))
    return IntervalData(
        Window(1000.0, 1060.0), challenger, VersionData("champion"), llm=tuple(exchanges)
    )


def test_each_check_is_judged_on_its_own_bound_and_shown_on_its_own_row() -> None:
    rollout = _rollout().build()
    analysis = rollout.spec.analysis
    # 3 % rate-limited: within the rate-limit bound (5 %), over the all-errors bound (1 %)
    result = analyse_interval(analysis, _interval(rate_limited=12, server_errors=0))
    by_key = {c.key: c for c in result.checks}
    assert set(by_key) == {RATE_LIMIT, ALL}
    assert by_key[RATE_LIMIT].verdict == "pass" and by_key[RATE_LIMIT].value == 0.03
    assert by_key[ALL].verdict == "fail" and by_key[ALL].value == 0.03
    # server errors only: the rate-limit rate is 0, all errors 2 %
    other = analyse_interval(analysis, _interval(rate_limited=0, server_errors=8))
    values = {c.key: (c.verdict, c.value) for c in other.checks}
    assert values == {RATE_LIMIT: ("pass", 0.0), ALL: ("fail", 0.02)}

    records = [
        AnalysisRecord(
            time=f"2026-01-01T00:0{i}:00Z",
            phase=Phase.PROGRESSING,
            canary_weight=10,
            verdict="fail",
            checks=[c.to_record() for c in r.checks],
        )
        for i, r in enumerate((result, other))
    ]
    rows = history_rows(records, rollout)
    shown = [(r["metric"], r["value"], r["max"], r["unit"], r["verdict"]) for r in rows]
    assert sorted(shown) == sorted(
        [
            (RATE_LIMIT, 0.03, 0.05, "fraction", "pass"),
            (ALL, 0.03, 0.01, "fraction", "fail"),
            (RATE_LIMIT, 0.0, 0.05, "fraction", "pass"),
            (ALL, 0.02, 0.01, "fraction", "fail"),
        ]
    )
