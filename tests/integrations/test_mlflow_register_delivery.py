"""`modelcanary mlflow-hook register` has a real MLflow server send test deliveries to the hook
and reports the ones that fail (no receiver, another secret), exit 2 naming --url and the fix;
the receiver logs each delivery it gets. Before, a webhook that could never be delivered was
registered silently and polling hid it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelcanary.integrations._mlflow_hook_receiver import DeliveryVerifier, WebhookReceiver

EXE = str(Path(sys.executable).with_name("modelcanary"))
SECRET = "delivery-secret"
TEST_DELIVERIES = 3
"""Test deliveries `register` asks for (``_mlflow_register.TEST_DELIVERIES``)."""


def _register(uri: str, url: str, secret: str, *extra: str) -> subprocess.CompletedProcess[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    command = [EXE, "mlflow-hook", "register", "--tracking-uri", uri, "--url", url]
    command += ["--name", name, "--secret", secret, *extra]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(DeliveryVerifier(SECRET), lambda event: None).start()
    yield receiver
    receiver.close()


def test_test_deliveries_reach_the_hook_and_are_logged(
    mlflow_server: str, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="modelcanary.mlflow"):
        done = _register(mlflow_server, receiver.url, SECRET)
    assert done.returncode == 0, done.stderr
    assert f"{TEST_DELIVERIES} test deliveries reached the hook" in done.stderr
    assert receiver.accepted == TEST_DELIVERIES
    logged = [r.getMessage() for r in caplog.records if "webhook delivery" in r.getMessage()]
    assert len(logged) == TEST_DELIVERIES
    assert all("'example_model'" in line for line in logged)  # MLflow's test payload
    recent = receiver.status()["recentDeliveries"]
    assert [d["result"] for d in recent] == ["accepted"] * TEST_DELIVERIES
    assert all(d["model"] == "example_model" and d["delivery"] for d in recent)


def test_another_secret_is_reported(mlflow_server: str, receiver: WebhookReceiver) -> None:
    done = _register(mlflow_server, receiver.url, "not-the-hook-secret")
    assert done.returncode == 2, done.stderr
    assert "  - --url: " in done.stderr
    assert f"{TEST_DELIVERIES} of {TEST_DELIVERIES} test deliveries" in done.stderr
    assert "refused it (401" in done.stderr
    assert "same --secret as `mlflow-hook run`" in done.stderr
    assert "Traceback" not in done.stderr
    assert receiver.rejected == TEST_DELIVERIES and receiver.accepted == 0
    assert receiver.status()["recentDeliveries"][0]["result"] == "refused (401): bad signature"


def test_no_receiver_is_reported_unless_no_test(mlflow_server: str) -> None:
    closed = WebhookReceiver(DeliveryVerifier(SECRET), lambda event: None)
    url = closed.url
    closed.close()  # bound once, now nobody listens there
    done = _register(mlflow_server, url, SECRET)
    assert done.returncode == 2, done.stderr
    assert f"connection refused at {url}" in done.stderr
    assert "start `modelcanary mlflow-hook run` first" in done.stderr
    assert "Traceback" not in done.stderr
    skipped = _register(mlflow_server, url, SECRET, "--no-test")
    assert skipped.returncode == 0, skipped.stderr
    assert "test deliveries" not in skipped.stderr
