"""The Argo CD health check (``operator/argocd/health.lua``) run by a real Lua interpreter
against ModelRollouts recorded from the real operator in every phase, and the snippet in
``docs/argocd.md`` checked to be that very script."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from argocd_journeys import NAMESPACE, Recorded
from argocd_lua import ARGO_HEALTH, LUA54, REPO, SCRIPT_PATH, health
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcanary.spec._status import PHASES

DOC = REPO / "docs" / "argocd.md"
CRD = REPO / "operator" / "crds" / "modelrollouts.yaml"

# label -> (Argo CD health, fragments the message must hold)
EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "created": ("Progressing", ("Waiting for the modelcanary operator",)),
    "initializing": ("Progressing", ("Initializing", "waiting for the champion")),
    "initialized": ("Healthy", ("Initialized", "champion ready")),
    "progressing": ("Progressing", ("Progressing (challenger 30%)",)),
    "promoting": ("Progressing", ("Promoting",)),
    "finalising": ("Progressing", ("Finalising",)),
    "succeeded": ("Healthy", ("Succeeded",)),
    "rolled-back": ("Degraded", ("Failed (rolled back): failed checks 1/1", "errors 0.5")),
    "paused": ("Suspended", ("paused", "challenger 30%", "to continue: modelcanary resume")),
    "resumed": ("Progressing", ("resumed by user",)),
    "aborted": ("Degraded", ("Failed (aborted): aborted by user (from the test)",)),
    "spec-suspend": ("Suspended", ("paused", "set spec.suspend to false")),
    "waiting": ("Suspended", ("approval to start", "confirm-rollout")),
    "traffic-increase-gate": ("Suspended", ("Waiting for approval", "confirm-traffic-increase")),
    "pause-step": ("Suspended", ("Waiting for approval (challenger 40%)", "paused")),
    "waiting-promotion": ("Suspended", ("approval to promote", "confirm-promotion")),
    "invalid-spec": ("Degraded", ("Invalid spec", "stepWeights")),
    "invalid-spec-while-progressing": ("Degraded", ("Invalid spec", "stepWeights")),
    "spec-fixed": ("Progressing", ("Progressing",)),
    "terminating": ("Progressing", ("Terminating",)),
}


def test_every_phase_of_the_operator_is_recorded(recorded: Recorded) -> None:
    phases = {(obj.get("status") or {}).get("phase") for obj in recorded.values()}
    assert set(PHASES) <= phases, set(PHASES) - phases
    assert set(recorded) == set(EXPECTED)


@pytest.mark.parametrize("label", sorted(EXPECTED))
def test_health_of_each_recorded_rollout(recorded: Recorded, label: str) -> None:
    want, fragments = EXPECTED[label]
    obj = recorded[label]
    status, message = health(obj)
    assert status == want, (label, status, message, obj.get("status"))
    for fragment in fragments:
        assert fragment in message, (label, fragment, message)
    assert (status, message) == health(obj, runtime=LUA54)  # nothing Lua-version specific


def test_a_failed_rollout_says_why(recorded: Recorded) -> None:
    status = recorded["rolled-back"]["status"]
    assert status["outcome"] == "rolled_back"
    _, message = health(recorded["rolled-back"])
    assert status["message"].removeprefix("rolled back: ") in message


def test_unobserved_generation_is_progressing(recorded: Recorded) -> None:
    """The operator does not write ``status.observedGeneration`` yet; when a status has it, a
    spec newer than the status is Progressing until the operator catches up."""
    obj = recorded["succeeded"]
    generation = int(obj["metadata"]["generation"])
    assert health(obj)[0] == "Healthy"
    seen = {**obj, "status": {**obj["status"], "observedGeneration": generation}}
    assert health(seen)[0] == "Healthy"
    newer = {**seen, "metadata": {**seen["metadata"], "generation": generation + 1}}
    status, message = health(newer)
    assert status == "Progressing"
    assert f"observe generation {generation + 1}" in message
    assert f"describes generation {generation}" in message


def test_a_phase_of_a_newer_operator_is_unknown(recorded: Recorded) -> None:
    obj = recorded["initialized"]
    future = {**obj, "status": {**obj["status"], "phase": "Rehearsing"}}
    assert health(future) == ("Unknown", f"Unknown phase Rehearsing: {obj['status']['message']}")


STATUS_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "phase": st.sampled_from([*PHASES, "", "Rehearsing"]),
        "message": st.text(max_size=40),
        "canaryWeight": st.integers(0, 100),
        "mirrorWeight": st.integers(0, 100),
        "paused": st.booleans(),
        "outcome": st.sampled_from(
            ["promoted", "rolled_back", "inconclusive", "aborted", "deadline", "error", "new"]
        ),
        "observedGeneration": st.integers(1, 5),
        "conditions": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["Promoted", "SpecValid"]),
                    "status": st.sampled_from(["True", "False", "Unknown"]),
                },
                optional={"message": st.text(max_size=20), "reason": st.just("X")},
            ),
            max_size=3,
        ),
    },
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    status=STATUS_FIELDS,
    generation=st.one_of(st.none(), st.integers(1, 5)),
    suspend=st.one_of(st.none(), st.booleans()),
)
def test_any_status_gives_an_argo_health_never_a_lua_error(
    status: dict[str, Any], generation: int | None, suspend: bool | None
) -> None:
    """A Lua error would show as an error in Argo CD: every shape of status gets a health."""
    meta: dict[str, Any] = {"name": "x", "namespace": NAMESPACE}
    if generation is not None:
        meta["generation"] = generation
    spec: dict[str, Any] = {} if suspend is None else {"suspend": suspend}
    result, message = health({"metadata": meta, "spec": spec, "status": status})
    assert result in ARGO_HEALTH and result != "Missing"  # Missing is Argo's own, not a check's
    assert message
    observed = status.get("observedGeneration")
    stale = observed is not None and generation is not None and observed < generation
    invalid = any(
        c["type"] == "SpecValid" and c["status"] == "False" for c in status.get("conditions", [])
    )
    if invalid or (status.get("phase") == "Failed" and not stale):
        assert result == "Degraded"
    elif stale:
        assert result == "Progressing" and "observe generation" in message


# -- the documented snippet -------------------------------------------------------------------
def _yaml_blocks(text: str) -> list[Any]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)]


def _crd_group_kind() -> tuple[str, str]:
    crd = yaml.safe_load(CRD.read_text(encoding="utf-8"))
    return crd["spec"]["group"], crd["spec"]["names"]["kind"]


def test_docs_snippet_is_the_shipped_script() -> None:
    group, kind = _crd_group_kind()
    key = f"resource.customizations.health.{group}_{kind}"
    config_maps = [
        d
        for d in _yaml_blocks(DOC.read_text(encoding="utf-8"))
        if d.get("kind") == "ConfigMap" and key in d.get("data", {})
    ]
    assert len(config_maps) == 1
    config_map = config_maps[0]
    assert config_map["metadata"]["name"] == "argocd-cm"
    assert config_map["data"][key] == SCRIPT_PATH.read_text(encoding="utf-8")
    kubernetes_validate.validate(config_map, "1.30", strict=True)


def test_helm_values_snippet_is_the_shipped_script() -> None:
    """The argo-cd Helm chart variant (``configs.cm``) carries the same script."""
    group, kind = _crd_group_kind()
    key = f"resource.customizations.health.{group}_{kind}"
    values = [d for d in _yaml_blocks(DOC.read_text(encoding="utf-8")) if "configs" in d]
    assert len(values) == 1
    assert values[0]["configs"]["cm"][key] == SCRIPT_PATH.read_text(encoding="utf-8")


def test_docs_table_matches_the_checks_behaviour(recorded: Recorded) -> None:
    """Each row of the phase table in docs/argocd.md gives the health the script gives."""
    rows = re.findall(r"^\| `(\w+)`[^|]*\| (\w+) \|", DOC.read_text(encoding="utf-8"), flags=re.M)
    documented = dict(rows)
    assert set(documented) == set(PHASES), documented
    plain = {  # a recorded, unpaused rollout of each phase
        (obj.get("status") or {}).get("phase"): obj
        for label, obj in recorded.items()
        if label
        in (
            "initializing",
            "initialized",
            "progressing",
            "promoting",
            "finalising",
            "succeeded",
            "rolled-back",
            "waiting",
            "waiting-promotion",
            "terminating",
        )
    }
    for phase, expected in documented.items():
        assert health(plain[phase])[0] == expected, phase


def test_script_is_plain_lua_51() -> None:
    """gopher-lua is Lua 5.1: no goto, no integer division, no bit operators, no utf8."""
    source = SCRIPT_PATH.read_text(encoding="utf-8")
    code = "\n".join(line.split("--", 1)[0] for line in source.splitlines())
    for token in ("goto", "//", "utf8.", "<<", ">>", "&", "~ "):
        assert token not in code, token
    assert Path(SCRIPT_PATH).name == "health.lua"
