"""The LLM fields of the spec (issue 17): a version's ``protocol``/``pricing``, the LLM SLIs and
their fields, ``mirrorBudget``; every bad combination is a SpecError naming the field and fix.

Table-driven on a valid LLM document (:func:`llm_doc`): each case mutates one thing and
expects one issue at an exact path, or a valid spec with the expected values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from spec_cases import set_path

from modelcanary.analysis._answer_judges import JUDGES
from modelcanary.analysis._llm_records import ERROR_CLASSES
from modelcanary.errors import SpecError
from modelcanary.spec import parse_rollout, parse_rollout_yaml, to_yaml
from modelcanary.spec._catalogue import (
    CATALOGUE,
    LATENCY_QUANTILES,
    LLM_METRICS,
    SEQUENTIAL_METRICS,
    TOKEN_LATENCY_QUANTILES,
)
from modelcanary.spec._crd import openapi_schema
from modelcanary.spec._llm import ANSWER_JUDGE_NAMES, ERROR_CLASS_NAMES

PRICE = {"inputPer1k": 0.5, "outputPer1k": 1.5}


def llm_doc(*metrics: dict[str, Any]) -> dict[str, Any]:
    """A valid LLM rollout: two OpenAI-compatible, priced versions, a shadow stage, metrics."""
    return {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "assistant"},
        "spec": {
            "champion": {"url": "http://127.0.0.1:8001", "protocol": "openai", "pricing": PRICE},
            "challenger": {"url": "http://127.0.0.1:8002", "protocol": "openai", "pricing": PRICE},
            "analysis": {
                "interval": "30s",
                "mirror": True,
                "shadow": {"iterations": 2},
                "stepWeights": [10, 50],
                "metrics": list(metrics) or [{"name": "ttft-p95", "thresholdRange": {"max": 800}}],
            },
        },
    }


def issues(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    with pytest.raises(SpecError) as err:
        parse_rollout(doc)
    return [(i.path, i.message, i.hint) for i in err.value.issues]


def only_issue(doc: dict[str, Any]) -> tuple[str, str, str]:
    found = issues(doc)
    assert len(found) == 1, found
    return found[0]


GOOD_METRICS: list[dict[str, Any]] = [
    {"name": "ttft-p50", "thresholdRange": {"max": "1.5s"}},
    {"name": "tpot-p99", "promptBuckets": [64, 256], "thresholdRange": {"max": "80ms"}},
    {"name": "tpot-p95", "relativeTo": "champion", "thresholdRange": {"max": "+10%"}},
    {"name": "output-tokens-per-second", "thresholdRange": {"min": 20}},
    {"name": "cost-per-1k-requests", "relativeTo": "champion", "thresholdRange": {"max": 1.0}},
    {"name": "refusal-rate", "thresholdRange": {"max": "5%"}},
    {"name": "json-valid-rate", "thresholdRange": {"min": "99%"}},
    {"name": "output-length-drift", "method": "ks", "thresholdRange": {"max": 0.2}},
    {"name": "error-rate", "errorClass": "rate-limit", "thresholdRange": {"max": "2%"}},
    {"name": "win-rate", "evaluator": "reference"},
    {"name": "win-rate", "evaluator": "json", "margin": 0.1, "judgeBudget": 300},
    {
        "name": "win-rate",
        "evaluator": "pairwise",
        "evaluatorUrl": "http://127.0.0.1:9000/v1",
        "evaluatorModel": "judge",
    },
    {
        "name": "win-rate",
        "evaluator": "exact",
        "judge": "threshold",
        "thresholdRange": {"min": 0.4},
    },
]


@pytest.mark.parametrize("metric", GOOD_METRICS, ids=lambda m: m["name"])
def test_valid_llm_metrics_parse_and_round_trip(metric: dict[str, Any]) -> None:
    rollout = parse_rollout(llm_doc(metric))
    assert parse_rollout_yaml(to_yaml(rollout)) == rollout
    assert rollout.spec.champion is not None and rollout.spec.champion.is_llm


def test_version_protocol_pricing_and_budget_read_as_written() -> None:
    doc = set_path(llm_doc(), "spec.analysis.mirrorBudget", {"maxPrompts": 500, "maxCost": 2.5})
    rollout = parse_rollout(doc)
    chal = rollout.spec.challenger
    assert chal is not None and chal.protocol == "openai" and chal.pricing is not None
    assert (chal.pricing.input_per_1k, chal.pricing.output_per_1k) == (0.5, 1.5)
    assert chal.pricing.cost(1000, 2000) == pytest.approx(0.5 + 3.0)
    budget = rollout.spec.analysis.mirror_budget
    assert budget is not None and (budget.max_prompts, budget.max_tokens, budget.max_cost) == (
        500,
        None,
        2.5,
    )
    dumped = rollout.to_dict()["spec"]
    assert dumped["challenger"]["pricing"] == PRICE
    assert dumped["analysis"]["mirrorBudget"] == {"maxPrompts": 500, "maxCost": 2.5}


def test_a_version_without_protocol_keeps_the_mlflow_default() -> None:
    doc = set_path(llm_doc(), "spec.champion", {"modelUri": "models:/m/1"})
    doc = set_path(doc, "spec.challenger", {"modelUri": "models:/m/2"})
    doc = set_path(
        doc, "spec.analysis.metrics", [{"name": "error-rate", "thresholdRange": {"max": 0.01}}]
    )
    rollout = parse_rollout(doc)
    assert rollout.spec.champion is not None and rollout.spec.champion.protocol is None
    assert not rollout.spec.champion.is_llm
    assert "protocol" not in to_yaml(rollout)  # existing specs dump exactly as before
    doc = set_path(doc, "spec.champion.protocol", "mlflow")
    assert parse_rollout(doc).spec.champion.protocol == "mlflow"  # type: ignore[union-attr]


def _metric(fields: dict[str, Any]) -> dict[str, Any]:
    return llm_doc(fields)


M0 = "spec.analysis.metrics[0]"

BAD: list[tuple[str, dict[str, Any], str, str, str]] = [
    # (id, document, path, words in the message, words in the fix)
    (
        "llm sli on an mlflow champion",
        set_path(
            set_path(llm_doc(), "spec.champion", {"url": "http://127.0.0.1:8001"}),
            "spec.analysis.metrics",
            [{"name": "ttft-p99", "thresholdRange": {"max": 900}}],
        ),
        f"{M0}.name",
        "ttft-p99 is an LLM SLI but spec.champion is not OpenAI-compatible",
        "add protocol: openai to spec.champion",
    ),
    (
        "error class on mlflow versions",
        set_path(
            set_path(
                set_path(llm_doc(), "spec.champion", {"url": "http://127.0.0.1:8001"}),
                "spec.challenger",
                {"url": "http://127.0.0.1:8002"},
            ),
            "spec.analysis.metrics",
            [{"name": "error-rate", "errorClass": "timeout", "thresholdRange": {"max": 0.1}}],
        ),
        f"{M0}.name",
        "spec.champion and spec.challenger are not OpenAI-compatible",
        "add protocol: openai to spec.champion and spec.challenger",
    ),
    (
        "cost without challenger pricing",
        set_path(
            set_path(llm_doc(), "spec.challenger.pricing", ...),
            "spec.analysis.metrics",
            [{"name": "cost-per-1k-requests", "thresholdRange": {"max": 2}}],
        ),
        "spec.challenger.pricing",
        "is required by spec.analysis.metrics[0] (cost-per-1k-requests)",
        "add pricing: {inputPer1k",
    ),
    (
        "pricing on an mlflow version",
        set_path(
            set_path(llm_doc(), "spec.champion.protocol", ...),
            "spec.analysis.metrics",
            [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
        ),
        "spec.champion.pricing",
        "only applies to an OpenAI-compatible version",
        "add protocol: openai",
    ),
    (
        "openai on a modelUri",
        set_path(
            set_path(llm_doc(), "spec.champion.url", ...), "spec.champion.modelUri", "models:/m/1"
        ),
        "spec.champion.protocol",
        "openai cannot be used with a modelUri",
        "give url: of an OpenAI-compatible server",
    ),
    (
        "win-rate without evaluator",
        _metric({"name": "win-rate"}),
        f"{M0}.evaluator",
        "is required by win-rate",
        "add evaluator: reference",
    ),
    (
        "pairwise without url",
        _metric({"name": "win-rate", "evaluator": "pairwise"}),
        f"{M0}.evaluatorUrl",
        "is required by evaluator: pairwise",
        "add evaluatorUrl: http://HOST:PORT/v1",
    ),
    (
        "evaluator model without pairwise",
        _metric({"name": "win-rate", "evaluator": "reference", "evaluatorModel": "judge"}),
        f"{M0}.evaluatorModel",
        "only applies to evaluator: pairwise",
        "set evaluator: pairwise",
    ),
    (
        "pairwise without mirroring",
        set_path(
            set_path(set_path(llm_doc(), "spec.analysis.mirror", ...), "spec.analysis.shadow", ...),
            "spec.analysis.metrics",
            [{"name": "win-rate", "evaluator": "pairwise", "evaluatorUrl": "http://j:9/v1"}],
        ),
        f"{M0}.evaluator",
        "pairwise compares both versions' answers to the same prompts",
        "or use a reference evaluator",
    ),
    (
        "margin on another sli",
        _metric({"name": "refusal-rate", "margin": 0.1, "thresholdRange": {"max": 0.1}}),
        f"{M0}.margin",
        "only applies to win-rate",
        "remove it",
    ),
    (
        "error class on another sli",
        _metric({"name": "refusal-rate", "errorClass": "timeout", "thresholdRange": {"max": 0.1}}),
        f"{M0}.errorClass",
        "only applies to error-rate",
        "remove it",
    ),
    (
        "prompt buckets on cost",
        _metric(
            {"name": "cost-per-1k-requests", "promptBuckets": [10], "thresholdRange": {"max": 1}}
        ),
        f"{M0}.promptBuckets",
        "only applies to ttft-* and tpot-*",
        "remove it",
    ),
    (
        "prompt buckets not increasing",
        _metric({"name": "ttft-p50", "promptBuckets": [512, 128], "thresholdRange": {"max": 1}}),
        f"{M0}.promptBuckets",
        "does not increase",
        "increasing order",
    ),
    (
        "mann-whitney on win-rate",
        _metric(
            {
                "name": "win-rate",
                "evaluator": "reference",
                "judge": "mann-whitney",
                "thresholdRange": {"min": 0.4},
            }
        ),
        f"{M0}.judge",
        "mann-whitney cannot decide win-rate",
        "use sequential or threshold",
    ),
    (
        "mann-whitney on ttft in the local runtime",
        _metric({"name": "ttft-p95", "judge": "mann-whitney", "thresholdRange": {"max": 1}}),
        f"{M0}.judge",
        "mann-whitney needs a time series of ttft-p95",
        "use judge: threshold",
    ),
    (
        "sequential on ttft",
        _metric({"name": "ttft-p95", "judge": "sequential", "thresholdRange": {"max": 1}}),
        f"{M0}.judge",
        "the sequential judge needs per-request data",
        "use it with error-rate",
    ),
    (
        "sequential with error class",
        _metric(
            {
                "name": "error-rate",
                "errorClass": "rate-limit",
                "judge": "sequential",
                "thresholdRange": {"max": 0.1},
            }
        ),
        f"{M0}.judge",
        "cannot decide an error-rate by errorClass",
        "use judge: threshold",
    ),
    (
        "budget without mirroring",
        set_path(
            set_path(set_path(llm_doc(), "spec.analysis.mirror", ...), "spec.analysis.shadow", ...),
            "spec.analysis.mirrorBudget",
            {"maxPrompts": 10},
        ),
        "spec.analysis.mirrorBudget",
        "is set but no stage mirrors traffic",
        "or remove mirrorBudget",
    ),
    (
        "budget max cost without challenger pricing",
        set_path(
            set_path(llm_doc(), "spec.challenger.pricing", ...),
            "spec.analysis.mirrorBudget",
            {"maxCost": 3},
        ),
        "spec.analysis.mirrorBudget.maxCost",
        "needs the challenger's prices",
        "add pricing: {inputPer1k",
    ),
    (
        "drift relative to the champion",
        _metric(
            {"name": "output-length-drift", "relativeTo": "champion", "thresholdRange": {"max": 1}}
        ),
        f"{M0}.relativeTo",
        "output-length-drift already compares the challenger with the champion",
        "remove relativeTo",
    ),
    (
        "method on refusal-rate",
        _metric({"name": "refusal-rate", "method": "ks", "thresholdRange": {"max": 0.1}}),
        f"{M0}.method",
        "only applies to prediction-drift and output-length-drift",
        "remove method",
    ),
]


@pytest.mark.parametrize(
    ("doc", "path", "message", "fix"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_llm_combinations_name_the_field_and_the_fix(
    doc: dict[str, Any], path: str, message: str, fix: str
) -> None:
    got_path, got_message, got_fix = only_issue(doc)
    assert got_path == path
    assert message in got_message
    assert fix in got_fix


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (
            "spec.champion.pricing",
            {"inputPer1k": -1, "outputPer1k": 1},
            "spec.champion.pricing.inputPer1k",
        ),
        ("spec.champion.pricing", {"inputPer1k": 1}, "spec.champion.pricing.outputPer1k"),
        ("spec.champion.protocol", "grpc", "spec.champion.protocol"),
        ("spec.analysis.mirrorBudget", {}, "spec.analysis.mirrorBudget"),
        ("spec.analysis.mirrorBudget", {"maxPrompts": 0}, "spec.analysis.mirrorBudget.maxPrompts"),
        ("spec.analysis.metrics", [{"name": "win-rate", "evaluator": "vibes"}], f"{M0}.evaluator"),
        (
            "spec.analysis.metrics",
            [{"name": "win-rate", "evaluator": "reference", "margin": 0.5}],
            f"{M0}.margin",
        ),
        (
            "spec.analysis.metrics",
            [{"name": "error-rate", "errorClass": "oops", "thresholdRange": {"max": 1}}],
            f"{M0}.errorClass",
        ),
        (
            "spec.analysis.metrics",
            [{"name": "win-rate", "evaluator": "pairwise", "evaluatorUrl": "ftp://x"}],
            f"{M0}.evaluatorUrl",
        ),
    ],
)
def test_bad_llm_values_are_refused_at_their_field(path: str, value: Any, where: str) -> None:
    found = issues(set_path(llm_doc(), path, value))
    assert where in [p for p, _, _ in found], found
    assert all(message for _, message, _ in found)


def test_two_error_rates_of_one_class_say_why_they_collide() -> None:
    """An errorClass error rate and the all-errors one are two checks (metric keys
    ``error-rate[timeout]`` and ``error-rate``); the same class twice collides."""
    doc = llm_doc(
        {"name": "error-rate", "errorClass": "timeout", "thresholdRange": {"max": 0.05}},
        {"name": "error-rate", "errorClass": "timeout", "thresholdRange": {"max": 0.01}},
    )
    path, message, fix = only_issue(doc)
    assert (path, message) == (
        "spec.analysis.metrics[1].name",
        "'error-rate[timeout]' is already used by metrics[0]",
    )
    assert "errorClass once per comparison" in fix


def test_mann_whitney_on_an_llm_sli_is_left_to_a_provider_with_series() -> None:
    doc = _metric({"name": "ttft-p95", "judge": "mann-whitney", "thresholdRange": {"max": 1}})
    doc = set_path(doc, "spec.router", {"provider": "istio"})
    doc = set_path(doc, "spec.service", {"hosts": ["assistant.example.com"]})
    assert parse_rollout(doc).spec.analysis.metrics[0].judge == "mann-whitney"


def test_catalogue_rows_of_the_llm_slis() -> None:
    expected = {
        "ttft-p50",
        "ttft-p95",
        "ttft-p99",
        "tpot-p50",
        "tpot-p95",
        "tpot-p99",
        "output-tokens-per-second",
        "cost-per-1k-requests",
        "refusal-rate",
        "json-valid-rate",
        "output-length-drift",
        "win-rate",
    }
    assert expected == LLM_METRICS
    assert (
        TOKEN_LATENCY_QUANTILES["ttft-p95"] == 0.95 and TOKEN_LATENCY_QUANTILES["tpot-p50"] == 0.5
    )
    # the request-latency judges never see the LLM SLIs (they read other data)
    assert not (LLM_METRICS & (set(LATENCY_QUANTILES) | SEQUENTIAL_METRICS))
    assert (
        CATALOGUE["win-rate"].direction == "higher" and "sequential" in CATALOGUE["win-rate"].judges
    )
    assert CATALOGUE["refusal-rate"].unit == "fraction" and CATALOGUE["ttft-p99"].unit == "ms"


def test_spec_names_match_the_analysis_vocabulary() -> None:
    """The spec (bottom layer) is the home of the names; the analysis uses the same ones."""
    assert ERROR_CLASS_NAMES == ERROR_CLASSES
    assert ANSWER_JUDGE_NAMES == JUDGES


def test_the_crd_carries_the_llm_fields() -> None:
    props = openapi_schema()["properties"]["spec"]["properties"]
    version = props["champion"]["properties"]
    assert version["protocol"]["enum"] == ["mlflow", "openai"]
    assert set(version["pricing"]["properties"]) == {"inputPer1k", "outputPer1k"}
    assert version["pricing"]["properties"]["inputPer1k"]["minimum"] == 0
    analysis = props["analysis"]["properties"]
    assert set(analysis["mirrorBudget"]["properties"]) == {"maxPrompts", "maxTokens", "maxCost"}
    metric = analysis["metrics"]["items"]["properties"]
    for field in ("errorClass", "promptBuckets", "evaluator", "evaluatorUrl", "evaluatorModel",
                  "margin", "judgeBudget"):  # fmt: skip
        assert field in metric, field
    assert metric["errorClass"]["enum"] == list(ERROR_CLASSES)


def test_the_docs_list_every_llm_sli() -> None:
    """docs/spec.md's SLI table and docs/llm.md's name every LLM SLI (written by hand)."""
    docs = Path(__file__).parents[1] / "docs"
    spec_table = docs.joinpath("spec.md").read_text().split("## SLIs and units", 1)[1]
    llm_table = docs.joinpath("llm.md").read_text().split("## SLIs", 1)[1]
    for name in LLM_METRICS:
        family = name.rsplit("-p", 1)[0] if name in TOKEN_LATENCY_QUANTILES else name
        assert f"`{name}`" in spec_table or f"`{family}-p50" in spec_table, name
        assert f"`{family}" in llm_table, name
