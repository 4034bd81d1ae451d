"""Power helper: detection grows with the effect, exposure shrinks with mirroring."""

from __future__ import annotations

import pytest
from analysis_helpers import analysis, metric

from modelcanary.analysis import StepPlan, estimate_power
from modelcanary.errors import SpecError


def test_plan_from_analysis() -> None:
    spec = analysis(
        metric("error-rate", threshold_range={"max": 0.01}),
        mirror=True,
        shadow={"iterations": 2},
        interval="30s",
    )
    plan = StepPlan.from_analysis(spec)
    assert [(s.weight, s.mirror_weight, s.intervals) for s in plan.stages] == [
        (0, 100, 2),
        (5, 0, 1),
        (10, 0, 1),
        (25, 0, 1),
        (50, 0, 1),
    ]
    assert plan.passes_to_promote == 6 and plan.interval_s == 30
    assert plan.stage_after(1) == plan.stages[0] and plan.stage_after(6) is None


def test_bigger_effects_are_found_sooner_and_null_rarely() -> None:
    plan = StepPlan.canary([5, 10, 25, 50], 30.0)
    small = estimate_power(plan, 100, baseline=0.005, effect=1.5, runs=150, seed=1)
    big = estimate_power(plan, 100, baseline=0.005, effect=5.0, runs=150, seed=1)
    null = estimate_power(plan, 100, baseline=0.005, effect=1.0, runs=150, seed=1)
    assert big.detection_probability > small.detection_probability
    assert big.detection_probability >= 0.9
    assert big.median_seconds_to_decision is not None
    assert big.median_seconds_to_decision <= (small.median_seconds_to_decision or 1e9)
    assert null.detection_probability <= 0.05  # alpha
    assert big.seconds_to_promote == 120


def test_mirroring_first_detects_before_anyone_is_served() -> None:
    mirrored = StepPlan.canary([5, 10, 25, 50], 30.0, mirror_intervals=2)
    result = estimate_power(mirrored, 100, baseline=0.005, effect=5.0, runs=100, seed=2)
    assert result.median_requests_exposed == 0
    latency = estimate_power(mirrored, 100, baseline=0.0, effect=2.0, metric="latency", runs=100)
    assert latency.detection_probability >= 0.9
    with pytest.raises(ValueError):
        estimate_power(mirrored, 0, baseline=0.01, effect=2)


def test_blue_green_with_mirror_simulates_the_machines_mirrored_stage() -> None:
    spec = analysis(
        metric("error-rate", threshold_range={"max": 0.01}),
        step_weights=None,
        iterations=3,
        mirror=True,
        interval="30s",
    )
    plan = StepPlan.from_analysis(spec)
    # the machine's plan: one blue/green stage mirrored for 3 intervals (was: one mirrored
    # interval, then 3 intervals in which the challenger saw no traffic at all)
    assert [(s.kind, s.weight, s.mirror_weight, s.intervals) for s in plan.stages] == [
        ("bluegreen", 0, 100, 3)
    ]
    result = estimate_power(plan, 20, baseline=0.005, effect=3.0, runs=100, seed=4)
    assert result.seconds_to_promote == 90  # was 120
    assert result.median_requests_exposed in (0, None)  # mirrored copies only


def test_plans_without_traffic_or_with_an_unknown_share_are_refused() -> None:
    no_weights = analysis(metric("error-rate", threshold_range={"max": 0.01}), step_weights=None)
    with pytest.raises(SpecError, match=r"spec\.analysis: has no traffic plan"):
        StepPlan.from_analysis(no_weights)  # was: a one-stage plan at 100%
    with pytest.raises(ValueError, match="no stages"):
        estimate_power(StepPlan((), 30.0), 100, baseline=0.01, effect=2.0)
    ab = analysis(
        metric("error-rate", threshold_range={"max": 0.01}),
        step_weights=None,
        iterations=2,
        match=[{"headers": {"x-canary": {"exact": "always"}}}],
    )
    with pytest.raises(ValueError, match="A/B stage"):  # was: simulated as 100% challenger
        estimate_power(StepPlan.from_analysis(ab), 100, baseline=0.01, effect=2.0)
