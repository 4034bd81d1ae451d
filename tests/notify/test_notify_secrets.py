"""Credentials by reference: environment variables and (injected) Kubernetes Secret readers."""

from __future__ import annotations

import pytest

from modelcanary.errors import NotifyError, SpecError
from modelcanary.notify import resolve_secret
from modelcanary.spec import SecretRef


def test_env_variable_is_read() -> None:
    env = {"SLACK_URL": " https://hooks.slack.com/services/x \n"}
    assert (
        resolve_secret(SecretRef(env="SLACK_URL"), env=env) == "https://hooks.slack.com/services/x"
    )


@pytest.mark.parametrize(("env", "state"), [({}, "is not set"), ({"SLACK_URL": "  "}, "is empty")])
def test_missing_env_variable_names_it_and_the_fix(env: dict[str, str], state: str) -> None:
    with pytest.raises(SpecError) as caught:
        resolve_secret(SecretRef(env="SLACK_URL"), env=env, path="alerts[0].provider.secretRef")
    error = caught.value
    assert f"environment variable SLACK_URL {state}" in str(error)
    assert error.path == "alerts[0].provider.secretRef.env"
    assert "export SLACK_URL=" in error.hint


def test_kubernetes_secret_without_a_reader_is_a_clear_error() -> None:
    with pytest.raises(SpecError, match="no Kubernetes secret reader") as caught:
        resolve_secret(SecretRef(name="slack-hook"), env={})
    assert "secretRef.env" in caught.value.hint


def test_kubernetes_secret_through_the_reader() -> None:
    calls: list[tuple[str, str, str]] = []

    def reader(name: str, key: str, namespace: str) -> str | None:
        calls.append((name, key, namespace))
        return {"address": "https://hooks.example.com/x"}.get(key)

    ref = SecretRef(name="slack-hook")
    assert resolve_secret(ref, k8s_reader=reader, namespace="ml") == "https://hooks.example.com/x"
    assert calls == [("slack-hook", "address", "ml")]
    with pytest.raises(SpecError, match="ml/slack-hook is missing or has no") as caught:
        resolve_secret(ref, k8s_reader=reader, key="token", namespace="ml")
    assert "kubectl create secret generic slack-hook --from-literal=token=" in caught.value.hint


def test_reader_failure_is_a_notify_error() -> None:
    def broken(name: str, key: str, namespace: str) -> str | None:
        raise PermissionError("secrets is forbidden")

    with pytest.raises(NotifyError, match="could not read Kubernetes Secret s key 'address'"):
        resolve_secret(SecretRef(name="s"), k8s_reader=broken)
