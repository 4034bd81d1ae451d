"""What the widget's LLM view shows, as plain numbers: one pure function over the exchanges.

For a rollout of OpenAI-compatible versions (``protocol: openai``) the widget draws

- **TTFT and TPOT by prompt-length bucket**, champion next to challenger: the latency SLIs are
  stratified by :data:`~modelcanary.analysis._llm_records.PROMPT_BUCKETS`, so the chart is too
  (a challenger that happened to get longer prompts is compared bucket by bucket);
- **the win-rate band**: the always-valid interval of the challenger's win rate
  (:func:`~modelcanary.analysis._winrate.win_rate_band`) against ``0.5 - margin``;
- **spend so far** on mirroring: prompts copied to the challenger, their tokens and cost, next
  to the ``mirrorBudget`` caps.

:func:`llm_summary` turns a list of :class:`LLMExchange` (what the router recorded, both
versions) and the win-rate states into an :class:`LLMSummary`. Pure: no I/O, no plotting, no
numpy (a few hundred exchanges per look).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..spec._llm import Pricing
from ._llm_records import PROMPT_BUCKETS, LLMExchange, prompt_bucket
from ._measurements import Side
from ._winrate import WinRateState, win_rate_band, win_rate_verdict

QUANTILES: tuple[int, ...] = (50, 95, 99)
"""The percentiles shown per bucket (the ``ttft-pNN`` / ``tpot-pNN`` SLIs)."""
SIDES: tuple[Side, ...] = ("champion", "challenger")


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linear between order statistics (numpy's
    default method); ``values`` must not be empty."""
    if not values:
        raise ValueError("quantile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bucket_label(index: int, edges: tuple[int, ...] = PROMPT_BUCKETS) -> str:
    """``<128``, ``128-511``, ``512-2047``, ``>=2048`` (prompt tokens) for bucket ``index``."""
    if index == 0:
        return f"<{edges[0]}"
    if index >= len(edges):
        return f">={edges[-1]}"
    return f"{edges[index - 1]}-{edges[index] - 1}"


@dataclass(frozen=True)
class SideStats:
    """One version's exchanges in one prompt-length bucket."""

    requests: int
    errors: int
    ttft: tuple[float, ...] | None
    """TTFT (ms) at :data:`QUANTILES`; None without a first token in the bucket."""
    tpot: tuple[float, ...] | None
    """TPOT (ms) at :data:`QUANTILES`; None without an answer of two tokens or more."""
    ttft_samples: int = 0
    tpot_samples: int = 0


@dataclass(frozen=True)
class BucketStats:
    """Champion and challenger side by side in one prompt-length bucket."""

    index: int
    label: str
    champion: SideStats
    challenger: SideStats

    def side(self, side: Side) -> SideStats:
        """The stats of ``side``."""
        return self.champion if side == "champion" else self.challenger


@dataclass(frozen=True)
class Spend:
    """What mirroring prompts to the challenger has cost so far, and the caps."""

    prompts: int
    prompt_tokens: int
    output_tokens: int
    cost: float | None
    """In the pricing's currency; None when the challenger has no ``pricing``."""
    max_prompts: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None

    @property
    def tokens(self) -> int:
        """Prompt and output tokens (what ``maxTokens`` caps)."""
        return self.prompt_tokens + self.output_tokens


@dataclass(frozen=True)
class WinRate:
    """One ``win-rate`` metric's judged pairs, band and verdict."""

    metric: str
    wins: int
    ties: int
    losses: int
    rate: float | None
    band: tuple[float, float] | None
    margin: float
    alpha: float
    verdict: str
    """``fail`` (worse by more than the margin), ``pass`` or ``inconclusive``."""

    @property
    def pairs(self) -> int:
        """Judged pairs."""
        return self.wins + self.ties + self.losses

    @property
    def floor(self) -> float:
        """The non-inferiority line ``0.5 - margin``."""
        return 0.5 - self.margin


@dataclass(frozen=True)
class LLMSummary:
    """Everything the LLM view draws."""

    buckets: tuple[BucketStats, ...]
    """Only the buckets some exchange fell in, in bucket order."""
    spend: Spend
    win_rates: tuple[WinRate, ...]
    exchanges: int

    @property
    def empty(self) -> bool:
        """Nothing to draw yet (no exchange, no judged pair)."""
        return not self.exchanges and not any(w.pairs for w in self.win_rates)


def _side_stats(group: list[LLMExchange]) -> SideStats:
    ttft = [e.ttft_ms for e in group if e.ok and e.ttft_ms is not None]
    tpot = [e.tpot_ms for e in group if e.ok and e.tpot_ms is not None]
    return SideStats(
        requests=len(group),
        errors=sum(1 for e in group if not e.ok),
        ttft=tuple(quantile(ttft, q) for q in QUANTILES) if ttft else None,
        tpot=tuple(quantile(tpot, q) for q in QUANTILES) if tpot else None,
        ttft_samples=len(ttft),
        tpot_samples=len(tpot),
    )


def bucket_stats(
    exchanges: Iterable[LLMExchange], edges: tuple[int, ...] = PROMPT_BUCKETS
) -> tuple[BucketStats, ...]:
    """Per prompt-length bucket and version: requests, errors and TTFT/TPOT quantiles of the
    answered ones (served and mirrored: both measure the version's speed)."""
    groups: dict[tuple[int, Side], list[LLMExchange]] = {}
    for exchange in exchanges:
        key = (prompt_bucket(exchange.prompt_tokens, edges), exchange.side)
        groups.setdefault(key, []).append(exchange)
    indices = sorted({index for index, _ in groups})
    return tuple(
        BucketStats(
            index,
            bucket_label(index, edges),
            _side_stats(groups.get((index, "champion"), [])),
            _side_stats(groups.get((index, "challenger"), [])),
        )
        for index in indices
    )


def mirror_spend(
    exchanges: Iterable[LLMExchange],
    pricing: Pricing | None = None,
    *,
    max_prompts: int | None = None,
    max_tokens: int | None = None,
    max_cost: float | None = None,
) -> Spend:
    """Prompts mirrored to the challenger, their tokens and, with the challenger's ``pricing``,
    their cost."""
    mirrored = [e for e in exchanges if e.mirrored]
    prompt_tokens = sum(e.prompt_tokens for e in mirrored)
    output_tokens = sum(e.output_tokens for e in mirrored)
    cost = None if pricing is None else pricing.cost(prompt_tokens, output_tokens)
    return Spend(
        len(mirrored), prompt_tokens, output_tokens, cost, max_prompts, max_tokens, max_cost
    )


def win_rate_view(
    metric: str, state: WinRateState, margin: float = 0.05, alpha: float = 0.05
) -> WinRate:
    """One win-rate metric's counts, observed rate, always-valid band and verdict."""
    return WinRate(
        metric,
        state.wins,
        state.ties,
        state.losses,
        state.win_rate,
        win_rate_band(state, alpha),
        margin,
        alpha,
        win_rate_verdict(state, alpha),
    )


def llm_summary(
    exchanges: Iterable[LLMExchange],
    *,
    edges: tuple[int, ...] = PROMPT_BUCKETS,
    pricing: Pricing | None = None,
    budget: Mapping[str, float | int | None] | None = None,
    win_rates: Mapping[str, tuple[WinRateState, float, float]] | None = None,
) -> LLMSummary:
    """The LLM view's numbers.

    ``exchanges``: both versions', as the router recorded them; ``pricing``: the challenger's
    prices; ``budget``: ``max_prompts`` / ``max_tokens`` / ``max_cost``
    of ``spec.analysis.mirrorBudget``; ``win_rates``: each win-rate metric's state, margin and alpha
    (the judge's: the band is then the one its verdict used).
    """
    exchanges = list(exchanges)
    caps = dict(budget or {})
    max_prompts, max_tokens = caps.get("max_prompts"), caps.get("max_tokens")
    max_cost = caps.get("max_cost")
    spend = mirror_spend(
        exchanges,
        pricing,
        max_prompts=None if max_prompts is None else int(max_prompts),
        max_tokens=None if max_tokens is None else int(max_tokens),
        max_cost=None if max_cost is None else float(max_cost),
    )
    views = tuple(
        win_rate_view(metric, state, margin, alpha)
        for metric, (state, margin, alpha) in sorted((win_rates or {}).items())
    )
    return LLMSummary(bucket_stats(exchanges, edges), spend, views, len(exchanges))
