"""``promote_if_better`` for pipelines, and the ``modelcanary mlflow-hook register`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from modelcanary.cli._main import app
from modelcanary.integrations._mlflow_api import promote_if_better


def test_promote_if_better_promotes_then_rolls_back(
    trained: Any, register_versions: Any, template: Path
) -> None:
    from mlflow import MlflowClient

    uri = trained.uri
    client = MlflowClient(uri)
    _, v2, v3 = register_versions("api-model", "champion", "healthy", "faulty")
    client.set_registered_model_tag("api-model", "modelcanary.rollout", template.read_text())
    first = promote_if_better("api-model", v2, tracking_uri=uri, payloads=trained.payloads)
    assert first == "promoted"
    assert client.get_model_version_by_alias("api-model", "champion").version == v2
    second = promote_if_better(
        "api-model", v3, template, tracking_uri=uri, payloads=trained.payloads
    )
    assert second == "rolled_back"
    assert client.get_model_version_by_alias("api-model", "champion").version == v2
    assert client.get_model_version("api-model", v3).tags["modelcanary.verdict"] == "rolled_back"


def test_promote_if_better_without_a_template_is_an_error_verdict(
    trained: Any, register_versions: Any
) -> None:
    from mlflow import MlflowClient

    _, v2 = register_versions("api-untemplated", "champion", "healthy")
    assert promote_if_better("api-untemplated", v2, tracking_uri=trained.uri) == "error"
    tags = MlflowClient(trained.uri).get_model_version("api-untemplated", v2).tags
    assert "modelcanary.rollout" in tags["modelcanary.reason"]


def test_register_command_creates_then_updates_the_webhook(mlflow_server: str) -> None:
    from mlflow import MlflowClient

    args = ["mlflow-hook", "register", "--tracking-uri", mlflow_server, "--name", "cli-hook"]
    args += ["--no-test"]  # nothing listens at the URLs: no test deliveries
    runner = CliRunner()
    first = runner.invoke(app, [*args, "--url", "http://127.0.0.1:9/a", "--secret", "x"])
    second = runner.invoke(app, [*args, "--url", "http://127.0.0.1:9/b", "--secret", "x"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    hooks = [w for w in MlflowClient(mlflow_server).list_webhooks() if w.name == "cli-hook"]
    assert [w.url for w in hooks] == ["http://127.0.0.1:9/b"]
    assert "model_version_alias.created" in {str(e) for e in hooks[0].events}
    MlflowClient(mlflow_server).delete_webhook(hooks[0].webhook_id)
    missing = runner.invoke(app, [*args, "--url", "http://x", "--secret", ""])
    assert missing.exit_code == 2
