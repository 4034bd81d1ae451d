"""The backtest replays the state machine's own plan (modelcanary.spec._plan), stage by stage.

Before issue 13 the backtest had its own copy of the plan, which differed from the machine's:
blue/green with mirror was one mirrored interval then ``iterations`` unmirrored ones (the
machine mirrors during all ``iterations`` intervals), a canary without weights was replayed
as one 100% interval (the machine has no stages and the spec is refused), and an A/B stage
was planned at weight 100 (the machine routes only matching requests: weight 0 + match).
"""

from __future__ import annotations

import pytest
from analysis_helpers import analysis, metric, plan_log

from modelcanary.analysis import backtest
from modelcanary.errors import SpecError
from modelcanary.spec import MetricSpec
from modelcanary.spec._plan import stages


def _checks() -> list[MetricSpec]:
    return [
        metric("error-rate", threshold_range={"max": 0.05}),
        metric("prediction-agreement", threshold_range={"min": 0.9}),
    ]


def test_blue_green_with_mirror_replays_one_mirrored_stage_as_the_machine_does() -> None:
    spec = analysis(*_checks(), step_weights=None, iterations=3, mirror=True, interval="30s")
    assert [(s.kind, s.mirror_weight, s.intervals) for s in stages(spec)] == [("bluegreen", 100, 3)]
    result = backtest(spec, plan_log(5, [(0, 100)] * 5))
    assert result.verdict == "promoted" and "all 3 planned intervals" in result.reason
    assert result.decided_after_s == pytest.approx(3 * 30, abs=1)  # was 4 intervals
    assert [i.mirror_weight for i in result.intervals] == [100, 100, 100]  # was 100, 0, 0, 0
    for replayed in result.intervals:  # mirror-only checks run in every blue/green interval
        agreement = next(c for c in replayed.checks if c.metric == "prediction-agreement")
        assert agreement.verdict == "pass"
    assert result.challenger_served_before_decision == 0  # blue/green serves no user


def test_canary_without_weights_is_refused_like_the_spec_rules_refuse_it() -> None:
    spec = analysis(*_checks(), step_weights=None, interval="30s")
    assert stages(spec) == []
    with pytest.raises(SpecError, match=r"spec\.analysis: has no traffic plan") as info:
        backtest(spec, plan_log(6, [(100, 0)] * 2))  # was: promoted after one 100% interval
    assert "stepWeights" in str(info.value)  # the fix names the fields to set


def test_ab_stage_is_planned_at_weight_zero_with_its_match() -> None:
    match = [{"headers": {"x-canary": {"exact": "always"}}}]
    spec = analysis(*_checks(), step_weights=None, iterations=2, match=match, interval="30s")
    result = backtest(spec, plan_log(7, [(20, 0)] * 3))
    assert [i.weight for i in result.intervals] == [0, 0]  # was 100: matching requests only
    assert result.verdict == "promoted" and "all 2 planned intervals" in result.reason
