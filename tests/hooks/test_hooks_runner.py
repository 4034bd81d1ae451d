"""HttpWebhookRunner against real loopback servers: Flagger's payload, pass rule, retries."""

from __future__ import annotations

import json
import logging
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from hooks_helpers import RecordingServer, Reply, alive, fast_runner, hook
from ports import closed_url

from modelcanary.hooks import event_payload
from modelcanary.hooks._runner import flagger_stop_rule, run_all
from modelcanary.ports import WebhookPayload, WebhookResult, WebhookRunner
from modelcanary.spec import Webhook

PAYLOAD = WebhookPayload(
    name="fraud", namespace="ml", phase="Progressing", checksum="85d557f47b", type="rollout"
)


def test_posts_flaggers_exact_json_body_and_content_type() -> None:
    with RecordingServer() as server, fast_runner() as runner:
        spec = hook(
            f"{server.url}/hooks/load",
            metadata={"type": "cmd", "cmd": "hey -z 1m <url> & more", "a": "1"},
        )
        result = runner.run(spec, PAYLOAD)
    message = f"HTTP 200 from {server.url}/hooks/load"
    assert result == WebhookResult("h", "rollout", True, 200, message)
    [seen] = server.seen
    assert (seen.method, seen.path) == ("POST", "/hooks/load")
    assert seen.headers["Content-Type"] == "application/json"
    # Go's json.Marshal: struct order, compact, map keys sorted, <, >, & escaped, no "type" key
    assert seen.body == (
        b'{"name":"fraud","namespace":"ml","phase":"Progressing","checksum":"85d557f47b",'
        b'"metadata":{"a":"1","cmd":"hey -z 1m \\u003curl\\u003e \\u0026 more","type":"cmd"}}'
    )
    assert list(json.loads(seen.body)) == ["name", "namespace", "phase", "checksum", "metadata"]


def test_metadata_is_omitted_when_empty() -> None:
    with RecordingServer() as server, fast_runner() as runner:
        runner.run(hook(server.url), PAYLOAD)
    assert json.loads(server.seen[0].body) == {
        "name": "fraud",
        "namespace": "ml",
        "phase": "Progressing",
        "checksum": "85d557f47b",
    }


def test_event_metadata_wins_over_the_hooks_own() -> None:
    stamp = 1700000000123
    payload = event_payload("fraud", "ml", "Failed", "c1", "canary failed", "Warning", stamp)
    with RecordingServer() as server, fast_runner() as runner:
        spec = hook(server.url, type="event", metadata={"eventType": "x", "cluster": "eu-1"})
        assert runner.run(spec, payload).passed
    assert json.loads(server.seen[0].body)["metadata"] == {
        "cluster": "eu-1",
        "eventMessage": "canary failed",
        "eventType": "Warning",
        "timestamp": "1700000000123",
    }


@pytest.mark.parametrize(
    ("status", "passed"),
    [(200, True), (201, True), (202, True), (203, False), (204, False), (400, False),
     (403, False), (404, False), (501, False)],
)  # fmt: skip
def test_flaggers_pass_rule_is_status_at_most_202(status: int, passed: bool) -> None:
    body = "" if status == 204 else "gate says\n   no"
    with RecordingServer([Reply(status, body)]) as server, fast_runner() as runner:
        result = runner.run(hook(server.url, retries=3), PAYLOAD)
    assert (result.passed, result.status_code) == (passed, status)
    assert len(server.seen) == 1, "only 429 and 5xx (not 501) are retried"
    if not passed:
        assert result.message.startswith(f"HTTP {status} from {server.url}")
        assert ("gate says no" in result.message) == bool(body)
        assert "\n" not in result.message


def test_redirects_are_followed_like_gos_client() -> None:
    replies = [Reply(307, "", headers={"Location": "/moved"}), Reply(200)]
    with RecordingServer(replies) as server, fast_runner() as runner:
        assert runner.run(hook(f"{server.url}/old"), PAYLOAD).passed
    assert [(s.method, s.path) for s in server.seen] == [("POST", "/old"), ("POST", "/moved")]
    assert server.seen[1].body == server.seen[0].body


@pytest.mark.parametrize(("retries", "passed", "calls"), [(2, True, 3), (1, False, 2)])
def test_retries_on_5xx_counted_on_the_server(retries: int, passed: bool, calls: int) -> None:
    replies = [Reply(503, "busy"), Reply(500, "boom"), Reply(200)]
    with RecordingServer(replies) as server, fast_runner() as runner:
        result = runner.run(hook(server.url, retries=retries), PAYLOAD)
    assert len(server.seen) == calls
    assert result.passed is passed
    assert f"(attempt {calls} of {retries + 1})" in result.message
    if not passed:
        assert (result.status_code, "boom" in result.message) == (500, True)


def test_429_is_retried_and_retry_after_is_capped() -> None:
    replies = [Reply(429, "slow down", headers={"Retry-After": "120"}), Reply(202)]
    with RecordingServer(replies) as server, fast_runner() as runner:
        start = time.monotonic()
        result = runner.run(hook(server.url, retries=1), PAYLOAD)
    assert result.passed and result.status_code == 202
    # uncapped, the retry would wait 120 s; 30 s is a bound no loaded machine reaches (it was
    # 2 s: a timed assertion)
    assert time.monotonic() - start < 30, "Retry-After is capped by max_backoff"


def test_timeout_fails_with_timeout_in_message() -> None:
    # the server answers after 60 s: a run that ended within 10 s was cut by its 300 ms
    # timeout (the server answered after 1 s before, and "< 0.9 s" was a timed assertion)
    with RecordingServer([Reply(200, delay=60.0)]) as server, fast_runner() as runner:
        start = time.monotonic()
        result = runner.run(hook(server.url, timeout="300ms"), PAYLOAD)
        elapsed = time.monotonic() - start
    assert not result.passed and result.status_code is None
    assert "timeout" in result.message and "0.3s" in result.message
    assert elapsed < 10


def test_connection_refused_fails_after_retries_without_raising() -> None:
    url = closed_url("/gate/check")
    with fast_runner() as runner:
        result = runner.run(hook(url, retries=2), PAYLOAD)
    assert not result.passed and result.status_code is None
    assert result.message.startswith(f"connection to {url} failed")
    assert "(attempt 3 of 3)" in result.message


def test_credentials_never_reach_messages_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="modelcanary.hooks")
    with RecordingServer([Reply(500, "x" * 5000)]) as server, fast_runner() as runner:
        url = f"http://bob:hunter2@127.0.0.1:{server.port}/hook?token=s3cret#frag"
        result = runner.run(hook(url, metadata={"token": "m3ta"}), PAYLOAD)
    assert server.seen[0].headers["Authorization"].startswith("Basic ")  # still sent
    text = result.message + caplog.text
    for secret in ("hunter2", "bob", "s3cret", "m3ta", "frag"):
        assert secret not in text
    assert result.message.startswith(f"HTTP 500 from http://127.0.0.1:{server.port}/hook: xxx")
    assert result.message.endswith("…") and len(result.message) < 300


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_disable_tls_skips_verification(tmp_path: Path) -> None:
    with RecordingServer(tls=_self_signed(tmp_path)) as server, fast_runner() as runner:
        refused = runner.run(hook(server.url, retries=2), PAYLOAD)
        accepted = runner.run(hook(server.url, disableTLS=True), PAYLOAD)
    assert not refused.passed and "disableTLS" in refused.message
    assert "attempt" not in refused.message, "certificate errors are not retried"
    assert accepted.passed and accepted.status_code == 200


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, WebhookPayload]] = []

    def run(self, hook: object, payload: WebhookPayload) -> WebhookResult:
        name = getattr(hook, "name", "")
        self.calls.append((name, payload))
        return WebhookResult(name, payload.type, True, 200)


def test_run_all_runs_hooks_of_one_type_in_order() -> None:
    hooks = [
        hook("http://a/", name="first", type="confirm-promotion"),
        hook("http://b/", name="other", type="rollout"),
        hook("http://c/", name="second", type="confirm-promotion"),
    ]
    recorder = _Recorder()
    assert isinstance(recorder, WebhookRunner)
    results = run_all(recorder, hooks, "confirm-promotion", lambda h: PAYLOAD)
    assert [r.name for r in results] == ["first", "second"]
    with pytest.raises(ValueError, match="known types: confirm-rollout"):
        run_all(recorder, hooks, "promote", lambda h: PAYLOAD)


@pytest.mark.parametrize(
    ("type", "outcomes", "called"),
    [
        ("pre-rollout", [True, False, True], 2),  # checks and gates: stop at the first failure
        ("confirm-promotion", [True, True], 2),
        ("rollback", [False, True, True], 2),  # rollback: one "yes" is enough
        ("event", [False, False], 2),  # events: all of them
    ],
)
def test_flagger_stop_rule(type: str, outcomes: list[bool], called: int) -> None:
    hooks = [hook("http://x/", name=str(i), type=type) for i in range(len(outcomes))]

    class Scripted:
        def run(self, spec: Webhook, payload: WebhookPayload) -> WebhookResult:
            return WebhookResult(spec.name, spec.type, outcomes[int(spec.name)])

    rule = flagger_stop_rule(type)
    results = run_all(Scripted(), hooks, type, lambda h: PAYLOAD, stop_after=rule)
    assert [r.name for r in results] == [str(i) for i in range(called)]


def test_run_all_through_http_keeps_order_and_failures() -> None:
    with (
        RecordingServer([Reply(200)]) as ok,
        RecordingServer([Reply(403, "Forbidden")]) as no,
        fast_runner() as runner,
    ):
        hooks = [hook(ok.url, name="a"), hook(no.url, name="b"), hook(ok.url, name="c")]
        results = runner.run_all(hooks, "rollout", lambda h: PAYLOAD)
    assert [(r.name, r.passed, r.status_code) for r in results] == [
        ("a", True, 200),
        ("b", False, 403),
        ("c", True, 200),
    ]


def test_helpers_module_alive_detects_exited_process() -> None:
    proc = subprocess.Popen(["sleep", "0"])
    proc.wait()
    assert not alive(proc.pid)
