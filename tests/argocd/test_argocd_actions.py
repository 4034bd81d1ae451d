"""Argo CD resource actions on ModelRollouts: offered when the operator accepts them, and
applied by the real operator wiring when Argo CD writes what they return."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from argocd_actions import NAMES, argocd_cm_value, discover, run_action
from argocd_journeys import NAMESPACE, Journey, Recorded, weight
from argocd_lua import LUA54, REPO
from controller_fixtures import ROLLOUT_API, PromAPI
from kube_fixtures import KubeApi

from modelcanary.engine import action_from
from modelcanary.hooks._gate import GateServer
from modelcanary.spec import ModelRollout
from modelcanary.spec._phases import Phase

DOC = REPO / "docs" / "argocd.md"


def _expected(obj: dict[str, Any]) -> set[str]:
    """What the operator's state machine accepts now (from its phase table)."""
    status = obj.get("status") or {}
    raw = status.get("phase")
    if not raw:
        return set()
    phase = Phase(raw)
    traits = phase.traits
    message = status.get("message", "")
    paused = status.get("paused") is True
    awaited = phase in (Phase.WAITING, Phase.WAITING_PROMOTION) or (
        phase == Phase.PROGRESSING
        and (
            "paused: waiting for approval" in message
            or "waiting for confirm-traffic-increase" in message
        )
    )
    running = not traits.final and not traits.unstarted
    out = {"approve"} if awaited else set()
    if running and not paused:
        out.add("pause")
    if paused:
        out.add("resume")
    if traits.active or traits.unstarted:
        out.add("abort")
    if traits.active:
        out.add("promote")
    if phase == Phase.FAILED:
        out.add("retry")
    return out


def test_each_recorded_phase_offers_what_the_operator_accepts(recorded: Recorded) -> None:
    seen: set[str] = set()
    for label, obj in recorded.items():
        offered = discover(obj)
        assert set(offered) == set(NAMES), label
        enabled = {name for name, on in offered.items() if on}
        assert enabled == _expected(obj), (label, (obj.get("status") or {}).get("phase"))
        assert offered == discover(obj, runtime=LUA54)
        seen |= enabled
    assert seen == set(NAMES)  # every action is offered somewhere in the journeys


@pytest.mark.parametrize("name", NAMES)
def test_an_action_writes_the_annotations_of_the_cli(recorded: Recorded, name: str) -> None:
    obj = recorded["progressing"]
    after = run_action(name, obj)
    notes = after["metadata"]["annotations"]
    assert notes["modelcanary.io/action"] == name
    assert notes["modelcanary.io/action-reason"] == "from Argo CD"
    assert re.fullmatch(
        rf"argocd-{name}-\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ-\d+", notes["modelcanary.io/action-id"]
    )
    stored = {**obj, "metadata": {"name": "podinfo", "annotations": notes}}
    action = action_from(ModelRollout.model_validate({**stored, "status": None}))
    assert action is not None and action.kind == name
    # a second click (the object has changed since) is a new action, not a repeat of the first
    later = {**obj, "metadata": {**obj["metadata"], "resourceVersion": "999999"}}
    assert (
        run_action(name, later)["metadata"]["annotations"]["modelcanary.io/action-id"]
        != (notes["modelcanary.io/action-id"])
    )
    # nothing but the annotations changes (Lua gives empty lists back as empty tables)
    assert _same(after, {**obj, "metadata": {**obj["metadata"], "annotations": notes}})


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if a in ({}, []) and b in ({}, []):
        return True
    return bool(a == b)


def test_an_object_without_annotations_gets_them() -> None:
    bare = {"metadata": {"name": "m", "namespace": "ml"}, "spec": {}}
    assert run_action("abort", bare)["metadata"]["annotations"]["modelcanary.io/action"] == "abort"


def _argo_applies(j: Journey, name: str) -> None:
    """Argo CD runs the action on the live object and patches what changed (annotations)."""
    live = j.current()
    enabled = discover(live)
    assert enabled[name], (name, live.get("status"))
    notes = run_action(name, live)["metadata"]["annotations"]
    j.kube.patch(
        ROLLOUT_API, "ModelRollout", NAMESPACE, "podinfo", {"metadata": {"annotations": notes}}
    )


def test_pause_resume_abort_retry_from_argo_cd_drive_the_operator(kube: KubeApi) -> None:
    prom = PromAPI()
    try:
        with GateServer(port=0) as gate:
            j = Journey(kube, prom, gate, {})
            j.create()
            j.initialized()
            j.new_image()
            j.until(weight(30), "weight 30")
            _argo_applies(j, "pause")
            j.until(lambda s: s.get("paused") is True, "paused")
            assert not discover(j.current())["pause"]
            _argo_applies(j, "resume")
            j.until(lambda s: s.get("paused") is False, "resumed")
            _argo_applies(j, "abort")
            j.phase("Failed")
            assert j.status()["outcome"] == "aborted"
            assert "from Argo CD" in j.status()["message"]
            _argo_applies(j, "retry")
            j.until(lambda s: s.get("phase") == "Progressing", "retried")
    finally:
        prom.close()


def test_docs_show_the_shipped_scripts() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    values = [
        b["data"]["resource.customizations.actions.modelcanary.io_ModelRollout"]
        for b in blocks
        if isinstance(b, dict)
        and "resource.customizations.actions.modelcanary.io_ModelRollout" in b.get("data", {})
    ]
    assert len(values) == 1, "docs/argocd.md shows the actions' argocd-cm key once"
    assert yaml.safe_load(values[0]) == argocd_cm_value()
