"""What a user sees on the resource (issue 14, items 3.4, 3.7 and 3.8): status conditions and
Events for errors retrying cannot fix, cleared once resolved; ``status.observedGeneration``;
no ERROR log for the write race of a new rollout; a ``WeightChanged`` Event for every step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from controller_fixtures import (
    ROLLOUT_API,
    Kubelet,
    OperatorThread,
    PromAPI,
    deployment,
    rollout_doc,
    wait_for,
)
from kube_fixtures import KubeApi

MR = (ROLLOUT_API, "ModelRollout", "default")


@pytest.fixture(autouse=True)
def clean(kube: KubeApi) -> Iterator[None]:
    kube.reset()
    yield


def _rollout(kube: KubeApi, name: str) -> dict[str, Any]:
    return kube.get(*MR, name) or {}


def _status(kube: KubeApi, name: str) -> dict[str, Any]:
    return _rollout(kube, name).get("status") or {}


def _condition(kube: KubeApi, name: str, kind: str) -> dict[str, Any] | None:
    return next((c for c in _status(kube, name).get("conditions") or [] if c["type"] == kind), None)


def _events(kube: KubeApi, name: str) -> list[dict[str, Any]]:
    return [
        e
        for e in kube.list("v1", "Event", "default")
        if (e.get("involvedObject") or {}).get("name") == name
    ]


def test_a_missing_target_shows_in_a_condition_and_an_event(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    kube.create(rollout_doc("ghost", prometheus=prom.url))  # its Deployment does not exist
    with OperatorThread(kube.api_client):
        condition = wait_for(lambda: _condition(kube, "ghost", "Reconciled"), "a condition")
        assert condition["status"] == "False"
        assert "Deployment default/ghost does not exist" in condition["message"]
        assert "fix:" in condition["message"]
        warnings = wait_for(
            lambda: [
                e
                for e in _events(kube, "ghost")
                if e["type"] == "Warning" and "does not exist" in e["message"]
            ],
            "a Warning Event",
        )
        reported = len(warnings)

        kube.create(deployment("ghost"))  # the user creates it: the condition goes
        wait_for(lambda: _status(kube, "ghost").get("phase") == "Initialized", "Initialized")
        wait_for(lambda: _condition(kube, "ghost", "Reconciled") is None, "the condition cleared")
        wait_for(
            lambda: "Resolved" in {e["reason"] for e in _events(kube, "ghost")}, "Resolved Event"
        )
    # one Warning for the problem, not one per retry
    warnings = [e for e in _events(kube, "ghost") if e["type"] == "Warning"]
    assert len(warnings) == reported == 1


def test_a_fixed_spec_leaves_no_stale_error(kube: KubeApi, prom: PromAPI, kubelet: Kubelet) -> None:
    kube.create(deployment("fixme"))
    kube.create(rollout_doc("fixme", prometheus=prom.url))
    with OperatorThread(kube.api_client):
        wait_for(lambda: _status(kube, "fixme").get("phase") == "Initialized", "Initialized")
        kube.patch(*MR, "fixme", {"spec": {"analysis": {"stepWeights": [60, 30]}}})
        condition = wait_for(lambda: _condition(kube, "fixme", "SpecValid"), "SpecValid")
        assert "stepWeights" in condition["message"]
        kube.patch(*MR, "fixme", {"spec": {"analysis": {"stepWeights": [30, 60]}}})
        wait_for(lambda: _condition(kube, "fixme", "SpecValid") is None, "SpecValid cleared")
    status = _status(kube, "fixme")
    assert status["phase"] == "Initialized"
    assert "stepWeights" not in status["message"], "the stale spec error is still shown"


def test_observed_generation_follows_the_spec(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    kube.create(deployment("gen"))
    kube.create(rollout_doc("gen", prometheus=prom.url))
    with OperatorThread(kube.api_client):
        wait_for(lambda: _status(kube, "gen").get("observedGeneration") == 1, "generation 1")
        kube.patch(*MR, "gen", {"spec": {"analysis": {"threshold": 4}}})
        assert _rollout(kube, "gen")["metadata"]["generation"] == 2
        wait_for(lambda: _status(kube, "gen").get("observedGeneration") == 2, "generation 2")


def test_a_lost_first_write_is_no_error_and_every_step_has_an_event(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet, caplog: pytest.LogCaptureFixture
) -> None:
    """The first status write of a new rollout loses to a concurrent patch (kopf's own, on a
    real server): retried at once, logged at debug level, never at ERROR."""
    prom.values["rollout='race'"] = 0.0
    kube.create(deployment("race"))
    kube.fail_next(
        "PATCH", "/apis/modelcanary.io/v1alpha1/namespaces/default/modelrollouts/race/status"
    )
    kube.create(rollout_doc("race", prometheus=prom.url, weights=(30, 60)))
    with caplog.at_level(logging.DEBUG), OperatorThread(kube.api_client):
        wait_for(lambda: _status(kube, "race").get("phase") == "Initialized", "Initialized")
        target = kube.get("apps/v1", "Deployment", "default", "race") or {}
        containers = target["spec"]["template"]["spec"]["containers"]
        containers[0]["image"] = "ghcr.io/stefanprodan/podinfo:6.1.0"
        kube.patch(
            "apps/v1",
            "Deployment",
            "default",
            "race",
            {"spec": {"template": {"spec": {"containers": containers}}}},
        )
        wait_for(lambda: _status(kube, "race").get("phase") == "Succeeded", "Succeeded", 60)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert any("lost" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    steps = [e["message"] for e in _events(kube, "race") if e["reason"] == "WeightChanged"]
    assert any("30%" in m for m in steps), steps  # the first step too
    assert any("60%" in m for m in steps), steps
