"""What the LLM view draws for one rollout: its exchanges, its status and its spec, as one
:class:`~modelcanary.analysis._llm_chart.LLMSummary`.

Shared by the live widget (``modelcanary.notebook._llm_view``) and the static HTML report
(``modelcanary._report``: what nbviewer, GitHub or an HTML export show once the rollout is
decided), so the two cannot disagree. Pure: the exchanges are passed in (the local runtime's
router recorded them; a cluster run has none here, only the win-rate states of its status).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..spec import RolloutStatus
from ..spec._llm import DEFAULT_MARGIN
from ._bands import sequential_states
from ._checks import metric_key
from ._interval import shared_alpha
from ._llm_chart import LLMSummary, llm_summary
from ._llm_records import PROMPT_BUCKETS, LLMExchange
from ._winrate import WinRateState


def is_llm(rollout: Any) -> bool:
    """True when a version of the rollout declares ``protocol: openai``."""
    spec = rollout.spec
    return any(v is not None and v.is_llm for v in (spec.champion, spec.challenger))


def budget_of(rollout: Any) -> dict[str, float | int | None]:
    """``spec.analysis.mirrorBudget`` as ``max_prompts`` / ``max_tokens`` / ``max_cost``."""
    budget = rollout.spec.analysis.mirror_budget
    if budget is None:
        return {}
    return {
        "max_prompts": budget.max_prompts,
        "max_tokens": budget.max_tokens,
        "max_cost": budget.max_cost,
    }


def stored_win_rates(analysis_state: Mapping[str, Any] | None) -> dict[str, WinRateState]:
    """The win-rate tests in ``status.analysis_state`` (metric key -> state): the sequential
    states that carry one."""
    return {
        key: state.win_rate
        for key, state in sequential_states(analysis_state).items()
        if state.win_rate is not None
    }


def win_rates_of(
    rollout: Any, status: RolloutStatus
) -> dict[str, tuple[WinRateState, float, float]]:
    """Each ``win-rate`` metric's state (kept by the sequential judge in the status), margin
    (the metric's, else the default) and alpha (the one the judge used: the metric's, else
    the rollout's shared budget)."""
    analysis = rollout.spec.analysis
    params = {
        metric_key(metric): (
            metric.margin if metric.margin is not None else DEFAULT_MARGIN,
            metric.alpha or shared_alpha(analysis),
        )
        for metric in analysis.metrics
    }
    default = (DEFAULT_MARGIN, shared_alpha(analysis))
    return {
        key: (state, *params.get(key, default))
        for key, state in stored_win_rates(status.analysis_state).items()
    }


def edges_of(rollout: Any) -> tuple[int, ...]:
    """The prompt-length bucket edges the latency SLIs use: the first ``ttft-*``/``tpot-*``
    metric's ``promptBuckets``, else the default."""
    for metric in rollout.spec.analysis.metrics:
        if metric.name.startswith(("ttft-", "tpot-")) and metric.prompt_buckets:
            return tuple(metric.prompt_buckets)
    return PROMPT_BUCKETS


def llm_view_summary(
    rollout: Any, status: RolloutStatus, exchanges: Iterable[LLMExchange]
) -> LLMSummary | None:
    """What the LLM view draws for ``rollout`` at ``status`` with the router's ``exchanges``
    (both versions); None when the rollout is not an LLM one and has no LLM data."""
    exchanges = list(exchanges)
    win_rates = win_rates_of(rollout, status)
    if not exchanges and not win_rates and not is_llm(rollout):
        return None
    challenger = rollout.spec.challenger
    return llm_summary(
        exchanges,
        edges=edges_of(rollout),
        pricing=challenger.pricing if challenger is not None else None,
        budget=budget_of(rollout),
        win_rates=win_rates,
    )


__all__ = [
    "budget_of",
    "edges_of",
    "is_llm",
    "llm_view_summary",
    "stored_win_rates",
    "win_rates_of",
]
