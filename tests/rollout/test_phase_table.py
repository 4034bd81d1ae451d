"""One phase table: every fact about a phase comes from ``spec.phases``, never a second list.

The structural check reads every module of the package (its syntax tree, not its text) and
fails on a tuple, set, list or ``Literal`` of two or more phase (or action) names, or a dict
of constants keyed by phases, outside ``spec/_phases.py``: that is how the copies in
``machine.py``, ``observations.py``, ``converge.py``, the runner and the CLI looked before.
(The CLI's help text per action is a dict keyed by actions, checked to name every action.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from modelcanary.spec._analysis import WEBHOOK_TYPES
from modelcanary.spec._crd import openapi_schema
from modelcanary.spec._phases import GATE_TYPES, PHASE_TABLE, Action, Phase
from modelcanary.spec._status import PHASES, RolloutStatus

PACKAGE = Path(__file__).resolve().parents[2] / "modelcanary"
TABLE_MODULE = PACKAGE / "spec" / "phases.py"
PHASE_NAMES = {p.value for p in Phase}
ACTION_NAMES = {a.value for a in Action}
MEMBERS = {"Phase": set(Phase.__members__), "Action": set(Action.__members__)}


def _vocabulary(node: ast.expr | None, actions: bool = True) -> bool:
    """A phase (or action) named as a string constant or as ``Phase.X`` (``Action.X``)."""
    names = PHASE_NAMES | ACTION_NAMES if actions else PHASE_NAMES
    if isinstance(node, ast.Constant):
        return node.value in names
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and (node.value.id == "Phase" or actions)
        and node.attr in MEMBERS.get(node.value.id, set())
    )


def second_sets(source: str) -> list[int]:
    """Line numbers of the phase/action collections in ``source``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple | ast.Set | ast.List):
            if sum(_vocabulary(e) for e in node.elts) >= 2:
                lines.append(node.lineno)
        elif isinstance(node, ast.Dict):
            data = all(isinstance(v, ast.Constant) for v in node.values)
            if data and sum(_vocabulary(k, actions=False) for k in node.keys) >= 2:
                lines.append(node.lineno)
    return lines


def test_the_check_finds_the_copies_it_is_meant_to_find() -> None:
    assert second_sets('ANALYSING = ("Progressing", "WaitingPromotion")') == [1]
    assert second_sets("if p in {Phase.SUCCEEDED, Phase.FAILED}: pass") == [1]
    assert second_sets('P = Literal["Succeeded", "Failed", "Other"]') == [1]
    assert second_sets('COLOURS = {"Succeeded": "#0f0", "Failed": "#f00"}') == [1]
    assert second_sets('ACTIONS = ("promote", "abort")') == [1]
    assert second_sets('tick.notify("Waiting", "info", "why")') == []
    assert second_sets("HANDLERS = {Phase.FAILED: idle, Phase.SUCCEEDED: idle}") == []


def test_no_module_keeps_a_second_set_of_phases_or_actions() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == TABLE_MODULE:
            continue
        lines = second_sets(path.read_text(encoding="utf-8"))
        if lines:
            found[str(path.relative_to(PACKAGE.parent))] = lines
    assert found == {}, f"read spec.phases (phase.traits) instead of listing phases: {found}"


def test_every_phase_has_one_row_and_the_rows_agree_with_each_other() -> None:
    assert set(PHASE_TABLE) == set(Phase)
    for phase, traits in PHASE_TABLE.items():
        assert phase.traits is traits
        assert not traits.decided or traits.final, phase
        assert not traits.analyses or (traits.active and traits.challenger_traffic), phase
        assert not (traits.unstarted and traits.active), phase
        assert (traits.promoted_condition == "True") == (phase == Phase.SUCCEEDED), phase
        assert (traits.status_gauge != 0) == traits.decided, phase
        assert set(traits.gates) <= set(GATE_TYPES), phase
    assert set(GATE_TYPES) <= set(WEBHOOK_TYPES)
    assert set(GATE_TYPES) == {g for t in PHASE_TABLE.values() for g in t.gates}


def test_the_crd_and_the_status_list_the_enum_values() -> None:
    status = openapi_schema()["properties"]["status"]["properties"]
    history = status["history"]["items"]["properties"]
    assert status["phase"]["enum"] == history["phase"]["enum"] == [p.value for p in Phase]
    assert list(PHASES) == [p.value for p in Phase]
    assert RolloutStatus().phase is Phase.INITIALIZING
    # a member is its string: what is written is unchanged
    assert RolloutStatus(phase=Phase.FAILED).to_dict()["phase"] == "Failed"
    assert type(RolloutStatus(phase=Phase.FAILED).to_dict()["phase"]) is str


@pytest.mark.parametrize("module", ["_control_cmd", "_kubectl_plugin"])
def test_every_action_has_a_cli_command_help(module: str) -> None:
    import importlib

    helps = importlib.import_module(f"modelcanary.cli.{module}").ACTION_HELP
    assert set(helps) == {a.value for a in Action}
