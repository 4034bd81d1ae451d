"""The ``win-rate`` metric through the real interval analysis: the sequential non-inferiority
test on judged answer pairs rolls a worse challenger back, passes an equal one only once
non-inferiority is shown, carries its state across intervals (JSON, as in the rollout
status), never counts a pair twice or a judge error as a win, and never passes on missing
data (judge budget spent, no judging at all)."""

from __future__ import annotations

import json

import numpy as np
from analysis_helpers import analysis, metric

from modelcanary.analysis import IntervalData, Window, version_data
from modelcanary.analysis._bands import STORED_KEYS, stored_analysis
from modelcanary.analysis._interval import AnalysisState, analyse_interval, check_batch
from modelcanary.analysis._shadow_eval import JudgedOutcome, JudgedPair

_SEQ = 0


def _pairs(
    rng: np.random.Generator,
    n: int,
    p_win: float,
    p_tie: float,
    at: float,
    evaluator: str = "reference",
) -> tuple[JudgedPair, ...]:
    global _SEQ
    out = []
    for draw in rng.random(n):
        outcome: JudgedOutcome = (
            "win" if draw < p_win else "tie" if draw < p_win + p_tie else "loss"
        )
        _SEQ += 1
        out.append(JudgedPair(f"r{_SEQ}", at, at, outcome, evaluator, "why", "15", "16", "15"))
    return tuple(out)


def _data(start: float, judged: tuple[JudgedPair, ...] | None) -> IntervalData:
    chal = version_data("challenger", latencies_ms=[50.0] * 20, errors=[False] * 20)
    champ = version_data("champion", latencies_ms=[50.0] * 20, errors=[False] * 20)
    return IntervalData(Window(start, start + 30), chal, champ, judged=judged)


def _roll(spec_metric: object, p_win: float, p_tie: float, per_interval: int, seed: int,
          intervals: int = 40) -> tuple[list[str], AnalysisState, list[str]]:  # fmt: skip
    """Run intervals until the rollout decides; the state goes through JSON each time."""
    rng = np.random.default_rng(seed)
    spec = analysis(spec_metric, step_weights=[50], threshold=1)
    state = AnalysisState()
    actions, reasons = [], []
    for i in range(intervals):
        evaluator = spec_metric.evaluator or "reference"  # type: ignore[attr-defined]
        judged = _pairs(rng, per_interval, p_win, p_tie, 30.0 * i + 1, evaluator)
        result = analyse_interval(spec, _data(30.0 * i, judged), state)
        stored = result.state.model_dump(mode="json", include=set(STORED_KEYS))
        state = stored_analysis(json.loads(json.dumps(stored)))  # as the engine stores it
        actions.append(result.action)
        reasons.append(next(c.reason for c in result.checks if c.metric == "win-rate"))
        if result.action != "hold":
            break
    return actions, state, reasons


def test_worse_challenger_is_rolled_back_on_win_rate() -> None:
    # win rate 0.2 + 0.3 / 2 = 0.35: worse than the champion by 0.15 > margin 0.05
    actions, state, reasons = _roll(metric("win-rate", evaluator="reference"), 0.2, 0.3, 25, 1)
    assert actions[-1] == "rollback"
    assert "worse than the champion's by more than the margin 0.05" in reasons[-1]
    win_rate = state.sequential["win-rate"].win_rate
    assert win_rate is not None and win_rate.pairs == 25 * len(actions)  # carried, not reset
    assert len(actions) > 1  # one interval was not enough evidence: it held first
    assert all(a == "hold" for a in actions[:-1])


def test_equal_challenger_passes_only_once_non_inferiority_is_shown() -> None:
    spec_metric = metric("win-rate", evaluator="reference", margin=0.1)
    actions, _, reasons = _roll(spec_metric, 0.3, 0.4, 25, 2)
    assert actions[-1] == "advance"
    assert "non-inferior" in reasons[-1]
    assert all(a == "hold" for a in actions[:-1]) and len(actions) > 1
    assert "not enough evidence yet" in reasons[0]


def test_better_challenger_passes() -> None:
    actions, _, reasons = _roll(metric("win-rate", evaluator="exact"), 0.6, 0.2, 25, 3)
    assert actions[-1] == "advance" and "non-inferior" in reasons[-1]


def test_budget_spent_before_a_decision_never_passes() -> None:
    # equal quality, margin 0.05 needs hundreds of pairs; a budget of 60 runs out first
    spec_metric = metric("win-rate", evaluator="reference", judge_budget=60)
    actions, _, reasons = _roll(spec_metric, 0.3, 0.4, 20, 4, intervals=6)
    assert "advance" not in actions
    assert "judge budget of 60 pairs spent before a decision" in reasons[-1]
    assert "noData=fail" in reasons[-1]  # the analysis default policy
    assert actions[-1] == "rollback"
    held = metric("win-rate", evaluator="reference", judge_budget=60, no_data="inconclusive")
    actions, _, reasons = _roll(held, 0.3, 0.4, 20, 4, intervals=6)
    assert "advance" not in actions and "noData=inconclusive" in reasons[-1]
    skipping = metric("win-rate", evaluator="reference", judge_budget=60, no_data="skip")
    actions, _, reasons = _roll(skipping, 0.3, 0.4, 20, 4, intervals=6)
    assert "advance" not in actions and "skip cannot pass a quality gate" in reasons[-1]


def test_judge_errors_are_never_wins_and_spend_the_budget() -> None:
    spec = analysis(
        metric("win-rate", evaluator="pairwise", judge_budget=30), threshold=1, no_data="skip"
    )
    errors = tuple(
        JudgedPair(f"e{i}", 1.0, 1.0 + i, "error", "pairwise", "judge failed: HTTP 500", "a", "b")
        for i in range(30)
    )
    result = analyse_interval(spec, _data(0.0, errors), AnalysisState())
    check = next(c for c in result.checks if c.metric == "win-rate")
    assert check.verdict == "inconclusive" and result.action != "advance"
    state = result.state.sequential["win-rate"].win_rate
    assert state is not None and state.errors == 30 and state.pairs == 0
    assert "budget of 30 pairs spent" in check.reason and "30 judge errors" in check.reason


def test_no_judging_never_passes() -> None:
    spec = analysis(metric("win-rate", evaluator="reference"), threshold=1)
    result = analyse_interval(spec, _data(0.0, None), AnalysisState())
    check = next(c for c in result.checks if c.metric == "win-rate")
    assert check.verdict == "fail" and "judges no answers" in check.reason  # noData=fail
    spec = analysis(metric("win-rate", evaluator="reference"), threshold=1, no_data="skip")
    result = analyse_interval(spec, _data(0.0, None), AnalysisState())
    check = next(c for c in result.checks if c.metric == "win-rate")
    assert check.verdict == "inconclusive" and result.action != "advance"


def test_overlapping_windows_and_batches_count_each_pair_once() -> None:
    rng = np.random.default_rng(5)
    spec = analysis(metric("win-rate", evaluator="reference"), threshold=1)
    first = _pairs(rng, 10, 0.5, 0.0, 10.0)
    later = _pairs(rng, 5, 0.5, 0.0, 20.0)
    state = check_batch(spec, _data(0.0, first), AnalysisState()).state  # fed in a batch
    # the interval sees the batch's pairs again plus new ones (and was batch-checked)
    result = analyse_interval(spec, _data(0.0, first + later), state, batches_checked=True)
    win_rate = result.state.sequential["win-rate"].win_rate
    assert win_rate is not None and win_rate.pairs == 15
    again = analyse_interval(spec, _data(0.0, first + later), result.state)
    assert again.state.sequential["win-rate"].win_rate.pairs == 15  # type: ignore[union-attr]


def test_a_batch_rolls_back_a_clearly_worse_challenger_between_intervals() -> None:
    rng = np.random.default_rng(6)
    spec = analysis(metric("win-rate", evaluator="reference"), threshold=1)
    state = AnalysisState()
    for second in range(1, 60):
        result = check_batch(spec, _data(0.0, _pairs(rng, 5, 0.05, 0.1, second)), state)
        state = result.state
        if result.action == "rollback":
            break
    assert result.action == "rollback" and result.decisive
    assert "win-rate: sequential test rejects" in result.message


def test_a_win_rate_metric_counts_only_its_evaluators_pairs() -> None:
    rng = np.random.default_rng(7)
    spec = analysis(metric("win-rate", evaluator="reference"), threshold=1)
    judged = _pairs(rng, 12, 0.5, 0.0, 5.0) + _pairs(rng, 4, 0.5, 0.0, 5.0, "json")
    result = analyse_interval(spec, _data(0.0, judged), AnalysisState())
    win_rate = result.state.sequential["win-rate"].win_rate
    assert win_rate is not None and win_rate.pairs == 12
