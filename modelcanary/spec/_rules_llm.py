"""Cross-field rules of LLM rollouts (``protocol: openai``), each with its field path and fix.

- ``pricing`` applies to OpenAI-compatible versions only, and ``protocol: openai`` needs a
  version the router can talk OpenAI to (a ``url`` or an ``image``, not an MLflow modelUri).
- LLM SLIs (ttft-*, tpot-*, output-tokens-per-second, cost-per-1k-requests, refusal-rate,
  json-valid-rate, output-length-drift, win-rate, and error-rate by ``errorClass``) are
  computed from LLM exchanges: both versions must declare ``protocol: openai``.
- ``cost-per-1k-requests`` needs ``pricing`` on both versions.
- The LLM-only metric fields apply to their SLI only (``errorClass``: error-rate;
  ``promptBuckets``: ttft-*/tpot-*; ``evaluator``, ``evaluatorUrl``, ``evaluatorModel``,
  ``margin``, ``judgeBudget``: win-rate).
- ``win-rate`` needs an ``evaluator``; ``pairwise`` needs ``evaluatorUrl``; evaluators that do
  not judge against a reference (pairwise, json, regex, refusal) compare the two versions'
  answers to the same prompt, so they need mirroring.
- ``mirrorBudget`` needs mirroring and an OpenAI-compatible challenger; ``maxCost`` its pricing.
- With the local router, ``mann-whitney`` cannot judge an LLM SLI (no time series of it).

With ``targetRef`` (operator) there are no version fields to check: the metric provider
(Prometheus with vLLM's metric names, OpenTelemetry) supplies the values.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from ..errors import SpecIssue
from ._catalogue import CATALOGUE, LLM_METRICS, TOKEN_LATENCY_QUANTILES
from ._llm import REFERENCE_EVALUATORS
from ._metric_spec import MetricSpec

if TYPE_CHECKING:
    from ._analysis import Analysis
    from ._rollout import ModelRollout
    from ._versions import ModelVersion

_SIDES = ("champion", "challenger")
_PRICING_EXAMPLE = "pricing: {inputPer1k: 0.0005, outputPer1k: 0.0015}"
_WIN_RATE_FIELDS = (
    ("evaluator", "evaluator"),
    ("evaluator_url", "evaluatorUrl"),
    ("evaluator_model", "evaluatorModel"),
    ("margin", "margin"),
    ("judge_budget", "judgeBudget"),
)


def check_llm(rollout: ModelRollout) -> list[SpecIssue]:
    """Every problem of the rules above."""
    spec = rollout.spec
    versions = {s: v for s in _SIDES if (v := getattr(spec, s)) is not None}
    out: list[SpecIssue] = []
    for side, version in versions.items():
        out += _version(version, f"spec.{side}")
    local = spec.router.provider == "local"
    for i, metric in enumerate(spec.analysis.metrics):
        path = f"spec.analysis.metrics[{i}]"
        out += _metric(metric, path, versions, spec.analysis)
        mann_whitney = metric.judge == "mann-whitney" and metric.name in LLM_METRICS
        if local and mann_whitney and metric.judge in CATALOGUE[metric.name].judges:
            out.append(
                SpecIssue(
                    f"{path}.judge",
                    f"mann-whitney needs a time series of {metric.name}, which the local "
                    "runtime does not record (it computes one value per interval)",
                    "use judge: threshold (the default), or a metrics provider with series",
                )
            )
    out += _budget(spec.analysis, versions)
    return out


def mirrors(analysis: Analysis) -> bool:
    """True when some stage sends copies of requests to the challenger."""
    steps = analysis.steps or []
    return analysis.mirror or analysis.shadow is not None or any(s.mirror_weight for s in steps)


def _version(version: ModelVersion, path: str) -> list[SpecIssue]:
    out: list[SpecIssue] = []
    if version.pricing is not None and not version.is_llm:
        out.append(
            SpecIssue(
                f"{path}.pricing",
                "only applies to an OpenAI-compatible version",
                "add protocol: openai, or remove pricing",
            )
        )
    if version.is_llm and version.model_uri is not None:
        out.append(
            SpecIssue(
                f"{path}.protocol",
                "openai cannot be used with a modelUri (MLflow serves it with its scoring "
                "protocol)",
                "give url: of an OpenAI-compatible server (e.g. modelcanary serve --llm-sim), "
                "or remove protocol",
            )
        )
    return out


def _metric(
    m: MetricSpec, path: str, versions: dict[str, ModelVersion], analysis: Analysis
) -> list[SpecIssue]:
    if m.query is not None or m.template_ref is not None:
        return []  # a custom query: the fields below are refused by the generic rules
    out: list[SpecIssue] = []
    llm = m.name in LLM_METRICS or (m.name == "error-rate" and m.error_class is not None)
    if llm:
        out += _needs_openai(m, path, versions)
    if m.name == "cost-per-1k-requests":
        for side, version in versions.items():
            if version.pricing is None:
                out.append(
                    SpecIssue(
                        f"spec.{side}.pricing",
                        f"is required by {path} (cost-per-1k-requests)",
                        f"add {_PRICING_EXAMPLE} to spec.{side}",
                    )
                )
    out += _only_on(m, path)
    if m.name in LLM_METRICS and m.judge not in (None, "sequential"):  # sequential: _rules_metrics
        row = CATALOGUE[m.name]
        if m.judge not in row.judges:
            out.append(
                SpecIssue(
                    f"{path}.judge",
                    f"{m.judge} cannot decide {m.name}",
                    f"use {' or '.join(sorted(row.judges))}",
                )
            )
    if m.error_class is not None and m.judge not in (None, "threshold"):
        out.append(
            SpecIssue(
                f"{path}.judge",
                f"{m.judge} cannot decide an error-rate by errorClass (it tests every error)",
                "use judge: threshold, or remove errorClass",
            )
        )
    if m.name == "win-rate":
        out += _win_rate(m, path, analysis)
    if m.prompt_buckets is not None:
        edges = m.prompt_buckets
        if any(b <= a for a, b in pairwise(edges)):
            out.append(
                SpecIssue(
                    f"{path}.promptBuckets",
                    f"{edges} does not increase",
                    "list bucket edges in tokens in increasing order, e.g. [128, 512, 2048]",
                )
            )
    return out


def _needs_openai(m: MetricSpec, path: str, versions: dict[str, ModelVersion]) -> list[SpecIssue]:
    missing = [side for side, v in versions.items() if not v.is_llm]
    if not missing:
        return []
    where = " and ".join(f"spec.{s}" for s in missing)
    return [
        SpecIssue(
            f"{path}.name",
            f"{m.name} is an LLM SLI but {where} {'is' if len(missing) == 1 else 'are'} not "
            "OpenAI-compatible",
            f"add protocol: openai to {where} (an OpenAI-compatible url), or use another SLI",
        )
    ]


def _only_on(m: MetricSpec, path: str) -> list[SpecIssue]:
    """The LLM-only fields given on a metric they do not apply to."""
    out: list[SpecIssue] = []
    if m.error_class is not None and m.name != "error-rate":
        out.append(SpecIssue(f"{path}.errorClass", "only applies to error-rate", "remove it"))
    if m.prompt_buckets is not None and m.name not in TOKEN_LATENCY_QUANTILES:
        out.append(
            SpecIssue(
                f"{path}.promptBuckets",
                "only applies to ttft-* and tpot-* (stratified token latencies)",
                "remove it",
            )
        )
    if m.name != "win-rate":
        for attr, field in _WIN_RATE_FIELDS:
            if getattr(m, attr) is not None:
                out.append(SpecIssue(f"{path}.{field}", "only applies to win-rate", "remove it"))
    return out


def _win_rate(m: MetricSpec, path: str, analysis: Analysis) -> list[SpecIssue]:
    out: list[SpecIssue] = []
    if m.evaluator is None:
        out.append(
            SpecIssue(
                f"{path}.evaluator",
                "is required by win-rate",
                "add evaluator: reference (answers against each request's reference), "
                "pairwise (with evaluatorUrl: an OpenAI-compatible judge) or a deterministic "
                "judge (exact, normalised, contains, json, regex, refusal, length)",
            )
        )
    if m.evaluator == "pairwise" and m.evaluator_url is None:
        out.append(
            SpecIssue(
                f"{path}.evaluatorUrl",
                "is required by evaluator: pairwise (the LLM judge to ask)",
                "add evaluatorUrl: http://HOST:PORT/v1 (any OpenAI-compatible endpoint)",
            )
        )
    if m.evaluator != "pairwise":
        for attr, field in _WIN_RATE_FIELDS[1:3]:
            if getattr(m, attr) is not None:
                out.append(
                    SpecIssue(
                        f"{path}.{field}",
                        "only applies to evaluator: pairwise",
                        "set evaluator: pairwise, or remove it",
                    )
                )
    by_prompt = m.evaluator is not None and m.evaluator not in REFERENCE_EVALUATORS
    if by_prompt and not mirrors(analysis):
        out.append(
            SpecIssue(
                f"{path}.evaluator",
                f"{m.evaluator} compares both versions' answers to the same prompts, which "
                "needs mirrored traffic, and no stage mirrors",
                "add a shadow stage (mirror: true with shadow, or a step with "
                "mirrorWeight), or use a reference evaluator (reference, exact, "
                "normalised, contains, length)",
            )
        )
    return out


def _budget(analysis: Analysis, versions: dict[str, ModelVersion]) -> list[SpecIssue]:
    budget = analysis.mirror_budget
    if budget is None:
        return []
    path = "spec.analysis.mirrorBudget"
    out: list[SpecIssue] = []
    if not mirrors(analysis):
        out.append(
            SpecIssue(
                path,
                "is set but no stage mirrors traffic",
                "add a shadow stage (mirror: true with shadow, or a step with mirrorWeight), "
                "or remove mirrorBudget",
            )
        )
    challenger = versions.get("challenger")
    if challenger is not None and not challenger.is_llm:
        out.append(
            SpecIssue(
                path,
                "caps the spend of mirrored prompts, but spec.challenger is not OpenAI-compatible",
                "add protocol: openai to spec.challenger, or remove mirrorBudget",
            )
        )
    elif challenger is not None and budget.max_cost is not None and challenger.pricing is None:
        out.append(
            SpecIssue(
                f"{path}.maxCost",
                "needs the challenger's prices",
                f"add {_PRICING_EXAMPLE} to spec.challenger, or use maxPrompts/maxTokens",
            )
        )
    return out
