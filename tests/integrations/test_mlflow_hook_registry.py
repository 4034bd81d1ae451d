"""The hook on a real MLflow server: webhooks and polling turn challenger aliases into rollouts."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from modelcanary.integrations._mlflow_hook import RegistryHook, register_webhook
from modelcanary.integrations._mlflow_hook_receiver import RegistryEvent, sign

SECRET = "test-secret"


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(uri)


def until(check: Callable[[], bool], timeout: float = 240.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def tags(uri: str, name: str, version: str) -> dict[str, str]:
    return dict(client(uri).get_model_version(name, version).tags)


def champion(uri: str, name: str) -> str:
    return str(client(uri).get_model_version_by_alias(name, "champion").version)


class _FirstPollSeen(RegistryHook):
    """The real hook; ``first_poll`` is set once its first registry poll has ended."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.first_poll = threading.Event()
        super().__init__(*args, **kwargs)

    def poll_once(self) -> None:
        super().poll_once()
        self.first_poll.set()


def test_webhooks_promote_the_healthy_and_roll_back_the_faulty_challenger(
    trained: Any, register_versions: Any, template: Path
) -> None:
    uri = trained.uri
    good = register_versions("hook-good", "champion", "healthy")
    bad = register_versions("hook-bad", "champion", "faulty")
    hook = RegistryHook(
        uri,
        secret=SECRET,
        template=template,
        models=["hook-good", "hook-bad"],
        poll_interval=3600,  # only webhooks drive this test
        payloads=trained.payloads,
    )
    with hook:
        webhook = register_webhook(uri, hook.url, SECRET, name=f"t-{uuid.uuid4().hex[:8]}")
        try:
            time.sleep(1.5)  # the server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL
            client(uri).set_registered_model_alias("hook-good", "challenger", good[1])
            client(uri).set_registered_model_alias("hook-bad", "challenger", bad[1])
            until(lambda: len(hook.outcomes) == 2)
        finally:
            client(uri).delete_webhook(webhook)
        assert hook.receiver is not None and hook.receiver.accepted >= 2
    outcomes = {o.name: o for o in hook.outcomes}
    assert outcomes["hook-good"].outcome == "promoted", outcomes["hook-good"].message
    assert outcomes["hook-bad"].outcome == "rolled_back", outcomes["hook-bad"].message
    # promoted: champion alias moved, challenger alias deleted, verdict tagged
    assert champion(uri, "hook-good") == good[1]
    assert "challenger" not in client(uri).get_registered_model("hook-good").aliases
    assert tags(uri, "hook-good", good[1])["modelcanary.verdict"] == "promoted"
    # rolled back: champion untouched, verdict and reason tagged
    assert champion(uri, "hook-bad") == bad[0]
    bad_tags = tags(uri, "hook-bad", bad[1])
    assert bad_tags["modelcanary.verdict"] == "rolled_back"
    assert "error-rate" in bad_tags["modelcanary.reason"]
    # the analysis is an MLflow run linked to the version, with metrics and the report
    run = client(uri).get_run(tags(uri, "hook-good", good[1])["modelcanary.run_id"])
    assert run.data.tags["modelcanary.model_version"] == f"hook-good/{good[1]}"
    assert {"error-rate", "error-rate.pass", "latency-p99"} <= set(run.data.metrics)
    history = client(uri).get_metric_history(run.info.run_id, "canary_weight")
    assert [m.step for m in history] == list(range(len(history))) and history
    artifacts = [a.path for a in client(uri).list_artifacts(run.info.run_id)]
    assert "report.html" in artifacts
    experiment = client(uri).get_experiment(run.info.experiment_id)
    assert experiment.name == "modelcanary"


def test_forged_and_duplicate_deliveries_start_nothing(
    trained: Any, register_versions: Any, template: Path
) -> None:
    uri = trained.uri
    versions = register_versions("hook-forged", "champion", "healthy")
    hook = _FirstPollSeen(
        uri,
        secret=SECRET,
        template=template,
        models=["hook-forged"],
        poll_interval=3600,
        payloads=trained.payloads,
    )
    body = json.dumps(
        {
            "entity": "model_version_alias",
            "action": "created",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"name": "hook-forged", "alias": "challenger", "version": versions[1]},
        }
    ).encode()

    def post(secret: str, delivery: str) -> httpx.Response:
        stamp = str(int(time.time()))
        signature = sign(secret, delivery, stamp, body)
        head = {
            "X-MLflow-Delivery-Id": delivery,
            "X-MLflow-Timestamp": stamp,
            "X-MLflow-Signature": signature,
        }
        return httpx.post(hook.url, content=body, headers=head, timeout=10)

    with hook:
        # the first poll found no challenger (a fixed 0.5 s sleep raced it on a loaded machine:
        # a poll after the alias below starts the rollout the forged delivery must not start)
        assert hook.first_poll.wait(120), "the hook's first registry poll did not end"
        client(uri).set_registered_model_alias("hook-forged", "challenger", versions[1])
        forged = post("not-the-secret", "d-1")
        time.sleep(1)
        assert forged.status_code == 401
        assert hook.outcomes == [] and not hook._active  # nothing started
        assert post(SECRET, "d-2").status_code == 200
        assert hook._active["hook-forged"].version == versions[1]
        replay = post(SECRET, "d-2")
        assert replay.json() == {"ignored": "duplicate"}
        assert hook.receiver is not None and hook.receiver.accepted == 1
        client(uri).delete_registered_model_alias("hook-forged", "challenger")
        # the alias deletion aborts the rollout in flight (the event MLflow would deliver)
        hook.handle(
            RegistryEvent("model_version_alias", "deleted", "hook-forged", None, "challenger")
        )
        until(lambda: len(hook.outcomes) == 1)
    assert hook.outcomes[0].outcome == "aborted"
    assert champion(uri, "hook-forged") == versions[0]
    assert tags(uri, "hook-forged", versions[1])["modelcanary.verdict"] == "aborted"


def test_a_missed_webhook_is_caught_by_polling(
    trained: Any, register_versions: Any, template: Path
) -> None:
    uri = trained.uri
    versions = register_versions("hook-polled", "champion", "healthy")
    client(uri).set_registered_model_alias("hook-polled", "challenger", versions[1])  # no hook yet
    hook = RegistryHook(uri, template=template, poll_interval=1, payloads=trained.payloads)
    with hook:  # no secret: polling only, all models carrying the challenger alias
        until(lambda: any(o.name == "hook-polled" for o in hook.outcomes))
        time.sleep(1.5)  # more polls: a decided challenger is not rolled out again
    mine = [o for o in hook.outcomes if o.name == "hook-polled"]
    assert [o.outcome for o in mine] == ["promoted"], mine[0].message
    assert champion(uri, "hook-polled") == versions[1]
