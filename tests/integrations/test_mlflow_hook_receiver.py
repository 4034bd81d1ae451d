"""Webhook deliveries: only signed, fresh, first-seen deliveries reach the hook."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from modelcanary.integrations.mlflow_hook_receiver import (
    DeliveryVerifier,
    RegistryEvent,
    WebhookReceiver,
    sign,
)

SECRET = "s3cret"
BODY = json.dumps(
    {
        "entity": "model_version_alias",
        "action": "created",
        "timestamp": "2026-01-01T00:00:00Z",
        "data": {"name": "fraud", "alias": "challenger", "version": "4"},
    }
).encode()


def headers(
    body: bytes = BODY, *, secret: str = SECRET, age: float = 0, delivery: str = ""
) -> dict[str, str]:
    delivery = delivery or str(uuid.uuid4())
    stamp = str(int(time.time() - age))
    return {
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": sign(secret, delivery, stamp, body),
    }


def test_signature_matches_mlflows_own_signer() -> None:
    from mlflow.webhooks.delivery import _generate_hmac_signature

    assert sign(SECRET, "d1", "123", BODY) == _generate_hmac_signature(
        SECRET, "d1", "123", BODY.decode()
    )


@pytest.mark.parametrize(
    ("make", "status", "reason"),
    [
        (lambda: headers(), 200, "ok"),
        (lambda: headers(secret="wrong"), 401, "bad signature"),
        (lambda: {**headers(), "X-MLflow-Signature": ""}, 401, "unsigned delivery"),
        (lambda: {**headers(), "X-MLflow-Signature": "v1,AAAA"}, 401, "bad signature"),
        (lambda: headers(age=600), 400, "stale or future timestamp"),
        (lambda: headers(age=-600), 400, "stale or future timestamp"),
        (lambda: {**headers(), "X-MLflow-Timestamp": "soon"}, 400, "timestamp is not unix seconds"),
        (lambda: {"X-MLflow-Signature": "v1,x"}, 400, "missing delivery id or timestamp"),
    ],
)
def test_verifier_table(make: object, status: int, reason: str) -> None:
    verdict = DeliveryVerifier(SECRET).check(make(), BODY)  # type: ignore[operator]
    assert (verdict.status, verdict.reason) == (status, reason)


def test_tampered_body_is_rejected() -> None:
    sent = headers()
    tampered = BODY.replace(b'"4"', b'"5"')
    assert DeliveryVerifier(SECRET).check(sent, tampered).status == 401


def test_duplicates_are_ignored_and_memory_is_bounded() -> None:
    verifier = DeliveryVerifier(SECRET, remember=2)
    first = headers(delivery="a")
    assert verifier.check(first, BODY).reason == "ok"
    assert verifier.check(first, BODY).reason == "duplicate"
    verifier.check(headers(delivery="b"), BODY)
    verifier.check(headers(delivery="c"), BODY)  # "a" is forgotten now
    assert verifier.check(headers(delivery="a"), BODY).reason == "ok"


def test_forged_replayed_and_valid_deliveries_over_http() -> None:
    events: list[RegistryEvent] = []
    receiver = WebhookReceiver(DeliveryVerifier(SECRET), events.append).start()
    try:
        forged = httpx.post(receiver.url, content=BODY, headers=headers(secret="guess"))
        unsigned = httpx.post(receiver.url, content=BODY)
        good = headers()
        ok = httpx.post(receiver.url, content=BODY, headers=good)
        again = httpx.post(receiver.url, content=BODY, headers=good)
        junk_body = b'{"no": "data"}'
        junk = httpx.post(receiver.url, content=junk_body, headers=headers(junk_body))
    finally:
        receiver.close()
    assert (forged.status_code, unsigned.status_code, ok.status_code) == (401, 400, 200)
    assert again.json() == {"ignored": "duplicate"}
    assert junk.status_code == 400
    assert events == [RegistryEvent("model_version_alias", "created", "fraud", "4", "challenger")]
    assert receiver.rejected == 2


def test_a_secret_is_mandatory() -> None:
    with pytest.raises(ValueError, match="secret"):
        DeliveryVerifier("")


def test_the_hooks_own_changes_are_echoes_to_ignore_once() -> None:
    from modelcanary.integrations.mlflow_policy import OwnChanges

    own = OwnChanges(ttl=60)
    own.expect("model_version_alias", "deleted", "fraud", "challenger")
    assert own.consume("model_version_alias", "deleted", "fraud", "challenger")
    assert not own.consume("model_version_alias", "deleted", "fraud", "challenger")
    assert not own.consume("model_version_alias", "created", "fraud", "challenger")
    expired = OwnChanges(ttl=0)
    expired.expect("model_version_tag", "set", "fraud", "modelcanary.verdict")
    assert not expired.consume("model_version_tag", "set", "fraud", "modelcanary.verdict")
