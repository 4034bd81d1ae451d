"""Issue 15 round 2, item 2: ``analysis.warmup``, the challenger's first traffic is recorded but
not judged (cold caches), and a challenger that stays slow after it is still caught.

HEAD rolled back every challenger 3x slower in its first minute only (the champion comparison
rightly saw it slower) and had no way to say "give it a minute". Seeded simulations.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import modelcanary as mc
from modelcanary.analysis import (
    AnalysisState,
    IntervalData,
    Window,
    analyse_interval,
    check_batch,
    version_data,
)
from modelcanary.errors import SpecError
from modelcanary.spec import Analysis


def spec(warmup: str | None, interval: str = "1m") -> Analysis:
    return Analysis.model_validate(
        {
            "interval": interval,
            "threshold": 1,
            "step_weights": [10, 25, 50],
            "warmup": warmup,
            "metrics": [
                {"name": "error-rate", "threshold_range": {"max": 0.01}},
                {"name": "latency-p99", "threshold_range": {"max": 250}},
            ],
        }
    )


def batch(rng: np.random.Generator, lo: float, hi: float, cold: float, slow: float) -> IntervalData:
    """100 rps over [lo, hi), 10 % to the challenger, 3x slower before ``cold`` seconds and
    ``slow`` times slower after."""
    n = int(rng.poisson(100 * (hi - lo)))
    t = lo + np.sort(rng.uniform(0, hi - lo, n))
    to_chal = rng.random(n) < 0.1
    lat = rng.lognormal(np.log(50.0), 0.5, n)
    chal_lat = np.where(t < cold, lat * 3.0, lat * slow)
    err = rng.random(n) < 0.002
    return IntervalData(
        Window(lo, hi),
        version_data("challenger", latencies_ms=chal_lat[to_chal], errors=err[to_chal]),
        version_data("champion", latencies_ms=lat[~to_chal], errors=err[~to_chal]),
    )


def rollout(analysis: Analysis, seed: int, slow: float = 1.0, start: float = 1.7e9) -> str:
    """5 s looks (check_batch) plus the interval analysis, three passes promote."""
    rng = np.random.default_rng(seed)
    state, passes = AnalysisState(), 0
    for tick in range(12):
        lo = start + 60.0 * tick
        for b in range(12):
            quick = check_batch(
                analysis, batch(rng, lo + 5 * b, lo + 5 * b + 5, start + 60, slow), state
            )
            state = quick.state
            if quick.action == "rollback":
                return "rollback"
        result = analyse_interval(
            analysis, batch(rng, lo, lo + 60, start + 60, slow), state, batches_checked=True
        )
        state = result.state
        if result.action == "advance":
            passes += 1
            if passes == 3:
                return "promoted"
        elif result.action != "hold":
            return result.action
    return "timeout"


def test_cold_first_minute_is_not_held_against_the_challenger_with_a_warmup() -> None:
    ends = Counter(rollout(spec("1m"), seed) for seed in range(30))
    assert ends == {"promoted": 30}, ends


def test_without_a_warmup_the_cold_minute_is_judged() -> None:
    # the comparison is right: the challenger *was* slower; the warm-up is the user's choice
    ends = Counter(rollout(spec(None), seed) for seed in range(10))
    assert ends["rollback"] >= 9, ends


def test_a_challenger_that_stays_slow_after_the_warmup_is_still_caught() -> None:
    ends = Counter(rollout(spec("1m"), seed, slow=2.0) for seed in range(20))
    assert ends == {"rollback": 20}, ends


def test_warmup_windows_are_recorded_not_judged_and_feed_no_test() -> None:
    analysis = spec("1m")
    rng = np.random.default_rng(1)
    quick = check_batch(analysis, batch(rng, 100.0, 105.0, 160.0, 1.0), AnalysisState())
    assert quick.action == "hold" and "warming up" in quick.message
    assert quick.state.sequential == {} and quick.state.started == 100.0
    first = analyse_interval(analysis, batch(rng, 100.0, 160.0, 160.0, 1.0), quick.state)
    assert first.action == "hold" and first.verdict == "inconclusive"
    assert first.message.startswith("warming up") and "analysis.warmup" in first.message
    assert [c.verdict for c in first.checks] == ["skipped", "skipped"]
    assert all(c.value is not None and "warm-up: not judged" in c.reason for c in first.checks)
    state = first.state
    assert (state.sequential, state.failed_checks, state.held, state.inconclusive_checks) == (
        {},
        0,
        0,
        0,
    )
    second = analyse_interval(analysis, batch(rng, 160.0, 220.0, 160.0, 1.0), state)
    assert second.action == "advance" and set(second.state.sequential) == {
        "error-rate",
        "latency-p99",
    }


def test_warmup_rounds_up_to_whole_intervals() -> None:
    analysis = spec("90s")
    rng = np.random.default_rng(2)
    state = AnalysisState()
    actions = []
    for lo in (0.0, 60.0, 120.0):
        result = analyse_interval(analysis, batch(rng, lo, lo + 60, 0.0, 1.0), state)
        state = result.state
        actions.append(result.message.startswith("warming up"))
    assert actions == [True, True, False]  # [60, 120) starts inside the 90 s warm-up


def test_sdk_and_spec_errors() -> None:
    built = (
        mc.Rollout("warm")
        .champion("a.onnx")
        .challenger("b.onnx")
        .canary(steps=[10, 50], interval="30s")
        .analysis(warmup="1m")
        .slo(mc.sli.error_rate() < "1%")
        .build()
    )
    assert built.spec.analysis.warmup == "1m"
    assert Analysis.model_validate({}).warmup is None  # default: no warm-up, as Flagger
    with pytest.raises(SpecError, match="warmup"):
        mc.Rollout("warm").champion("a.onnx").challenger("b.onnx").canary(steps=[10]).analysis(
            warmup="soon"
        ).build()
