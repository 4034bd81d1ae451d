"""Sequential non-inferiority test on win rate: is the challenger's answer quality not worse
than the champion's by more than a margin? Anytime-valid, ties allowed.

Each judged pair of answers scores the challenger ``x = 1`` (win), ``0.5`` (tie) or ``0``
(loss); its mean ``mu`` is the win rate with ties counted half (0.5: as good as the champion).
With the margin ``delta`` and ``m0 = 0.5 - delta``:

- **inferiority** (roll back): H0 ``mu >= m0``. Rejected when the challenger is worse than
  the champion by more than ``delta``.
- **non-inferiority** (may promote on quality): H0 ``mu <= m0``. Rejected when the challenger
  is shown not to be worse by more than ``delta``.

Both are testing-by-betting (Waudby-Smith & Ramdas, "Estimating means of bounded random
variables by betting", JRSS-B 2024): for a bet ``lam``, the capital
``K = prod(1 + lam * (m0 - x_i))`` (inferiority; ``0 <= lam <= 1 / (1 - m0)``) or
``prod(1 + lam * (x_i - m0))`` (non-inferiority; ``0 <= lam <= 1 / m0``) is a non-negative
supermartingale under its null, and so is the average over a fixed grid of bets. By Ville's
inequality, rejecting when the average reaches ``1 / alpha`` keeps the error at most
``alpha`` however often the test looks. With fixed bets the capital depends only on the counts
of wins, ties and losses, so the state is three counts and the two running maxima.

:func:`win_rate_band` is the matching always-valid confidence interval: the win rates ``m``
neither test rejects at ``alpha / 2`` each.

:func:`win_rate_check` is the ``win-rate`` metric's check on the judged pairs of each window
(:class:`~._shadow_eval.JudgedPair`): fed once each (a watermark), judge errors counted apart
(budget spent, never a win), ``fail`` decisive, ``pass`` only once non-inferiority is shown,
and missing evidence (budget spent, nothing judged) never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace

from ..spec._base import Model
from ..spec._llm import DEFAULT_MARGIN
from ..spec._metric_spec import MetricSpec, NoDataPolicy
from ._checks import CheckResult, Verdict, metric_key
from ._shadow_eval import JudgedPair

BET_FRACTIONS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9)
"""Bets of the mixture, as fractions of the largest bet the null allows."""
SCORES = {"win": 1.0, "tie": 0.5, "loss": 0.0}
"""Challenger score of a judged pair."""


class WinRateState(Model):
    """Counts of judged pairs and the largest log capital of each test (resumable, JSON)."""

    wins: int = 0
    ties: int = 0
    losses: int = 0
    max_log_inferior: float = 0.0
    """Largest log mixture capital against H0 ``mu >= m0`` so far."""
    max_log_noninferior: float = 0.0
    """Largest log mixture capital against H0 ``mu <= m0`` so far."""
    errors: int = 0
    """Pairs whose judge failed: spent from the judge budget, never counted as a win."""
    fed_until: float | None = None
    """``judged_at`` of the newest judged pair fed (windows that overlap feed none twice)."""
    fed_ids: list[str] = []
    """Request ids of the pairs fed at exactly ``fed_until``."""

    @property
    def pairs(self) -> int:
        """Judged pairs."""
        return self.wins + self.ties + self.losses

    @property
    def win_rate(self) -> float | None:
        """Observed win rate, ties counted half (None before any pair)."""
        if not self.pairs:
            return None
        return (self.wins + 0.5 * self.ties) / self.pairs


def _log_capital(wins: int, ties: int, losses: int, m0: float, inferior: bool) -> float:
    """log of the mixture capital of one test at counts (wins, ties, losses)."""
    top = 1.0 / (1.0 - m0) if inferior else 1.0 / m0
    logs = []
    for fraction in BET_FRACTIONS:
        lam = fraction * top
        sign = -1.0 if inferior else 1.0
        total = 0.0
        for count, x in ((wins, 1.0), (ties, 0.5), (losses, 0.0)):
            if count:
                factor = 1.0 + sign * lam * (x - m0)
                if factor <= 0:
                    total = -math.inf
                    break
                total += count * math.log(factor)
        logs.append(total)
    best = max(logs)
    if best == -math.inf:
        return -math.inf
    return best + math.log(sum(math.exp(v - best) for v in logs) / len(logs))


def update_win_rate(
    state: WinRateState, *, wins: int = 0, ties: int = 0, losses: int = 0, margin: float = 0.05
) -> WinRateState:
    """Add a batch of judged pairs; the running maxima are taken after the batch."""
    if min(wins, ties, losses) < 0:
        raise ValueError("counts must not be negative")
    if not 0 <= margin < 0.5:
        raise ValueError(f"margin {margin} must be in [0, 0.5)")
    m0 = 0.5 - margin
    new = state.model_copy(
        update={
            "wins": state.wins + wins,
            "ties": state.ties + ties,
            "losses": state.losses + losses,
        }
    )
    inferior = _log_capital(new.wins, new.ties, new.losses, m0, inferior=True)
    noninferior = _log_capital(new.wins, new.ties, new.losses, m0, inferior=False)
    return new.model_copy(
        update={
            "max_log_inferior": max(state.max_log_inferior, inferior),
            "max_log_noninferior": max(state.max_log_noninferior, noninferior),
        }
    )


def inferiority_p_value(state: WinRateState) -> float:
    """Always-valid p-value of H0 "not worse than the margin" (small: roll back)."""
    return min(1.0, math.exp(-state.max_log_inferior))


def noninferiority_p_value(state: WinRateState) -> float:
    """Always-valid p-value of H0 "worse than the margin" (small: quality is fine)."""
    return min(1.0, math.exp(-state.max_log_noninferior))


def win_rate_verdict(state: WinRateState, alpha: float = 0.05) -> str:
    """``fail`` (inferior), ``pass`` (non-inferior) or ``inconclusive`` (not yet either).

    Each test spends ``alpha / 2``, so the two can never both reject at once on the same data
    except with probability ``alpha``; a ``fail`` wins if they ever do.
    """
    if inferiority_p_value(state) <= alpha / 2:
        return "fail"
    if noninferiority_p_value(state) <= alpha / 2:
        return "pass"
    return "inconclusive"


def win_rate_band(state: WinRateState, alpha: float = 0.05) -> tuple[float, float] | None:
    """Always-valid ``1 - alpha`` interval for the win rate at the current counts (None before
    any pair): the ``m`` that neither one-sided test of ``mu >= m`` / ``mu <= m`` rejects."""
    if not state.pairs:
        return None
    threshold = math.log(2.0 / alpha)
    grid = [i / 1000 for i in range(1, 1000)]
    w, t, losses = state.wins, state.ties, state.losses
    inside = [
        m
        for m in grid
        if _log_capital(w, t, losses, m, inferior=True) < threshold
        and _log_capital(w, t, losses, m, inferior=False) < threshold
    ]
    if not inside:  # all mass at the edge (only wins, or only losses, and many of them)
        rate = state.win_rate or 0.0
        return (rate, rate)
    return (min(inside) - 0.001 if min(inside) > 0.001 else 0.0, max(inside) + 0.001)


# -- the win-rate metric's judge (a sequential check over the judged pairs of each window) ---


def feed_judged(state: WinRateState, judged: Iterable[JudgedPair], margin: float) -> WinRateState:
    """Add the judged pairs not fed yet (after the ``(judged_at, request_id)`` watermark, so
    overlapping windows and batches never count a pair twice); ``error`` outcomes are counted
    as spent budget, never as a win."""
    seen = set(state.fed_ids)
    new = [
        p
        for p in judged
        if state.fed_until is None
        or p.judged_at > state.fed_until
        or (p.judged_at == state.fed_until and p.request_id not in seen)
    ]
    if not new:
        return state
    counts = {"win": 0, "tie": 0, "loss": 0, "error": 0}
    for pair in new:
        counts[pair.outcome] += 1
    top = max(p.judged_at for p in new)
    ids = [p.request_id for p in new if p.judged_at == top]
    if state.fed_until == top:
        ids = [*state.fed_ids, *ids]
    state = update_win_rate(
        state, wins=counts["win"], ties=counts["tie"], losses=counts["loss"], margin=margin
    )
    return state.model_copy(
        update={"errors": state.errors + counts["error"], "fed_until": top, "fed_ids": ids}
    )


def judged_by(metric: MetricSpec, judged: Iterable[JudgedPair] | None) -> list[JudgedPair]:
    """The pairs judged by the metric's ``evaluator`` (default ``reference``): a window may
    carry the pairs of several win-rate metrics."""
    evaluator = metric.evaluator or "reference"
    return [p for p in judged or () if p.evaluator == evaluator]


def win_rate_check(
    metric: MetricSpec,
    judged: Sequence[JudgedPair] | None,
    state: WinRateState | None,
    no_data: NoDataPolicy,
    alpha: float,
) -> tuple[CheckResult, WinRateState]:
    """The ``win-rate`` metric's check: the sequential non-inferiority test on all pairs
    judged since the rollout started.

    ``fail`` (decisive: roll back now) when the challenger is shown worse than the champion
    by more than the margin; ``pass`` only once non-inferiority is shown; otherwise waiting
    for more pairs (holds the step, bounded by the hold deadline). When the judge budget is
    spent before either is shown - or the runtime judges no answers at all - the metric's
    ``noData`` policy decides, except that missing quality evidence never passes (``skip``
    holds as inconclusive).
    """
    margin = metric.margin if metric.margin is not None else DEFAULT_MARGIN
    state = feed_judged(state or WinRateState(), judged_by(metric, judged), margin)
    key = metric_key(metric)
    verdict = win_rate_verdict(state, alpha)
    p_fail, p_pass = inferiority_p_value(state), noninferiority_p_value(state)
    words = _words(state, alpha, margin)
    details = {
        "wins": float(state.wins),
        "ties": float(state.ties),
        "losses": float(state.losses),
        "errors": float(state.errors),
        "margin": margin,
    }
    base = CheckResult(
        metric.name,
        key,
        "inconclusive",
        "",
        value=state.win_rate,
        min=0.5 - margin,
        judge="sequential",
        details=details,
    )
    if verdict == "fail":
        reason = (
            f"{key}: challenger's answers are worse than the champion's by more than the "
            f"margin {margin:g} - {words}; always-valid p={p_fail:.3g} <= alpha/2"
        )
        return replace(base, verdict="fail", reason=reason, decisive=True, p_value=p_fail), state
    if verdict == "pass":
        reason = f"{key}: non-inferior (not worse than margin {margin:g}) - {words}"
        return replace(base, verdict="pass", reason=reason, p_value=p_pass), state
    spent = state.pairs + state.errors
    budget = metric.judge_budget
    if judged is None and not spent:
        why = "the runtime judges no answers (no judged pairs in this window)"
        return _no_quality(base, metric, no_data, why), state
    if budget is not None and spent >= budget:
        why = f"judge budget of {budget} pairs spent before a decision ({words})"
        return _no_quality(base, metric, no_data, why), state
    left = f", {budget - spent} of the judge budget left" if budget is not None else ""
    reason = f"{key}: {words}{left}: not enough evidence yet"
    return replace(base, reason=reason, p_value=min(p_fail, p_pass), waiting=True), state


def _no_quality(
    base: CheckResult, metric: MetricSpec, no_data: NoDataPolicy, why: str
) -> CheckResult:
    """Missing quality evidence: ``fail`` fails the interval, anything else is inconclusive
    (counts toward inconclusiveLimit) - never a pass."""
    policy = metric.no_data or no_data
    verdict: Verdict = "fail" if policy == "fail" else "inconclusive"
    held = "" if policy != "skip" else " (skip cannot pass a quality gate: held inconclusive)"
    reason = f"{base.key}: no decision ({why}); noData={policy}{held}"
    return replace(base, verdict=verdict, reason=reason)


def _words(state: WinRateState, alpha: float, margin: float) -> str:
    """``win rate 0.31 [0.22, 0.41] on 80 pairs (20 wins, 10 ties, 50 losses, 1 judge error)``."""
    if not state.pairs:
        errors = f" ({state.errors} judge errors)" if state.errors else ""
        return f"no judged pairs yet{errors}"
    band = win_rate_band(state, alpha)
    shown = f" [{band[0]:.2f}, {band[1]:.2f}]" if band else ""
    errors = f", {state.errors} judge error(s)" if state.errors else ""
    return (
        f"win rate {state.win_rate:.2f}{shown} vs {0.5 - margin:.2f} on {state.pairs} pairs "
        f"({state.wins} wins, {state.ties} ties, {state.losses} losses{errors})"
    )
