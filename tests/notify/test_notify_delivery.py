"""Severity routing, providerRef resolution and the registry, end to end on a real server."""

from __future__ import annotations

from typing import Any

import pytest

from modelcanary.errors import NotifyError, SpecError
from modelcanary.notify import (
    NOTIFIERS,
    Delivery,
    NotificationDelivery,
    ProviderConfig,
    admits,
    build_notifier,
)
from modelcanary.spec import Alert

HOOK_SECRET = "path-token-5f2a9c"


def _alert(name: str, severity: str, env: str) -> Alert:
    return Alert.model_validate(
        {
            "name": name,
            "severity": severity,
            "provider": {"type": "webhook", "secretRef": {"env": env}},
        }
    )


@pytest.fixture
def three(receiver: Any) -> NotificationDelivery:
    env = {f"HOOK_{s.upper()}": f"{receiver.url}/{s}" for s in ("info", "warn", "error")}
    alerts = [_alert(f"{s}-alert", s, f"HOOK_{s.upper()}") for s in ("info", "warn", "error")]
    return NotificationDelivery(alerts, env=env)


@pytest.mark.parametrize(
    ("severity", "paths"),
    [("info", ["/info"]), ("warn", ["/info", "/warn"]), ("error", ["/info", "/warn", "/error"])],
)
def test_alerts_receive_notifications_at_or_above_their_severity(
    three: NotificationDelivery, receiver: Any, make: Any, severity: str, paths: list[str]
) -> None:
    deliveries = three.send(make(severity=severity))
    assert sorted(receiver.paths()) == sorted(paths)
    assert [d.alert for d in deliveries] == [f"{p[1:]}-alert" for p in paths]
    assert all(d.ok and d.type == "webhook" for d in deliveries)
    assert three.targets(severity) == [f"{p[1:]}-alert" for p in paths]


def test_a_failing_alert_is_returned_not_raised(
    three: NotificationDelivery, receiver: Any, make: Any
) -> None:
    receiver.reply("/warn", status=500, body="down")
    # /info answers after 60 s, past the 3 s timeout; the others get 3 s to answer (it was
    # 1 s and 0.2 s: one slow local answer on a loaded machine failed the error alert too)
    receiver.reply("/info", delay=60.0)
    three.timeout = 3.0
    deliveries = three.send(make(severity="error"))
    by_alert = {d.alert: d for d in deliveries}
    assert by_alert["error-alert"].ok
    assert isinstance(by_alert["warn-alert"].error, NotifyError)
    assert "HTTP 500" in str(by_alert["warn-alert"].error)
    assert "timeout" in str(by_alert["info-alert"].error)


def test_missing_credential_is_a_failed_delivery_then_validate_lists_all(make: Any) -> None:
    alerts = [_alert("a", "info", "NOT_SET_A"), _alert("b", "info", "NOT_SET_B")]
    router = NotificationDelivery(alerts, env={})
    deliveries = router.send(make())
    assert [(d.alert, d.ok) for d in deliveries] == [("a", False), ("b", False)]
    assert isinstance(deliveries[0].error, SpecError)
    with pytest.raises(SpecError) as caught:
        router.validate()
    assert [i.path for i in caught.value.issues] == [
        "spec.analysis.alerts[0].provider.secretRef.env",
        "spec.analysis.alerts[1].provider.secretRef.env",
    ]


def test_provider_ref_resolves_a_flagger_alert_provider(receiver: Any, make: Any) -> None:
    secrets = {("ml", "gchat-hook", "address"): f"{receiver.url}/v1/spaces/{HOOK_SECRET}"}
    providers = {
        "ml/on-call": {
            "apiVersion": "flagger.app/v1beta1",
            "kind": "AlertProvider",
            "spec": {"type": "gchat", "secretRef": {"name": "gchat-hook"}},
        },
        "team": {"type": "rocket", "address": f"{receiver.url}/rocket", "channel": "ml"},
    }
    alerts = [
        Alert.model_validate({"name": "on-call", "providerRef": {"name": "on-call"}}),
        Alert.model_validate({"name": "team", "providerRef": {"name": "team", "namespace": "ops"}}),
    ]
    router = NotificationDelivery(
        alerts,
        providers=providers,
        secret_reader=lambda name, key, ns: secrets.get((ns, name, key)),
    )
    deliveries = router.send(make())
    assert [(d.alert, d.type, d.ok) for d in deliveries] == [
        ("on-call", "googlechat", True),
        ("team", "rocket", True),
    ]
    assert receiver.paths() == [f"/v1/spaces/{HOOK_SECRET}", "/rocket"]
    assert "cards" in receiver.requests[0].body
    assert receiver.requests[1].body["channel"] == "ml"
    assert HOOK_SECRET not in repr(router.notifier(0, "ml"))
    assert HOOK_SECRET not in repr(router.config(0, "ml"))


def test_provider_ref_problems_are_spec_errors(make: Any) -> None:
    alert = Alert.model_validate({"name": "x", "providerRef": {"name": "nope"}})
    (no_lookup,) = NotificationDelivery([alert]).send(make())
    assert "no AlertProvider lookup" in str(no_lookup.error)
    assert no_lookup.type == "providerRef"
    (missing,) = NotificationDelivery([alert], providers={}).send(make())
    assert "AlertProvider ml/nope not found" in str(missing.error)
    (bad_type,) = NotificationDelivery([alert], providers={"nope": {"type": "pager"}}).send(make())
    assert isinstance(bad_type.error, SpecError)
    assert "unknown notification provider type 'pager'" in str(bad_type.error)


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(SpecError) as caught:
        build_notifier(ProviderConfig(name="x", type="pagerduty", path="alerts[0].provider"))
    error = caught.value
    assert error.path == "alerts[0].provider.type"
    for known in (
        "datadog",
        "discord",
        "googlechat (Flagger: gchat)",
        "msteams",
        "rocket",
        "slack",
        "webhook",
    ):
        assert known in error.hint
    assert set(NOTIFIERS) == {
        "slack",
        "msteams",
        "discord",
        "googlechat",
        "webhook",
        "datadog",
        "rocket",
    }


def test_datadog_api_key_from_a_kubernetes_secret(receiver: Any, make: Any) -> None:
    receiver.reply("/api/v1/events", status=202)
    alert = Alert.model_validate(
        {
            "name": "dd",
            "severity": "warn",
            "provider": {"type": "datadog", "address": receiver.url, "secretRef": {"name": "dd"}},
        }
    )
    keys = {"datadog_api_key": "dd-key-42"}  # Flagger's Datadog metric provider Secret
    router = NotificationDelivery([alert], secret_reader=lambda name, key, ns: keys.get(key))
    assert router.send(make(severity="info")) == []
    (delivery,) = router.send(make(severity="warn"))
    assert delivery == Delivery("dd", "datadog")
    assert receiver.only().headers["dd-api-key"] == "dd-key-42"


def test_foreign_exceptions_are_wrapped_and_scrubbed(make: Any) -> None:
    class Exploding:
        name = "boom"

        def notify(self, notification: Any) -> None:
            raise RuntimeError(f"cannot post to https://hooks.example.com/{HOOK_SECRET}")

    alert = Alert.model_validate(
        {
            "name": "a",
            "provider": {"type": "slack", "address": f"https://hooks.example.com/{HOOK_SECRET}"},
        }
    )
    (delivery,) = NotificationDelivery([alert], factory=lambda config: Exploding()).send(make())
    assert isinstance(delivery.error, NotifyError)
    assert "RuntimeError" in str(delivery.error)
    assert HOOK_SECRET not in str(delivery.error)


def test_an_unknown_severity_is_an_error_not_a_guess() -> None:
    assert admits("warn", "error") and not admits("error", "warn")
    with pytest.raises(ValueError, match="unknown severity 'warning'"):
        admits("info", "warning")  # type: ignore[arg-type]
