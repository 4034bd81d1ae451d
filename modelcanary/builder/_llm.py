"""LLM SLIs of the builder: ``mc.sli.llm.ttft(p=95) < "800ms"``, ``mc.sli.llm.win_rate(...)``.

Each function returns an ordinary immutable :class:`~modelcanary.builder.SLI` (comparisons,
``relative_to_champion()``, ``judge()``, ``critical()`` work as for every SLI); the optional
keyword bounds (``max_ms=``, ``max=``, ``min=``) are shortcuts for ``<=``/``>=``. These SLIs
need both versions to declare ``protocol="openai"``; ``build()`` says so otherwise.
What each one measures: ``docs/llm.md`` and :mod:`modelcanary.analysis._llm_sli`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelcanary.spec._catalogue import TOKEN_LATENCY_QUANTILES

from ._sli import SLI, _builtin
from ._units import Number
from ._util import fail

TOKEN_PERCENTILES: tuple[int, ...] = tuple(
    sorted({round(q * 100) for name, q in TOKEN_LATENCY_QUANTILES.items() if "ttft" in name})
)
"""Percentiles :func:`ttft` and :func:`tpot` offer (the catalogue's ``ttft-pNN`` SLIs)."""


def _bounded(sli: SLI, low: Number | None, high: Number | None) -> SLI:
    if low is not None:
        sli = sli >= low
    if high is not None:
        sli = sli <= high
    return sli


def _token_latency(kind: str, p: int, max_ms: Number | None, buckets: Any) -> SLI:
    if isinstance(p, bool) or p not in TOKEN_PERCENTILES:
        fail(
            f"{kind}.p",
            f"percentile {p!r} is not supported",
            f"use one of {', '.join(map(str, TOKEN_PERCENTILES))}",
        )
    edges = None if buckets is None else _edges(buckets, kind)
    return _bounded(_builtin(f"{kind}-p{int(p)}", promptBuckets=edges), None, max_ms)


def _edges(buckets: Any, kind: str) -> list[Any]:
    if isinstance(buckets, str | bytes) or not isinstance(buckets, Sequence):
        fail(
            f"{kind}.promptBuckets",
            f"expected a list of token counts, got {type(buckets).__name__}",
            "e.g. buckets=[128, 512, 2048]",
        )
    return list(buckets)


def ttft(p: int = 99, max_ms: Number | None = None, *, buckets: Sequence[int] | None = None) -> SLI:
    """Time to first token, percentile ``p`` (50, 95 or 99) in ms, stratified by prompt length
    (``buckets``: edges in tokens, default [128, 512, 2048])."""
    return _token_latency("ttft", p, max_ms, buckets)


def tpot(p: int = 99, max_ms: Number | None = None, *, buckets: Sequence[int] | None = None) -> SLI:
    """Time per output token after the first, percentile ``p`` in ms, stratified likewise."""
    return _token_latency("tpot", p, max_ms, buckets)


def output_tokens_per_second(min: Number | None = None) -> SLI:
    """Median output tokens per second of streamed answers, after their first token."""
    return _bounded(_builtin("output-tokens-per-second"), min, None)


def cost_per_1k_requests(max: Number | None = None) -> SLI:
    """Cost of 1000 requests at the version's ``pricing`` (needs pricing on both versions)."""
    return _bounded(_builtin("cost-per-1k-requests"), None, max)


def refusal_rate(max: Number | None = None) -> SLI:
    """Fraction of answers that are refusals, 0-1 (``"5%"`` = 0.05)."""
    return _bounded(_builtin("refusal-rate"), None, max)


def json_valid_rate(min: Number | None = None) -> SLI:
    """Fraction of answers that parse as JSON, 0-1 (structured outputs)."""
    return _bounded(_builtin("json-valid-rate"), min, None)


def output_length_drift(method: str = "psi", max: Number | None = None) -> SLI:
    """Distance between the two versions' output-length distributions: psi, ks, js or
    wasserstein."""
    return _bounded(_builtin("output-length-drift", method=method), None, max)


def error_rate(error_class: str | None = None, max: Number | None = None) -> SLI:
    """Fraction of failed LLM requests, 0-1; ``error_class`` counts one class only:
    rate-limit, context-length, timeout, content-filter, server or client."""
    return _bounded(_builtin("error-rate", errorClass=error_class), None, max)


def win_rate(
    evaluator: str = "reference",
    *,
    margin: float | None = None,
    url: str | None = None,
    model: str | None = None,
    budget: int | None = None,
    min: Number | None = None,
) -> SLI:
    """Challenger's wins plus half its ties over judged answer pairs, 0-1.

    ``evaluator``: ``reference`` (each answer against its request's reference), ``pairwise``
    (an LLM judge at ``url``, asked with ``model``) or a deterministic judge (exact,
    normalised, contains, json, regex, refusal, length). Judged by a sequential
    non-inferiority test: the challenger fails once it is shown to win less than
    ``0.5 - margin`` (default margin 0.05); ``budget`` caps the pairs judged. ``min=`` adds a
    per-interval bound instead (use it with ``.judge("threshold")``).
    """
    sli = _builtin(
        "win-rate",
        evaluator=evaluator,
        evaluatorUrl=url,
        evaluatorModel=model,
        margin=margin,
        judgeBudget=budget,
    )
    return _bounded(sli, min, None)


__all__ = [
    "TOKEN_PERCENTILES",
    "cost_per_1k_requests",
    "error_rate",
    "json_valid_rate",
    "output_length_drift",
    "output_tokens_per_second",
    "refusal_rate",
    "tpot",
    "ttft",
    "win_rate",
]
