"""One traffic plan: ``modelcanary.spec._plan`` is the only place stages are computed.

The state machine, the route convergence, the backtest, the power helper and the notebook
helpers all use its objects; a second definition (a ``Stage`` class, a ``stages`` function, a
consumer re-deriving stages from the plan fields of ``spec.analysis``) fails here.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import modelcanary.analysis as analysis_pkg
import modelcanary.rollout as rollout_pkg
from modelcanary.spec import Analysis
from modelcanary.spec import _plan as spec_plan

PACKAGE = Path(spec_plan.__file__).resolve().parents[1]
HOME = PACKAGE / "spec" / "plan.py"
PLAN_NAMES = {"Stage", "StepPlan", "stages", "promotion_weights", "mirror_percent"}
"""Classes and functions that define the plan: defined in spec/_plan.py only."""
PLAN_FIELDS = {"step_weights", "step_weight", "max_weight", "shadow", "steps"}
"""The ``spec.analysis`` fields a plan is computed from (and its ``weights()`` method)."""
CONSUMERS = ["rollout", "analysis", "notebook", "_report.py"]
"""Where stages are used, never computed (the report and the widget read recorded weights)."""


def _modules(*parts: str) -> list[Path]:
    out: list[Path] = []
    for part in parts:
        path = PACKAGE / part
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def test_the_plan_is_defined_once() -> None:
    defined: dict[str, list[str]] = {}
    for path in _modules("."):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name in PLAN_NAMES:
                defined.setdefault(node.name, []).append(str(path.relative_to(PACKAGE)))
    assert defined == {name: ["spec/_plan.py"] for name in PLAN_NAMES}


def test_consumers_do_not_rederive_stages_from_the_spec() -> None:
    found = []
    for path in _modules(*CONSUMERS):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in PLAN_FIELDS:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} .{node.attr}")
            func = node.func if isinstance(node, ast.Call) else None
            if isinstance(func, ast.Attribute) and func.attr == "weights":
                found.append(f"{path.relative_to(PACKAGE)}:{func.lineno} .weights()")
    assert found == [], "compute stages with modelcanary.spec._plan, not from spec.analysis"


def test_machine_backtest_power_and_helpers_use_the_spec_plan() -> None:
    mod = importlib.import_module
    transitions_mod, converge_mod = (
        mod("modelcanary.rollout._transitions"),
        mod("modelcanary.rollout._converge"),
    )
    assert transitions_mod.stages is spec_plan.stages
    assert transitions_mod.promotion_weights is spec_plan.promotion_weights
    assert converge_mod.stages is spec_plan.stages
    assert rollout_pkg.Stage is spec_plan.Stage
    assert analysis_pkg.StepPlan is spec_plan.StepPlan
    for name in ("analysis._backtest", "analysis._power", "notebook._helpers"):
        assert mod(f"modelcanary.{name}").StepPlan is spec_plan.StepPlan, name


CASES = {
    "canary": {"stepWeights": [5, 25, 50]},
    "canary+mirror": {"stepWeight": 20, "maxWeight": 50, "mirror": True, "mirrorWeight": 30},
    "canary+shadow": {"stepWeights": [10], "mirror": True, "shadow": {"iterations": 2}},
    "ab+mirror": {"iterations": 2, "mirror": True, "match": [{"headers": {"x": {"exact": "1"}}}]},
    "bluegreen": {"iterations": 3},
    "bluegreen+mirror": {"iterations": 3, "mirror": True},
    "bluegreen+shadow": {"iterations": 3, "mirror": True, "shadow": {"iterations": 2}},
    "steps": {
        "interval": "30s",
        "steps": [{"weight": 10, "duration": "90s"}, {"weight": 50, "pause": True}],
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_replayed_plan_is_the_machines_plan(case: str) -> None:
    analysis = Analysis.model_validate(CASES[case])
    machine = spec_plan.stages(analysis)
    replay = spec_plan.StepPlan.from_analysis(analysis)
    assert replay.stages == tuple(machine)
    assert replay.passes_to_promote == sum(s.intervals for s in machine)
    last = replay.stage_after(replay.passes_to_promote - 1)
    assert last == machine[-1] and replay.stage_after(replay.passes_to_promote) is None


def test_blue_green_mirror_is_one_mirrored_stage() -> None:
    plan = spec_plan.stages(Analysis.model_validate(CASES["bluegreen+mirror"]))
    assert [(s.kind, s.weight, s.mirror_weight, s.intervals) for s in plan] == [
        ("bluegreen", 0, 100, 3)
    ]
    steps = spec_plan.stages(Analysis.model_validate(CASES["steps"]))
    assert [(s.weight, s.intervals, s.pause) for s in steps] == [(10, 3, False), (50, 1, True)]
