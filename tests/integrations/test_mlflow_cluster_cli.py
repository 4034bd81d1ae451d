"""``modelcanary mlflow-hook run --cluster``: the command as a service (a real process against
the kmock API, the operator and a real MLflow server), and its bad input (exit 2 naming the
option, never a traceback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow_cluster_fixtures import Cluster, cluster, operator, template_text, until
from ports import closed_url
from typer.testing import CliRunner

from modelcanary.cli._main import app

runner = CliRunner()
MODELCANARY = str(Path(sys.executable).parent / "modelcanary")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("kube")) as made:
        made.reset()
        yield made


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(uri)


def test_the_command_rolls_back_in_the_cluster_and_stops_on_sigterm(
    trained: Any, register_versions: Any, world: Cluster, tmp_path: Path
) -> None:
    uri = trained.uri
    name = "cl-cli"
    v1, v2 = register_versions(name, "champion", "faulty")
    world.prom.values[f"rollout='{name}'"] = 0.2
    template = tmp_path / "rollout.yaml"
    template.write_text(template_text(world.prom.url, gated=False), encoding="utf-8")
    log = tmp_path / "hook.log"
    command = [
        MODELCANARY,
        "mlflow-hook",
        "run",
        "--cluster",
        "--kubeconfig",
        str(world.kubeconfig),
        "--namespace",
        "default",
        "--tracking-uri",
        uri,
        "--template",
        str(template),
        "--model",
        name,
        "--poll-interval",
        "0.3",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "MODELCANARY_CLUSTER")}
    with operator(world), log.open("wb") as out:
        hook = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            until(lambda: "polling every" in log.read_text(), "the hook started")
            client(uri).set_registered_model_alias(name, "challenger", v2)
            until(lambda: f"{name} v{v2}: rolled_back" in log.read_text(), "the verdict")
            hook.send_signal(signal.SIGTERM)
            assert hook.wait(60) == 0, log.read_text()
        finally:
            if hook.poll() is None:
                hook.kill()
                hook.wait(10)
    text = log.read_text()
    assert "ModelRollouts in namespace default" in text and "Traceback" not in text
    stored = world.resource(name)
    assert stored is not None
    assert stored["spec"]["challenger"]["modelUri"] == f"models:/{name}/{v2}"
    assert stored["status"]["outcome"] == "rolled_back"
    tags = client(uri).get_model_version(name, v2).tags
    assert tags["modelcanary.verdict"] == "rolled_back"
    assert client(uri).get_model_version_by_alias(name, "champion").version == v1


def _run(*args: str) -> Any:
    return runner.invoke(app, ["mlflow-hook", "run", "--tracking-uri", closed_url(), *args])


def _local_template(tmp_path: Path) -> str:
    doc = yaml.safe_load(template_text("http://prometheus:9090", gated=False))
    doc["spec"]["router"] = {"provider": "local"}
    path = tmp_path / "local.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--namespace", "ml"], "--namespace"),  # a namespace without a cluster
        (["--cluster", "--namespace", "Not_A_Namespace"], "--namespace"),
        (["--cluster", "--poll-interval", "0"], "--poll-interval"),
        (["--cluster", "--kubeconfig", "/nonexistent/kubeconfig"], "kubeconfig"),
    ],
)
def test_bad_options_exit_2_naming_the_option(args: list[str], named: str) -> None:
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert named in result.output and "fix:" in result.output, result.output
    assert "Traceback" not in result.output


def test_a_template_the_operator_cannot_run_is_exit_2(tmp_path: Path) -> None:
    result = _run("--cluster", "--template", _local_template(tmp_path))
    assert result.exit_code == 2, result.output
    assert "spec.router.provider" in result.output and "local.yaml" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_cluster_is_exit_1_with_a_message(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "gone", "cluster": {"server": closed_url()}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
                "current-context": "gone",
            }
        ),
        encoding="utf-8",
    )
    result = _run("--kubeconfig", str(config))  # --kubeconfig implies --cluster
    assert result.exit_code == 1, result.output
    assert "cannot reach the Kubernetes API" in result.output
    assert "Traceback" not in result.output
