"""The LLM vocabulary of the spec: a version's protocol and prices, the mirroring spend cap,
error classes and answer evaluators (issue 17).

A version declares ``protocol: openai`` when it is an OpenAI-compatible chat/completions
server (vLLM, llama.cpp, TGI, SGLang, Ollama, a hosted API, ``modelcanary serve --llm-sim``);
without it a version speaks the MLflow scoring protocol, as before. ``pricing`` gives its
price per 1000 prompt and output tokens, which the cost SLI and the mirroring spend cap read.

The names here are the spec's (one home, the bottom layer): the analysis' exchange records
(:mod:`modelcanary.analysis._llm_records`) and deterministic judges
(:mod:`modelcanary.analysis._answer_judges`) use the same names, which a test checks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ._base import MAX_INT32, SpecModel

VersionProtocol = Literal["mlflow", "openai"]
"""How the router talks to a version: ``mlflow`` (the MLflow scoring protocol, the default
when a version says nothing) or ``openai`` (OpenAI-compatible chat/completions)."""

ErrorClassName = Literal[
    "rate-limit", "context-length", "timeout", "content-filter", "server", "client"
]
"""Why an LLM request failed (``error-rate``'s ``errorClass``; the router's ``LLMExchange``
class): 429 (``rate-limit``), prompt too long (``context-length``, a 400 naming the context
length), no answer in time or a stream cut off (``timeout``), refused by a content filter
(``content-filter``, OpenAI's ``finish_reason: content_filter`` or a 400 saying so), any other
5xx or transport failure (``server``), any other 4xx (``client``)."""
ERROR_CLASS_NAMES: tuple[str, ...] = ErrorClassName.__args__  # type: ignore[attr-defined]

AnswerJudgeName = Literal["exact", "normalised", "contains", "json", "regex", "refusal", "length"]
"""Deterministic answer judges a ``win-rate`` metric may name as its ``evaluator``."""
ANSWER_JUDGE_NAMES: tuple[str, ...] = AnswerJudgeName.__args__  # type: ignore[attr-defined]
EvaluatorName = Literal["reference", "pairwise", AnswerJudgeName]
EVALUATORS: tuple[str, ...] = ("reference", "pairwise", *ANSWER_JUDGE_NAMES)
"""Every ``win-rate`` evaluator: ``reference`` (each answer against the request's reference),
``pairwise`` (an LLM judge at ``evaluatorUrl``) or a deterministic judge."""
REFERENCE_EVALUATORS: frozenset[str] = frozenset(
    {"reference", "exact", "normalised", "contains", "length"}
)
"""Evaluators that judge each answer against its request's ``reference``: they can pair the
two versions' served answers by arrival, so they need no mirroring. The others (``pairwise``,
``json``, ``regex``, ``refusal``) compare both versions' answers to the same prompt."""
DEFAULT_MARGIN = 0.05
"""Default non-inferiority margin of ``win-rate``: the challenger may lose by at most this
much (win rate >= 0.5 - margin)."""


class Pricing(SpecModel):
    """A version's price per 1000 tokens, in any currency (the same one for both versions)."""

    input_per_1k: float = Field(ge=0, alias="inputPer1k")
    """Price of 1000 prompt (input) tokens, e.g. ``0.0005``."""
    output_per_1k: float = Field(ge=0, alias="outputPer1k")
    """Price of 1000 output (completion) tokens, e.g. ``0.0015``."""

    def cost(self, prompt_tokens: float, output_tokens: float) -> float:
        """Price of a request with these token counts."""
        return (prompt_tokens * self.input_per_1k + output_tokens * self.output_per_1k) / 1000.0


class MirrorBudget(SpecModel):
    """Spend cap on mirroring prompts to the challenger, for the whole rollout.

    Once any limit is reached, no more copies are sent (mirrored answers never reach
    clients anyway); served traffic is not affected.
    """

    max_prompts: int | None = Field(default=None, ge=1, le=MAX_INT32)
    """Most prompts mirrored to the challenger."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Most tokens (prompt + output) the challenger may spend on mirrored prompts."""
    max_cost: float | None = Field(default=None, gt=0)
    """Most the mirrored prompts may cost, at the challenger's ``pricing``."""

    @model_validator(mode="after")
    def _some_limit(self) -> MirrorBudget:
        if self.max_prompts is None and self.max_tokens is None and self.max_cost is None:
            raise ValueError(
                "give maxPrompts, maxTokens or maxCost, e.g. mirrorBudget: {maxPrompts: 500}"
            )
        return self
