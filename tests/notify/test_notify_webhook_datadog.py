"""Generic JSON webhook and Datadog events, on a real HTTP server.

Shape sources: the generic body is modelcanary's own (docs/notifications.md, module docstring of
modelcanary/notify/_webhook.py). Datadog: API reference "Post an event" (v1):
POST https://api.<site>/api/v1/events, header DD-API-KEY, body {title, text, alert_type
(error|warning|info|success...), tags[], aggregation_key, source_type_name}, answer 202.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelcanary.notify import DatadogNotifier, WebhookNotifier
from modelcanary.notify._datadog import events_url

NOON = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_generic_webhook_body_and_bearer_token(receiver: Any, notification: Any) -> None:
    WebhookNotifier(
        f"{receiver.url}/hooks/rollouts", token="s3cr3t-token", clock=lambda: NOON
    ).notify(notification)

    request = receiver.only()
    assert request.path == "/hooks/rollouts"
    assert request.headers["authorization"] == "Bearer s3cr3t-token"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "rollout": "fraud",
        "namespace": "ml",
        "event": "RolloutFailed",
        "severity": "error",
        "message": "error-rate 0.031 > 0.01 after 3 failed checks",
        "phase": "Failed",
        "fields": {"Failed checks": "3", "Challenger": "models:/fraud/4"},
        "timestamp": "2024-05-01T12:00:00Z",
    }


def test_generic_webhook_without_token_sends_no_authorization(receiver: Any, make: Any) -> None:
    WebhookNotifier(f"{receiver.url}/h").notify(make(phase=""))
    request = receiver.only()
    assert "authorization" not in request.headers
    assert request.body["phase"] == ""
    assert request.body["timestamp"].endswith("Z")


@pytest.mark.parametrize(
    ("severity", "alert_type"), [("info", "info"), ("warn", "warning"), ("error", "error")]
)
def test_datadog_event(receiver: Any, make: Any, severity: str, alert_type: str) -> None:
    receiver.reply("/api/v1/events", status=202, body='{"status": "ok"}')
    DatadogNotifier("dd-api-key-123", address=receiver.url).notify(
        make(severity=severity, fields={"Failed checks": "3"})
    )

    request = receiver.only()
    assert request.path == "/api/v1/events"
    assert request.headers["dd-api-key"] == "dd-api-key-123"
    assert request.body == {
        "title": "RolloutFailed: fraud.ml",
        "text": "error-rate 0.031 > 0.01 after 3 failed checks\n\nPhase: Failed\nFailed checks: 3",
        "alert_type": alert_type,
        "source_type_name": "modelcanary",
        "aggregation_key": "modelcanary:ml/fraud",
        "tags": [
            "modelcanary",
            "rollout:fraud",
            "namespace:ml",
            "event:RolloutFailed",
            f"severity:{severity}",
        ],
    }


@pytest.mark.parametrize(
    ("address", "url"),
    [
        (None, "https://api.datadoghq.com/api/v1/events"),
        ("datadoghq.eu", "https://api.datadoghq.eu/api/v1/events"),
        ("us5.datadoghq.com", "https://api.us5.datadoghq.com/api/v1/events"),
        ("api.ddog-gov.com", "https://api.ddog-gov.com/api/v1/events"),
        ("https://api.datadoghq.eu/", "https://api.datadoghq.eu/api/v1/events"),
        ("http://127.0.0.1:8126/custom/events", "http://127.0.0.1:8126/custom/events"),
    ],
)
def test_datadog_site_or_address(address: str | None, url: str) -> None:
    assert events_url(address) == url


def test_datadog_repr_hides_the_api_key() -> None:
    text = repr(DatadogNotifier("dd-api-key-123"))
    assert "dd-api-key-123" not in text
    assert "api.datadoghq.com" in text
