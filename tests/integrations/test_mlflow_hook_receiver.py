"""Webhook deliveries: only signed, fresh, first-seen deliveries reach the hook."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from modelcanary.integrations._mlflow_hook_receiver import (
    MAX_BODY,
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
    from modelcanary.integrations._mlflow_policy import OwnChanges

    own = OwnChanges(ttl=60)
    own.expect("model_version_alias", "deleted", "fraud", "challenger")
    assert own.consume("model_version_alias", "deleted", "fraud", "challenger")
    assert not own.consume("model_version_alias", "deleted", "fraud", "challenger")
    assert not own.consume("model_version_alias", "created", "fraud", "challenger")
    expired = OwnChanges(ttl=0)
    expired.expect("model_version_tag", "set", "fraud", "modelcanary.verdict")
    assert not expired.consume("model_version_tag", "set", "fraud", "modelcanary.verdict")


# --- hostile requests (issue 12, item 2): always a 4xx, one log line, nothing unbounded ---


def exchange(url: str, head: bytes, body: bytes = b"", *, half_close: bool = True) -> bytes:
    """Send raw bytes to the receiver and read its answer until it closes the connection."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def raw_delivery(length: str, body: bytes = b"", **override: str) -> bytes:
    """The head of a signed delivery of ``body`` with this Content-Length (and overrides)."""
    fields = {**headers(body), "Content-Length": length, "Connection": "close", **override}
    lines = "".join(f"{key}: {value}\r\n" for key, value in fields.items())
    return f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode("latin-1")


def no_length(head: bytes) -> bytes:
    return head.replace(b"Content-Length", b"X-Length")


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, list[RegistryEvent]]]:
    events: list[RegistryEvent] = []
    receiver = WebhookReceiver(DeliveryVerifier(SECRET), events.append).start()
    try:
        yield receiver, events
    finally:
        receiver.close()


NOT_UTF8 = b'{"data": {"name": "\xff\xfe"}}'
A_LIST = b'[{"data": {"name": "fraud"}}]'


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda: raw_delivery("abc"), b"400"),
        (lambda: raw_delivery("-1"), b"400"),
        (lambda: raw_delivery("9" * 400), b"413"),
        (lambda: raw_delivery(str(2 << 20)), b"413"),
        (lambda: no_length(raw_delivery(str(len(BODY)), BODY)) + BODY, b"411"),
        (lambda: raw_delivery("2", **{"X-MLflow-Timestamp": "9" * 400}) + b"{}", b"400"),
        (lambda: raw_delivery(str(len(NOT_UTF8)), NOT_UTF8) + NOT_UTF8, b"400"),  # signed
        (lambda: raw_delivery(str(len(A_LIST)), A_LIST) + A_LIST, b"400"),  # signed, a list
        (lambda: raw_delivery("20", b"x" * 20) + b"x" * 10, b"400"),  # shorter than announced
    ],
    ids=["length-abc", "length-negative", "length-400-digits", "length-over-limit",
         "no-length", "timestamp-400-digits", "signed-not-utf8", "signed-list", "short-body"],
)  # fmt: skip
def test_malformed_deliveries_get_a_4xx_and_one_log_line(
    receiver: tuple[WebhookReceiver, list[RegistryEvent]],
    make: Callable[[], bytes],
    status: bytes,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    answer = exchange(receiver[0].url, make())
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:300]
    assert b'{"error": ' in answer
    assert receiver[1] == []
    assert all(record.exc_info is None for record in caplog.records)
    assert len([r for r in caplog.records if r.levelno >= logging.INFO]) == 1, caplog.text
    assert "Traceback" not in capfd.readouterr().err


def test_an_unbounded_body_is_refused_before_it_is_read(
    receiver: tuple[WebhookReceiver, list[RegistryEvent]],
) -> None:
    """Content-Length -1 used to read to the end of the stream (237 -> 741 MB on 500 MB): now
    the answer comes back while the client has sent the headers only."""
    answer = exchange(receiver[0].url, raw_delivery("-1"), half_close=False)
    assert answer.startswith(b"HTTP/1.1 400") and b"Content-Length must be" in answer
    big = exchange(receiver[0].url, raw_delivery(str(500 << 20)), half_close=False)
    assert big.startswith(b"HTTP/1.1 413")


def test_slow_clients_are_timed_out_and_capped() -> None:
    from modelcanary._httpd import Limits

    # read_timeout 3 s (it was 0.5 s): the 40 connections must all be opened and sent to
    # before the first 4 time out and free their slots, or more than 4 get a 408
    limits = Limits(max_body=MAX_BODY, read_timeout=3.0, request_timeout=6.0, max_connections=4)
    events: list[RegistryEvent] = []
    receiver = WebhookReceiver(DeliveryVerifier(SECRET), events.append, limits=limits).start()
    threads = threading.active_count()
    host, port = receiver.url.removeprefix("http://").rsplit(":", 1)
    slow = [socket.create_connection((host, int(port)), timeout=10) for _ in range(40)]
    try:
        for sock in slow:
            with contextlib.suppress(OSError):
                sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and nothing more
        assert threading.active_count() <= threads + 4, "one thread per connection, capped"
        answers = []
        for sock in slow:
            data = b""
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    data += chunk
            answers.append(data[:12])
        assert set(answers) <= {b"HTTP/1.1 408", b"HTTP/1.1 503"}, set(answers)
        assert answers.count(b"HTTP/1.1 408") <= 4 and receiver._http.server.refused >= 36
        ok = httpx.post(receiver.url, content=BODY, headers=headers(), timeout=10)
        assert ok.status_code == 200 and len(events) == 1, "served again once they are gone"
    finally:
        for sock in slow:
            sock.close()
        receiver.close()
