"""The pure side of ``modelcanary rollback``: which versions a rollout knows, how a person names
one, the short plan of each strategy, the spec of the version brought back, and the history
entry the state machine writes once per request."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelcanary.errors import SpecError
from modelcanary.rollout import Observations, Readiness, step
from modelcanary.rollout._rollback import (
    ROLLBACK,
    labels,
    plan_rollback,
    remember,
    rollback_entry,
)
from modelcanary.spec import ModelRollout, RolloutStatus, parse_rollout, stages

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
METRIC = {"name": "error-rate", "thresholdRange": {"max": 0.01}}


def _rollout(analysis: dict[str, Any], **status: Any) -> ModelRollout:
    doc = {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "fraud", "namespace": "ml"},
        "spec": {
            "champion": {"image": "registry.example/fraud:1.0"},
            "challenger": {
                "image": "registry.example/fraud:2.0",
                "name": "two",
                "serving": {"port": 9000, "replicas": 3},
                "env": {"MODE": "fast"},
            },
            "router": {"provider": "istio"},
            "analysis": {"interval": "30s", "metrics": [METRIC], **analysis},
        },
        "status": {
            "phase": "Succeeded",
            "outcome": "promoted",
            "champion": "registry.example/fraud:1.0",
            "challenger": "registry.example/fraud:2.0",
            "champions": ["registry.example/fraud:0.9", "registry.example/fraud:1.0"],
            **status,
        },
    }
    return parse_rollout(doc)


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("models:/fraud/4", {"4", "v4", "fraud/4"}),
        ("models:/fraud@champion", {"champion", "@champion"}),
        ("registry.example:5000/fraud:1.2", {"1.2"}),
        ("registry.example/fraud@sha256:abc", {"sha256:abc"}),
        ("runs:/0a1b/model", {"0a1b"}),
        ("/models/fraud-v3/", {"fraud-v3"}),
        ("http://127.0.0.1:5001", set()),
    ],
)
def test_short_names_of_a_version(source: str, names: set[str]) -> None:
    assert labels(source) == names


def test_known_versions_are_kept_in_order_of_last_service() -> None:
    assert remember(["a", "b"], "a", None, "c") == ["b", "a", "c"]
    assert remember([str(i) for i in range(20)], "x")[-1] == "x"
    assert len(remember([str(i) for i in range(20)], "x")) == 20


@pytest.mark.parametrize(
    ("analysis", "kind", "weight"),
    [
        ({"stepWeights": [5, 25, 60], "stepWeightPromotion": 10, "warmup": "1m"}, "canary", 60),
        (
            {"stepWeight": 15, "maxWeight": 45, "mirror": True, "shadow": {"iterations": 3}},
            "canary",
            45,
        ),
        ({"iterations": 10, "match": [{"headers": {"x-beta": {"exact": "1"}}}]}, "ab", 0),
        ({"iterations": 5}, "bluegreen", 0),
        (
            {"steps": [{"weight": 10, "duration": "5m"}, {"weight": 30, "pause": True}]},
            "canary",
            30,
        ),
    ],
)
def test_the_short_plan_of_each_strategy(analysis: dict[str, Any], kind: str, weight: int) -> None:
    new, _ = plan_rollback(_rollout(analysis), "1.0", "dan", "", NOW)
    plan = stages(new.spec.analysis)
    assert [(s.kind, s.weight, s.intervals, s.pause) for s in plan] == [(kind, weight, 1, False)]
    kept = new.spec.analysis
    assert kept.metrics[0].name == "error-rate" and kept.interval == "30s"
    assert kept.step_weight_promotion is None and kept.warmup is None and kept.shadow is None


def test_the_version_brought_back_keeps_the_serving_template() -> None:
    new, request = plan_rollback(_rollout({"stepWeights": [10]}), "0.9", "dan", "why", NOW)
    assert new.spec.champion is not None and new.spec.challenger is not None
    assert new.spec.champion.image == "registry.example/fraud:2.0"
    assert new.spec.champion.name == "two"  # the spec of the version serving now, as it was
    back = new.spec.challenger
    assert (back.image, back.name, back.env) == (
        "registry.example/fraud:0.9",
        None,
        {"MODE": "fast"},
    )
    assert back.serving is not None and (back.serving.port, back.serving.replicas) == (9000, 3)
    assert new.status is None and not new.spec.skip_analysis
    note = json.loads((new.metadata.annotations or {})[ROLLBACK])
    assert note == {
        "to": "registry.example/fraud:0.9",
        "from": "registry.example/fraud:2.0",
        "by": "dan",
        "reason": "why",
        "at": "2026-12-07T12:00:00.000Z",
    }
    assert request.to == back.image


def test_after_a_failed_rollout_the_champion_is_the_one_that_served() -> None:
    failed = _rollout({"stepWeights": [10]}, phase="Failed", outcome="rolled_back")
    with pytest.raises(SpecError, match="already the champion"):
        plan_rollback(failed, "1.0", "dan", "", NOW)
    new, _ = plan_rollback(failed, "0.9", "dan", "", NOW)
    assert new.spec.champion is not None and new.spec.champion.image.endswith(":1.0")


@pytest.mark.parametrize(
    ("status", "wanted", "text"),
    [
        ({}, "3.0", "'3.0' was never the champion of ml/fraud; known versions: "),
        (
            {"phase": "Progressing", "outcome": None},
            "0.9",
            "is Progressing: a rollout is under way",
        ),
        ({"phase": "WaitingPromotion", "outcome": None}, "0.9", "modelcanary abort fraud"),
    ],
)
def test_refusals_name_the_field_and_the_fix(
    status: dict[str, Any], wanted: str, text: str
) -> None:
    with pytest.raises(SpecError) as caught:
        plan_rollback(_rollout({"stepWeights": [10]}, **status), wanted, "dan", "", NOW)
    assert text in str(caught.value)


def test_a_name_matching_two_versions_is_ambiguous() -> None:
    ro = _rollout(
        {"stepWeights": [10]}, champions=["a.example/fraud:1.0", "registry.example/fraud:1.0"]
    )
    with pytest.raises(SpecError, match="names several versions"):
        plan_rollback(ro, "1.0", "dan", "", NOW)
    new, _ = plan_rollback(ro, "a.example/fraud:1.0", "dan", "", NOW)  # the full source works
    assert new.spec.challenger is not None and new.spec.challenger.image == "a.example/fraud:1.0"


def _tick(ro: ModelRollout, status: RolloutStatus | None, now: datetime) -> RolloutStatus:
    ready = Readiness(champion_ready=True, challenger_ready=True)
    new, _ = step(ro, status, Observations(readiness=ready), now)
    return new


def test_the_machine_records_the_request_once() -> None:
    new, _ = plan_rollback(_rollout({"stepWeights": [10]}), "0.9", "dan", "drift", NOW)
    old_status = _rollout({"stepWeights": [10]}).status
    started = _tick(new, old_status, NOW)
    entries = [r for r in started.history if r.kind == "rollback"]
    assert [(r.version, r.requested_by, r.verdict) for r in entries] == [
        ("registry.example/fraud:0.9", "dan", "skipped")
    ]
    assert started.message.startswith("rollback to registry.example/fraud:0.9")
    assert rollback_entry(new, started.history) is None  # a retry does not record it again
    edited = parse_rollout(
        {**new.to_dict(), "spec": {**new.to_dict()["spec"], "challenger": {"image": "x/y:3"}}}
    )
    assert rollback_entry(edited, []) is None  # a later spec edit is not the rollback


def test_a_malformed_annotation_is_ignored() -> None:
    ro = _rollout({"stepWeights": [10]})
    meta = ro.metadata.model_copy(update={"annotations": {ROLLBACK: "{not json"}})
    assert rollback_entry(ro.model_copy(update={"metadata": meta}), []) is None


def test_the_cluster_patch_drops_what_the_plan_drops() -> None:
    from modelcanary.controller._rollback import merge_patch, rollback_patch
    from modelcanary.ports import Stored

    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": 2, "d": 4}, "e": [1]}) == {
        "a": None,
        "b": {"d": 4},
        "e": [1],
    }
    ro = _rollout({"stepWeights": [5, 50], "stepWeightPromotion": 10, "warmup": "1m"})
    new, _ = plan_rollback(ro, "0.9", "dan", "", NOW)
    patch = rollback_patch(Stored(ro, "42", False), new, "ml")
    assert patch["metadata"]["resourceVersion"] == "42"
    assert set(patch["metadata"]["annotations"]) == {ROLLBACK}
    assert patch["spec"]["analysis"]["stepWeightPromotion"] is None
    assert patch["spec"]["analysis"]["warmup"] is None
    assert patch["spec"]["analysis"]["stepWeights"] == [50]
    assert patch["spec"]["challenger"]["image"] == "registry.example/fraud:0.9"
