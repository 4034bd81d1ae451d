"""The sequential win-rate test (non-inferiority with a margin, ties allowed) and the
deterministic answer judges."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modelcanary.analysis._answer_judges import (
    Judgement,
    is_refusal,
    judge_answer,
    pairwise,
    schema_errors,
)
from modelcanary.analysis._winrate import (
    WinRateState,
    inferiority_p_value,
    noninferiority_p_value,
    update_win_rate,
    win_rate_band,
    win_rate_verdict,
)


def _run(
    p_win: float, p_tie: float, pairs: int, batch: int, seed: int, margin: float = 0.05
) -> list[str]:
    """Verdicts after each batch for a challenger winning ``p_win`` and tying ``p_tie``."""
    rng = np.random.default_rng(seed)
    state, verdicts = WinRateState(), []
    for _ in range(pairs // batch):
        draws = rng.random(batch)
        wins = int(np.sum(draws < p_win))
        ties = int(np.sum((draws >= p_win) & (draws < p_win + p_tie)))
        state = update_win_rate(
            state, wins=wins, ties=ties, losses=batch - wins - ties, margin=margin
        )
        verdicts.append(win_rate_verdict(state))
    return verdicts


def test_false_alarms_stay_under_alpha_at_the_boundary_with_many_looks() -> None:
    # exactly at the margin (mu = 0.45): neither "fail" may fire more than alpha/2 of the time
    runs = [_run(0.35, 0.2, 2000, 10, seed) for seed in range(300)]
    fails = sum("fail" in v for v in runs) / len(runs)
    passes = sum("pass" in v for v in runs) / len(runs)
    assert fails <= 0.025 + 0.02 and passes <= 0.025 + 0.02


def test_a_worse_challenger_is_caught_and_an_equal_one_passes() -> None:
    worse = [_run(0.25, 0.2, 3000, 10, seed) for seed in range(40)]  # mu = 0.35 < 0.45
    assert sum(v[-1] == "fail" for v in worse) >= 38
    first_fail = [v.index("fail") * 10 for v in worse if "fail" in v]
    assert np.median(first_fail) < 1500
    equal = [_run(0.4, 0.2, 3000, 10, seed) for seed in range(40)]  # mu = 0.5
    assert sum("fail" in v for v in equal) <= 2
    assert sum(v[-1] == "pass" for v in equal) >= 36


def test_band_covers_the_true_rate_and_shrinks() -> None:
    rng = np.random.default_rng(5)
    misses = 0
    for _ in range(200):
        draws = rng.random(400)
        wins, ties = int(np.sum(draws < 0.3)), int(np.sum((draws >= 0.3) & (draws < 0.6)))
        state = update_win_rate(WinRateState(), wins=wins, ties=ties, losses=400 - wins - ties)
        low, high = win_rate_band(state) or (0, 0)
        misses += not (low <= 0.45 <= high)
    assert misses / 200 <= 0.05
    small = update_win_rate(WinRateState(), wins=5, ties=5, losses=5)
    big = update_win_rate(WinRateState(), wins=500, ties=500, losses=500)
    band_small, band_big = win_rate_band(small), win_rate_band(big)
    assert band_small and band_big
    assert band_big[1] - band_big[0] < (band_small[1] - band_small[0]) / 3
    assert band_big[0] < 0.5 < band_big[1]
    assert win_rate_band(WinRateState()) is None


def test_state_is_resumable_and_inputs_checked() -> None:
    state = update_win_rate(WinRateState(), wins=3, ties=1, losses=20)
    again = WinRateState.model_validate(json.loads(state.model_dump_json()))
    assert again == state and again.win_rate == pytest.approx(3.5 / 24)
    assert inferiority_p_value(again) < 1.0 and noninferiority_p_value(again) == 1.0
    with pytest.raises(ValueError, match="margin"):
        update_win_rate(state, wins=1, margin=0.6)
    with pytest.raises(ValueError, match="negative"):
        update_win_rate(state, wins=-1)


def test_deterministic_judges() -> None:
    assert judge_answer("exact", " 42 ", reference="42").good
    assert not judge_answer("exact", "42.", reference="42").good
    assert judge_answer("normalised", "Paris.", reference="paris").good
    assert judge_answer("contains", "The answer is Paris", reference="Paris").good
    assert judge_answer("regex", "order #123", pattern=r"#\d+").good
    assert judge_answer("json", '{"answer": 1}').good
    bad = judge_answer("json", '{"answer": 1')
    assert not bad.good and bad.reason.startswith("not JSON")
    schema = {
        "type": "object",
        "required": ["label", "score"],
        "properties": {
            "label": {"enum": ["fraud", "ok"]},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "additionalProperties": False,
    }
    assert judge_answer("json", '{"label": "ok", "score": 0.2}', schema=schema).good
    why = judge_answer("json", '{"label": "maybe", "score": 2, "x": 1}', schema=schema).reason
    assert "not one of" in why and "maximum" in why and "unexpected 'x'" in why
    assert schema_errors([1, "a"], {"type": "array", "items": {"type": "integer"}}) == [
        "$[1]: expected integer, got str"
    ]
    assert is_refusal("I'm sorry, but I can't help with that request.")
    assert is_refusal("Sorry, but that is not something I can do")
    assert not is_refusal("Sorry for the wait: the answer is 42")
    assert not judge_answer("refusal", "I cannot help with that").good
    assert judge_answer("length", "abcd", reference="abc").good
    assert not judge_answer("length", "a" * 10, reference="abc").good
    with pytest.raises(ValueError, match="reference"):
        judge_answer("exact", "x")
    with pytest.raises(ValueError, match="unknown judge"):
        judge_answer("vibes", "x")


def test_pairwise_outcomes() -> None:
    good, bad = Judgement(True, ""), Judgement(False, "")
    assert pairwise(bad, good) == "win"
    assert pairwise(good, bad) == "loss"
    assert pairwise(good, good) == pairwise(bad, bad) == "tie"
