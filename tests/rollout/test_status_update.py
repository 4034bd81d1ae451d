"""Status updates are validated: a misspelt field or a bad value fails where it is written.

``Tick.update`` (every status change the state machine makes) used to be a bare
``model_copy(update=...)``: ``phase="Bogus"`` or ``canary_wieght=10`` were accepted and
surfaced, if ever, much later. Now the name is checked at once and the value is validated
like the status itself; and every ``update(...)`` call site of the machine names real fields
(checked from the syntax tree, so a branch no test reaches is covered too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from machine_harness import READY, T0, rollout
from pydantic import ValidationError

from modelcanary.rollout import Observations
from modelcanary.rollout._transitions import Tick
from modelcanary.spec._phases import Phase
from modelcanary.spec._status import RolloutStatus

ROLLOUT_PACKAGE = Path(__file__).resolve().parents[2] / "modelcanary" / "rollout"


def _tick() -> Tick:
    return Tick(rollout(), RolloutStatus(), Observations(readiness=READY), T0)


def test_a_misspelt_field_fails_at_once_naming_the_real_one() -> None:
    tick = _tick()
    with pytest.raises(TypeError, match="'canary_wieght' \\(did you mean 'canary_weight'\\?\\)"):
        tick.update(canary_wieght=10)
    with pytest.raises(TypeError, match="canaryWeight"):  # YAML spelling: not a field name
        tick.update(canaryWeight=10)
    assert tick.status == RolloutStatus()  # nothing half-applied


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phase", "Bogus"),
        ("canary_weight", 150),
        ("mirror_weight", -1),
        ("failed_checks", "many"),
        ("outcome", "won"),
        ("paused", "perhaps"),
        ("history", [{"time": "t", "phase": "Progressing"}]),  # no verdict
    ],
)
def test_a_wrong_value_fails_at_once(field: str, value: object) -> None:
    tick = _tick()
    with pytest.raises(ValidationError) as caught:
        tick.update(**{field: value})
    assert caught.value.errors()[0]["loc"][0] == field
    assert tick.status == RolloutStatus()


def test_a_good_update_is_typed_and_keeps_the_other_fields() -> None:
    tick = _tick()
    tick.update(message="hello", iterations=3)
    tick.update(phase="Progressing", canary_weight=10)  # a phase name becomes the enum member
    status = tick.status
    assert status.phase is Phase.PROGRESSING and status.phase.traits.analyses
    assert (status.canary_weight, status.iterations, status.message) == (10, 3, "hello")
    assert status.to_dict()["phase"] == "Progressing"


def test_status_updated_is_the_one_validated_copy() -> None:
    status = RolloutStatus(canary_weight=5)
    assert status.updated(canary_weight=10).canary_weight == 10
    assert status.canary_weight == 5  # frozen: a copy
    with pytest.raises(ValidationError):
        status.updated(phase="Rolling")


def _update_keywords() -> list[tuple[str, int, str]]:
    """Every keyword of a ``*.update(...)`` call in the rollout package."""
    found = []
    for path in sorted(ROLLOUT_PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("update", "updated")
            ):
                found += [(path.name, node.lineno, k.arg) for k in node.keywords if k.arg]
    return found


def test_every_update_call_site_names_a_status_field() -> None:
    sites = _update_keywords()
    assert len(sites) > 30  # the machine's call sites were found
    wrong = [site for site in sites if site[2] not in RolloutStatus.model_fields]
    assert wrong == []


def test_a_stored_status_gives_phase_names_and_refuses_others_as_before() -> None:
    from modelcanary.errors import SpecError
    from modelcanary.spec import parse_rollout

    doc = rollout().to_dict()
    doc["status"] = {
        "phase": "Failed",
        "history": [{"time": "t", "phase": "Progressing", "verdict": "pass"}],
    }
    stored = parse_rollout(doc)  # strict, as every document is read
    assert stored.status is not None and stored.status.phase is Phase.FAILED
    assert stored.status.history[0].phase is Phase.PROGRESSING
    doc["status"]["phase"] = "Faild"
    with pytest.raises(SpecError) as caught:
        parse_rollout(doc)
    assert caught.value.issues[0].path == "status.phase"
    assert "did you mean 'Failed'" in str(caught.value)
