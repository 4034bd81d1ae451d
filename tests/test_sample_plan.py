"""The sample each stage needs (analysis._sample_plan): checked against the shipped test itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelcanary.analysis import (
    OddsMixture,
    StepPlan,
    design_effect_of,
    pre_period,
    sample_plan,
    samples_to_detect,
)
from modelcanary.analysis._judges import DEFAULT_ALPHA
from modelcanary.analysis._restarts import restart_weight

LEVEL = DEFAULT_ALPHA * restart_weight(0)
"""The level the judges' first-look tests reject at (what the plan simulates)."""


def _detected_within(n: int, baseline: float, effect: float, share: float, seed: int) -> float:
    """Share of fresh streams (another seed, batches of 25) the shipped test rejects by ``n``."""
    rng = np.random.default_rng(seed)
    mixture, runs, hits = OddsMixture(), 400, 0
    champ = round(25 * (1 - share) / share)
    for _ in range(runs):
        state, seen = mixture.start(), 0
        while seen < n:
            e1, e0 = int(rng.binomial(25, baseline * effect)), int(rng.binomial(champ, baseline))
            seen += 25
            if e0 + e1:
                state = mixture.update(state, e1, e0 + e1, 25 / (25 + champ))
                if OddsMixture.rejects(state, LEVEL):
                    hits += 1
                    break
    return hits / runs


def test_needed_sample_gives_the_asked_power_on_independent_streams() -> None:
    needed = samples_to_detect(0.01, 2.0, 0.2, power=0.8)
    assert needed is not None
    assert 0.72 <= _detected_within(int(needed), 0.01, 2.0, 0.2, seed=7) <= 0.88
    # half of it is clearly not enough
    assert _detected_within(int(needed) // 2, 0.01, 2.0, 0.2, seed=8) < 0.6


def test_bigger_effects_need_fewer_requests_and_hopeless_ones_say_none() -> None:
    small = samples_to_detect(0.01, 1.5, 0.2)
    big = samples_to_detect(0.01, 4.0, 0.2)
    assert small is not None and big is not None and big < small / 4
    assert samples_to_detect(1e-5, 1.25, 0.05, cap=2_000) is None


def test_plan_rows_add_up_and_flag_the_stage_where_enough_is_reached() -> None:
    plan = StepPlan.canary([5, 10, 20, 50], 60.0, mirror_intervals=1)
    rows = sample_plan(plan, 20.0, baseline=0.01, effect=3.0)
    assert [r.stage for r in rows] == [
        "shadow (mirror 100%)",
        "canary 5%",
        "canary 10%",
        "canary 20%",
        "canary 50%",
    ]
    assert rows[0].challenger_requests == pytest.approx(1200.0)  # every request copied
    assert rows[1].challenger_requests == pytest.approx(60.0)
    assert rows[-1].cumulative == pytest.approx(sum(r.challenger_requests for r in rows))
    first = next(i for i, r in enumerate(rows) if r.enough)
    assert all(not r.enough for r in rows[:first])
    low = sample_plan(plan, 0.5, baseline=0.01, effect=3.0)
    assert not any(r.enough for r in low)  # at 0.5 rps the plan cannot catch it


def test_design_effect_from_correlated_units() -> None:
    # every request of a user is alike: ICC 1, design effect = requests per user
    same = [[1.0] * 10 if i % 5 == 0 else [0.0] * 10 for i in range(100)]
    assert design_effect_of(same) == pytest.approx(10.0, rel=0.02)
    rng = np.random.default_rng(3)
    independent = [list(rng.binomial(1, 0.05, 10).astype(float)) for _ in range(400)]
    assert design_effect_of(independent) == pytest.approx(1.0, abs=0.25)


def test_pre_period_reads_champion_rows_and_units() -> None:
    users = [f"u{i % 50}" for i in range(1000)]
    status = [500 if (i % 50) < 5 else 200 for i in range(1000)]  # users 0-4 always fail
    log = pd.DataFrame(
        {
            "timestamp": np.arange(1000) / 10.0,
            "version": ["champion"] * 1000,
            "latency_ms": [10.0] * 1000,
            "status": status,
            "unit": users,
        }
    )
    pre = pre_period(log)
    assert pre.baseline == pytest.approx(0.1)
    assert pre.units == 50 and pre.requests == 1000
    assert pre.design_effect == pytest.approx(20.0, rel=0.02)
    no_units = pre_period(log.drop(columns=["unit"]))
    assert no_units.units == 0 and no_units.design_effect == 1.0
    needed = samples_to_detect(pre.baseline, 2.0, 0.2)
    inflated = samples_to_detect(pre.baseline, 2.0, 0.2, design_effect=pre.design_effect)
    assert needed is not None and inflated == pytest.approx(needed * 20.0, rel=0.01)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="effect > 1"):
        samples_to_detect(0.01, 1.0, 0.2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        samples_to_detect(0.0, 2.0, 0.2)
    with pytest.raises(ValueError, match="champion requests"):
        pre_period([{"timestamp": 1, "version": "challenger", "status": 200, "latency_ms": 1}])


def test_notebook_sample_plan_from_a_builder_and_a_pre_period_log() -> None:
    import modelcanary as mc

    rollout = (
        mc.Rollout("fraud")
        .champion("/models/champion")
        .challenger("/models/challenger")
        .canary(steps=[5, 20, 50], interval="1m")
        .slo(mc.sli.error_rate() < "1%")
    )
    frame = mc.sample_plan(rollout, 30.0, baseline=0.01, effect=3.0)
    assert list(frame["stage"]) == ["canary 5%", "canary 20%", "canary 50%"]
    assert list(frame.columns) == [
        "stage",
        "intervals",
        "challenger_requests",
        "cumulative",
        "needed",
        "enough",
    ]
    assert frame["challenger_requests"].tolist() == pytest.approx([90.0, 360.0, 900.0])
    log = pd.DataFrame(
        {
            "timestamp": np.arange(400) / 10.0,
            "version": ["champion"] * 400,
            "latency_ms": [10.0] * 400,
            "status": [500 if i % 100 == 0 else 200 for i in range(400)],
        }
    )
    from_log = mc.sample_plan(rollout, 30.0, pre_period=log, effect=3.0)
    assert from_log["needed"].tolist() == frame["needed"].tolist()  # same 1 % baseline
    with pytest.raises(ValueError, match=r"baseline .* or pre_period"):
        mc.sample_plan(rollout, 30.0, effect=3.0)
