"""The SLI catalogue: every fact about a built-in SLI, in one table.

One row per built-in SLI: its name, what it measures, the unit its thresholds are written in
(see :mod:`modelcanary.spec._units`), which direction is better, which judges may decide it,
and how each family of metric sources computes it. Every other module (the spec rules, the
builder, the analysis, the providers, the Flagger converter, the notebook) reads these facts
from here and never lists built-in SLI names of its own; ``tests/test_catalogue.py`` scans the
package for a second list.

Pure data, no I/O, no imports beyond the standard library and :mod:`.units`: this module sits
at the bottom of the stack so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from ._units import Unit

Direction = Literal["lower", "higher"]
"""Which way is better: ``lower`` (errors, latency, drift) or ``higher`` (success, agreement)."""
JudgeName = Literal["threshold", "mann-whitney", "sequential"]
Source = Literal["requests", "latency", "predictions", "pairs", "llm"]
"""What an SLI is computed from: request counts, latency samples or histogram buckets,
prediction distributions of each version, predictions paired by request id, or the LLM
exchanges of OpenAI-compatible versions (``IntervalData.llm``; ``protocol: openai``)."""

ALL_JUDGES: frozenset[JudgeName] = frozenset({"threshold", "mann-whitney", "sequential"})
_NOT_SEQUENTIAL: frozenset[JudgeName] = frozenset({"threshold", "mann-whitney"})
_WIN_RATE_JUDGES: frozenset[JudgeName] = frozenset({"threshold", "sequential"})
"""win-rate: its sequential judge is the betting non-inferiority test on judged answer pairs
(:mod:`modelcanary.analysis._winrate`), not the per-request tests of the other SLIs."""


@dataclass(frozen=True)
class SLIFacts:
    """What modelcanary knows about one built-in SLI."""

    name: str
    """The name written in ``spec.analysis.metrics[].name``."""
    description: str
    """What it measures, with its unit (shown in docs, errors and the converter's notes)."""
    unit: Unit
    """Unit of its thresholds: fraction, percent, ms, rps or raw."""
    direction: Direction
    """Which way is better."""
    judges: frozenset[JudgeName]
    """Judges that may decide it (sequential needs per-request data: counts or latencies)."""
    source: Source
    """What it is computed from (see :data:`Source`)."""
    scheme_series: str | None
    """The Prometheus-family series it is computed from (``requests``, ``latency``,
    ``predictions``; ``tokens``: an LLM server's token histograms and counters, as vLLM and
    OpenTelemetry GenAI export them); None: the embedded provider only (it needs predictions
    paired by request id, or answers)."""
    quantile: float | None = None
    """Latency SLIs (request latency, TTFT, TPOT): the quantile measured (Flagger's
    request-duration is the p99)."""
    flagger: str | None = None
    """Flagger's built-in SLI with the same meaning: itself for Flagger's own SLIs, the
    approximation used when converting to Flagger, None when Flagger has none."""

    @property
    def paired(self) -> bool:
        """True when it compares both versions' predictions (needs mirrored or split traffic)."""
        return self.source in ("predictions", "pairs")


def _latency(name: str, quantile: float, description: str, flagger: str | None) -> SLIFacts:
    return SLIFacts(
        name, description, "ms", "lower", ALL_JUDGES, "latency", "latency", quantile, flagger
    )


def _llm(
    name: str,
    description: str,
    unit: Unit,
    direction: Direction,
    quantile: float | None = None,
    series: str | None = None,
) -> SLIFacts:
    judges = _WIN_RATE_JUDGES if name == "win-rate" else _NOT_SEQUENTIAL
    return SLIFacts(name, description, unit, direction, judges, "llm", series, quantile)


def _token_latency(kind: str, percentile: int, what: str) -> SLIFacts:
    description = (
        f"{_ORDINAL[percentile]} {what} in milliseconds, stratified by prompt-length bucket (LLM)"
    )
    return _llm(f"{kind}-p{percentile}", description, "ms", "lower", percentile / 100, "tokens")


_ORDINAL = {50: "median", 95: "95th percentile", 99: "99th percentile"}
_TTFT = "time to first token"
_TPOT = "time per output token after the first"


_ROWS: tuple[SLIFacts, ...] = (
    SLIFacts(
        "error-rate",
        "fraction of requests that failed (HTTP 5xx or error), 0-1",
        "fraction",
        "lower",
        ALL_JUDGES,
        "requests",
        "requests",
        flagger="request-success-rate",
    ),
    SLIFacts(
        "request-success-rate",
        "percent of requests that succeeded, 0-100 (Flagger)",
        "percent",
        "higher",
        ALL_JUDGES,
        "requests",
        "requests",
        flagger="request-success-rate",
    ),
    _latency("request-duration", 0.99, "p99 latency in milliseconds (Flagger)", "request-duration"),
    _latency("latency-p50", 0.50, "median latency in milliseconds", None),
    _latency("latency-p90", 0.90, "90th percentile latency in milliseconds", None),
    _latency("latency-p95", 0.95, "95th percentile latency in milliseconds", None),
    _latency("latency-p99", 0.99, "99th percentile latency in milliseconds", "request-duration"),
    SLIFacts(
        "throughput",
        "requests per second served by the challenger",
        "rps",
        "higher",
        _NOT_SEQUENTIAL,
        "requests",
        "requests",
    ),
    SLIFacts(
        "prediction-drift",
        "distance between champion and challenger prediction distributions",
        "raw",
        "lower",
        _NOT_SEQUENTIAL,
        "predictions",
        "predictions",
    ),
    SLIFacts(
        "prediction-agreement",
        "fraction of paired requests where both versions agree, 0-1",
        "fraction",
        "higher",
        _NOT_SEQUENTIAL,
        "pairs",
        None,
    ),
    *(_token_latency("ttft", p, _TTFT) for p in (50, 95, 99)),
    *(_token_latency("tpot", p, _TPOT) for p in (50, 95, 99)),
    _llm(
        "output-tokens-per-second",
        "median output tokens per second of a streamed answer, after its first token (LLM)",
        "raw",
        "higher",
        series="tokens",
    ),
    _llm(
        "cost-per-1k-requests",
        "cost of 1000 requests at the version's pricing, from its token counts (LLM)",
        "raw",
        "lower",
        series="tokens",
    ),
    _llm("refusal-rate", "fraction of answers that are refusals, 0-1 (LLM)", "fraction", "lower"),
    _llm(
        "json-valid-rate",
        "fraction of answers that parse as JSON, 0-1 (LLM structured outputs)",
        "fraction",
        "higher",
    ),
    _llm(
        "output-length-drift",
        "distance between champion and challenger output-length distributions (LLM)",
        "raw",
        "lower",
    ),
    _llm(
        "win-rate",
        "challenger's wins plus half its ties over judged answer pairs, 0-1 (LLM)",
        "fraction",
        "higher",
    ),
)

CATALOGUE: Mapping[str, SLIFacts] = MappingProxyType({row.name: row for row in _ROWS})
"""Every built-in SLI by name, in documentation order."""


def facts(name: str) -> SLIFacts | None:
    """The catalogue row of ``name``; None for a custom metric."""
    return CATALOGUE.get(name)


def unit_of(name: str) -> Unit:
    """Unit of a metric's thresholds: the catalogue's, ``raw`` for custom metrics."""
    row = CATALOGUE.get(name)
    return "raw" if row is None else row.unit


def threshold_bound(name: str) -> Literal["min", "max"]:
    """Which bound Flagger's deprecated ``threshold`` sets: a minimum for request-success-rate
    only, a maximum for everything else (Flagger's scheduler reads it so)."""
    return "min" if name == "request-success-rate" else "max"


def names_where(**wanted: object) -> frozenset[str]:
    """Names of the rows whose attributes equal ``wanted``, e.g. ``names_where(unit="ms")``."""
    return frozenset(
        row.name
        for row in _ROWS
        if all(getattr(row, key) == value for key, value in wanted.items())
    )


BUILTIN_METRICS: Mapping[str, str] = MappingProxyType({r.name: r.description for r in _ROWS})
"""Built-in SLI names and what they measure (with units)."""
LATENCY_METRICS = names_where(source="latency")
"""Latency SLIs (milliseconds; per-request samples or histogram buckets)."""
DRIFT_METRICS = frozenset(row.name for row in _ROWS if row.name.endswith("-drift"))
"""Distances between the two versions' distributions (a ``method``: psi, ks, js, wasserstein):
prediction-drift and output-length-drift."""
LLM_METRICS = names_where(source="llm")
"""SLIs computed from the LLM exchanges of OpenAI-compatible versions (``protocol: openai``)."""
TOKEN_SERIES_METRICS = names_where(source="llm", scheme_series="tokens")
"""LLM SLIs an LLM server's own metrics answer in a cluster (vLLM, OpenTelemetry GenAI): token
latencies, output speed and cost; answer-based ones (refusals, win rate...) need the router."""
TOKEN_LATENCY_QUANTILES: Mapping[str, float] = MappingProxyType(
    {r.name: r.quantile for r in _ROWS if r.source == "llm" and r.quantile is not None}
)
"""Quantile measured by each token-latency SLI (ttft-pNN, tpot-pNN), stratified by prompt
length; not :data:`LATENCY_QUANTILES`, which the request-latency judges read."""
PAIRED_METRICS = frozenset(r.name for r in _ROWS if r.paired)
"""SLIs that compare both versions' predictions and therefore need mirrored or split traffic."""
FRACTION_METRICS = names_where(unit="fraction")
"""SLIs whose thresholds are fractions 0-1."""
SEQUENTIAL_METRICS = frozenset(
    r.name for r in _ROWS if "sequential" in r.judges and r.source != "llm"
)
"""SLIs the per-request sequential tests can decide (counts or latencies); ``win-rate``'s
sequential judge is its own test on judged pairs."""
RATE_METRICS = SEQUENTIAL_METRICS - LATENCY_METRICS
"""Rates of per-request outcomes (error-rate, request-success-rate): from request counts."""
HIGHER_IS_BETTER = names_where(direction="higher")
"""SLIs where a higher challenger value is better (success, agreement, throughput)."""
LATENCY_QUANTILES: Mapping[str, float] = MappingProxyType(
    {r.name: r.quantile for r in _ROWS if r.source == "latency" and r.quantile is not None}
)
"""Quantile measured by each request-latency SLI."""
FLAGGER_BUILTINS = frozenset(r.name for r in _ROWS if r.flagger == r.name)
"""Flagger's own built-in SLIs (modelcanary computes them too)."""
FLAGGER_EQUIVALENTS: Mapping[str, str] = MappingProxyType(
    {r.name: r.flagger for r in _ROWS if r.flagger is not None and r.flagger != r.name}
)
"""modelcanary SLI -> the Flagger built-in that approximates it when converting."""
