"""The MLflow hook in cluster mode, end to end: a real MLflow server (sqlite, webhooks), the
kmock Kubernetes API and the real operator in a thread. A challenger alias creates or patches
the model's ModelRollout; the operator decides; the hook writes the verdict back and logs the
MLflow run while the rollout progresses."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from mlflow_cluster_fixtures import (
    SECRET,
    Cluster,
    cluster,
    operator,
    template_text,
    until,
)

from modelcanary.integrations._mlflow_hook import RegistryHook, register_webhook

RUN_TAG, VERDICT_TAG, REASON_TAG = "modelcanary.run_id", "modelcanary.verdict", "modelcanary.reason"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("kube")) as made:
        yield made


@pytest.fixture(autouse=True)
def clean(world: Cluster) -> Iterator[None]:
    world.reset()
    yield


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(uri)


def tags(uri: str, name: str, version: str) -> dict[str, str]:
    return dict(client(uri).get_model_version(name, version).tags)


def alias(uri: str, name: str, which: str) -> str | None:
    return dict(client(uri).get_registered_model(name).aliases or {}).get(which)


def weights(uri: str, run_id: str) -> list[Any]:
    """The run's ``canary_weight`` history: one point per analysis interval logged."""
    return list(client(uri).get_metric_history(run_id, "canary_weight"))


def millis(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def serves(world: Cluster, deployment: str) -> str:
    """The model URI a serving Deployment runs (``modelcanary serve URI``)."""
    obj = world.kube.get("apps/v1", "Deployment", "default", deployment)
    assert obj is not None, deployment
    return str(obj["spec"]["template"]["spec"]["containers"][0]["args"][1])


def test_cluster_hook_promotes_the_good_and_rolls_back_the_bad_challenger(
    trained: Any, register_versions: Any, world: Cluster, tmp_path: Path
) -> None:
    uri = trained.uri
    good = register_versions("cl-good", "champion", "healthy")
    bad = register_versions("cl-bad", "champion", "faulty")
    world.prom.values["rollout='cl-good'"] = 0.0
    world.prom.values["rollout='cl-bad'"] = 0.5
    template = tmp_path / "rollout.yaml"
    template.write_text(template_text(world.prom.url, gated=True), encoding="utf-8")
    hook = RegistryHook(
        uri,
        secret=SECRET,
        template=template,
        models=["cl-good", "cl-bad"],
        poll_interval=3600,  # only webhooks start these rollouts
        cluster=world.rollouts(),
        namespace="default",
    )
    with operator(world), hook:
        webhook = register_webhook(uri, hook.url, SECRET, name=f"t-{uuid.uuid4().hex[:8]}")
        try:
            time.sleep(1.5)  # the server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL
            client(uri).set_registered_model_alias("cl-good", "challenger", good[1])
            client(uri).set_registered_model_alias("cl-bad", "challenger", bad[1])
            until(lambda: any(o.name == "cl-bad" for o in hook.outcomes), "cl-bad's verdict")

            # the good one is analysed and waits for promotion (a closed gate): the run
            # already holds its intervals and phase, and nothing is decided yet
            until(lambda: world.status("cl-good").get("phase") == "WaitingPromotion", "gate")
            run_id = tags(uri, "cl-good", good[1])[RUN_TAG]
            until(
                lambda: (
                    len(weights(uri, run_id)) >= 2
                    and client(uri).get_run(run_id).data.tags.get("modelcanary.phase")
                    == "WaitingPromotion"
                ),
                "intervals logged while the rollout runs",
            )
            assert client(uri).get_run(run_id).info.status == "RUNNING"
            assert VERDICT_TAG not in tags(uri, "cl-good", good[1])
            assert alias(uri, "cl-good", "champion") == good[0]

            world.rollouts().act("cl-good", "default", "approve", "looks good")
            until(lambda: len(hook.outcomes) == 2, "both verdicts")
        finally:
            client(uri).delete_webhook(webhook)

    outcomes = {o.name: o for o in hook.outcomes}
    assert outcomes["cl-good"].outcome == "promoted", outcomes["cl-good"].message
    assert outcomes["cl-bad"].outcome == "rolled_back", outcomes["cl-bad"].message

    # the model's ModelRollout, as the hook applied it and the operator ran it
    stored = world.resource("cl-good")
    assert stored is not None
    assert stored["spec"]["challenger"]["modelUri"] == f"models:/cl-good/{good[1]}"
    assert stored["spec"]["champion"]["modelUri"] == f"models:/cl-good/{good[0]}"
    assert stored["spec"]["challenger"]["env"] == {"MLFLOW_TRACKING_URI": uri}
    assert stored["metadata"]["annotations"]["modelcanary.io/mlflow-version"] == good[1]
    assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modelcanary-mlflow-hook"
    assert serves(world, "cl-good-primary") == f"models:/cl-good/{good[1]}"  # promoted
    assert serves(world, "cl-bad-primary") == f"models:/cl-bad/{bad[0]}"  # champion kept

    # promoted: champion alias moved, challenger alias deleted, verdict tagged
    assert alias(uri, "cl-good", "champion") == good[1]
    assert alias(uri, "cl-good", "challenger") is None
    assert tags(uri, "cl-good", good[1])[VERDICT_TAG] == "promoted"
    # rolled back: champion untouched, verdict and the operator's reason tagged
    assert alias(uri, "cl-bad", "champion") == bad[0]
    bad_tags = tags(uri, "cl-bad", bad[1])
    assert bad_tags[VERDICT_TAG] == "rolled_back"
    assert "errors" in bad_tags[REASON_TAG]

    # each analysis interval is in the run once, at its step and at the operator's time
    for name, version in (("cl-good", good[1]), ("cl-bad", bad[1])):
        run = client(uri).get_run(tags(uri, name, version)[RUN_TAG])
        points = weights(uri, run.info.run_id)
        history = world.status(name)["history"]
        assert [p.step for p in points] == list(range(len(history)))
        assert [p.timestamp for p in points] == [millis(r["time"]) for r in history]
        assert [p.value for p in points] == [r["canaryWeight"] for r in history]
        assert {"errors", "errors.pass"} <= set(run.data.metrics)
        assert "report.html" in [a.path for a in client(uri).list_artifacts(run.info.run_id)]
        assert run.data.tags["modelcanary.resource"] == f"default/{name}"
    good_run = client(uri).get_run(tags(uri, "cl-good", good[1])[RUN_TAG])
    assert good_run.info.status == "FINISHED" and good_run.data.tags["modelcanary.outcome"] == (
        "promoted"
    )
    bad_run = client(uri).get_run(tags(uri, "cl-bad", bad[1])[RUN_TAG])
    assert bad_run.info.status == "FAILED"
    assert bad_run.data.metrics["errors"] == 0.5


def test_a_newer_challenger_supersedes_and_a_deleted_alias_aborts(
    trained: Any, register_versions: Any, world: Cluster, tmp_path: Path
) -> None:
    uri = trained.uri
    name = "cl-moving"
    versions = register_versions(name, "champion", "healthy", "healthy")
    world.prom.values[f"rollout='{name}'"] = 0.0
    template = tmp_path / "rollout.yaml"
    template.write_text(template_text(world.prom.url, gated=True), encoding="utf-8")
    hook = RegistryHook(
        uri, template=template, models=[name], poll_interval=0.3, cluster=world.rollouts()
    )
    with operator(world), hook:
        client(uri).set_registered_model_alias(name, "challenger", versions[1])
        until(lambda: world.status(name).get("phase") == "WaitingPromotion", "v2 analysed")
        client(uri).set_registered_model_alias(name, "challenger", versions[2])
        until(lambda: VERDICT_TAG in tags(uri, name, versions[1]), "v2 superseded")
        until(
            lambda: (
                world.status(name).get("challenger") == f"models:/{name}/{versions[2]}"
                and world.status(name).get("phase") == "WaitingPromotion"
            ),
            "v3 analysed",
        )
        client(uri).delete_registered_model_alias(name, "challenger")
        until(lambda: VERDICT_TAG in tags(uri, name, versions[2]), "v3 aborted")

    first, second = tags(uri, name, versions[1]), tags(uri, name, versions[2])
    assert (first[VERDICT_TAG], first[REASON_TAG]) == ("aborted", f"superseded by v{versions[2]}")
    assert second[VERDICT_TAG] == "aborted"
    assert "challenger' alias deleted" in second[REASON_TAG]  # the operator's abort, with why
    status = world.status(name)
    assert (status["phase"], status["outcome"]) == ("Failed", "aborted")
    assert alias(uri, name, "champion") == versions[0]
    assert serves(world, f"{name}-primary") == f"models:/{name}/{versions[0]}"
    # v2's run ends with v2's intervals only; v3's starts at step 0 with its own
    for version in versions[1:]:
        run = client(uri).get_run(tags(uri, name, version)[RUN_TAG])
        assert run.info.status == "FAILED"
        assert run.data.tags["modelcanary.outcome"] == "aborted"
        assert run.data.params["challenger"] == f"models:/{name}/{version}"
        points = weights(uri, run.info.run_id)
        assert points and [p.step for p in points] == list(range(len(points)))
    v2_points = weights(uri, tags(uri, name, versions[1])[RUN_TAG])
    v3_points = weights(uri, tags(uri, name, versions[2])[RUN_TAG])
    assert max(p.timestamp for p in v2_points) < min(p.timestamp for p in v3_points)
