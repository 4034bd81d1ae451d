"""A cluster-mode hook that stops mid-rollout and starts again: it follows the rollout again
(same MLflow run, no interval logged twice) and moves the champion alias exactly once per
promotion, also when the promotion happened while it was down, or when it stopped between the
alias move and the verdict tag. The alias history is what MLflow delivered to a webhook: every
``set_registered_model_alias`` call is one delivery, even to the version the alias has."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from mlflow_cluster_fixtures import Cluster, alias_history, cluster, operator, template_text, until

from modelcanary.integrations._mlflow_hook import RegistryHook

NAME = "cl-restart"
RUN_TAG, VERDICT_TAG = "modelcanary.run_id", "modelcanary.verdict"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("kube")) as made:
        made.reset()
        yield made


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(uri)


def tags(uri: str, version: str) -> dict[str, str]:
    return dict(client(uri).get_model_version(NAME, version).tags)


def champion(uri: str) -> str:
    return str(client(uri).get_model_version_by_alias(NAME, "champion").version)


def logged(uri: str, run_id: str) -> list[Any]:
    return list(client(uri).get_metric_history(run_id, "canary_weight"))


def millis(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def test_a_restarted_hook_follows_again_and_moves_the_champion_alias_once(
    trained: Any, register_versions: Any, world: Cluster, tmp_path: Path
) -> None:
    uri = trained.uri
    v1, v2, v3, v4 = register_versions(NAME, "champion", "healthy", "healthy", "healthy")
    world.prom.values[f"rollout='{NAME}'"] = 0.0
    template = tmp_path / "rollout.yaml"
    template.write_text(template_text(world.prom.url, gated=True), encoding="utf-8")
    rollouts = world.rollouts()

    def hook() -> RegistryHook:
        """A new hook process: nothing in memory, polling the registry."""
        made = RegistryHook(
            uri, template=template, models=[NAME], poll_interval=0.3, cluster=world.rollouts()
        )
        return made.start()

    def waiting(version: str) -> bool:
        status = world.status(NAME)
        return status.get("challenger") == f"models:/{NAME}/{version}" and (
            status.get("phase") == "WaitingPromotion"
        )

    def succeeded(version: str) -> bool:
        status = world.status(NAME)
        return status.get("challenger") == f"models:/{NAME}/{version}" and (
            status.get("phase") == "Succeeded"
        )

    with alias_history(uri) as history, operator(world):
        # 1. the hook stops while v2 waits for promotion; a new hook follows it again
        first = hook()
        client(uri).set_registered_model_alias(NAME, "challenger", v2)
        until(lambda: waiting(v2), "v2 analysed")
        run_v2 = tags(uri, v2)[RUN_TAG]
        until(lambda: len(logged(uri, run_v2)) >= 2, "v2's intervals logged")
        first.close()
        before = len(logged(uri, run_v2))
        second = hook()
        until(lambda: len(logged(uri, run_v2)) > before + 1, "v2 followed again")
        rollouts.act(NAME, "default", "approve", "ship v2")
        until(lambda: [o.outcome for o in second.outcomes] == ["promoted"], "v2's verdict")
        assert tags(uri, v2)[VERDICT_TAG] == "promoted" and champion(uri) == v2
        assert tags(uri, v2)[RUN_TAG] == run_v2  # the same run, continued
        points = logged(uri, run_v2)
        history_v2 = world.status(NAME)["history"]
        assert [p.step for p in points] == list(range(len(points)))
        assert [p.timestamp for p in points] == [millis(r["time"]) for r in history_v2]
        assert client(uri).get_run(run_v2).info.status == "FINISHED"

        # 2. v3 is promoted while no hook runs: the next hook moves the alias, once
        client(uri).set_registered_model_alias(NAME, "challenger", v3)
        until(lambda: waiting(v3), "v3 analysed")
        second.close()
        rollouts.act(NAME, "default", "approve", "ship v3")
        until(lambda: succeeded(v3), "v3 promoted by the operator")
        assert champion(uri) == v2 and VERDICT_TAG not in tags(uri, v3)
        third = hook()
        until(lambda: [o.version for o in third.outcomes] == [v3], "v3's verdict")
        assert tags(uri, v3)[VERDICT_TAG] == "promoted" and champion(uri) == v3
        assert client(uri).get_run(tags(uri, v3)[RUN_TAG]).info.status == "FINISHED"

        # 3. the hook stops after moving the alias to v4 but before tagging the verdict (the
        #    test makes that last write, as the stopped hook had): nothing moves it again
        client(uri).set_registered_model_alias(NAME, "challenger", v4)
        until(lambda: waiting(v4), "v4 analysed")
        third.close()
        rollouts.act(NAME, "default", "approve", "ship v4")
        until(lambda: succeeded(v4), "v4 promoted by the operator")
        client(uri).set_registered_model_alias(NAME, "champion", v4)
        fourth = hook()
        until(lambda: [o.version for o in fourth.outcomes] == [v4], "v4's verdict")
        fourth.close()
        assert tags(uri, v4)[VERDICT_TAG] == "promoted" and champion(uri) == v4

        # every delivery up to here has arrived once this later one has
        client(uri).set_registered_model_alias(NAME, "flushed", v1)
        until(lambda: history.of(NAME, "flushed"), "the last delivery")

    assert history.of(NAME, "champion") == [v2, v3, v4]
    assert "challenger" not in client(uri).get_registered_model(NAME).aliases
    runs = {tags(uri, v)[RUN_TAG] for v in (v2, v3, v4)}
    assert len(runs) == 3
