"""The gate service refuses web pages (CSRF, DNS rebinding), authenticates mutating endpoints,
runs no command unless told to, and bounds what it reads (issue 12, items 1 and 2)."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hooks_helpers import fast_runner, hook

from modelcanary.errors import SpecError
from modelcanary.hooks import GateServer
from modelcanary.hooks._runner import HttpWebhookRunner
from modelcanary.ports import WebhookPayload

TOKEN = "gate-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}
PAYLOAD = WebhookPayload("fraud", "ml", "Progressing", "c0ffee", "rollout", {})


def ask(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, str, dict[str, str]]:
    """One request over a fresh connection, with exactly these headers (Host included)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Host": "127.0.0.1", **headers})
        response = conn.getresponse()
        return response.status, response.read().decode(), dict(response.getheaders())
    finally:
        conn.close()


def task(path: Path) -> bytes:
    return json.dumps(
        {"name": "x", "namespace": "y", "metadata": {"cmd": f"touch {path}"}}
    ).encode()


@pytest.fixture
def gate() -> Iterator[GateServer]:
    with GateServer("127.0.0.1", 0, allow_commands=True, task_timeout=5) as server:
        yield server


@pytest.mark.parametrize("path", ["/", "/gate/open", "/rollback/open"])
def test_a_web_page_cannot_drive_the_gate(gate: GateServer, tmp_path: Path, path: str) -> None:
    proof = tmp_path / "proof"
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    attacks = [
        {**evil, "Host": f"evil.example:{gate.port}"},  # the report's DNS-rebinding request
        {**evil, "Host": f"127.0.0.1:{gate.port}"},  # CSRF straight to loopback
        {**JSON, "Origin": "null"},  # sandboxed frame
        {**JSON, "Sec-Fetch-Site": "cross-site"},  # a browser without Origin
        {**JSON, "Origin": f"http://localhost:{gate.port + 1}"},  # another local site
        {"Content-Type": "text/plain"},  # a simple (no preflight) request
        {"Content-Type": "application/x-www-form-urlencoded"},
    ]
    for headers in attacks:
        status, text, _ = ask(gate.port, "POST", path, headers, task(proof))
        assert status in (403, 415), (headers, status, text)
    assert gate.tasks.wait_idle(5) and gate.tasks.total_execs == 0
    assert not proof.exists()
    assert not gate.gates.is_open("x.y") and not gate.gates.is_open("rollback.x.y")


def test_host_names_loopback_ip_literals_and_allowed_names() -> None:
    allowed = ["gate.ml.svc", "*.svc.cluster.local"]
    with GateServer("127.0.0.1", 0, allow_hosts=allowed) as gate:
        ok = ["localhost", f"localhost:{gate.port}", "127.0.0.1", f"[::1]:{gate.port}",
              "10.1.2.3:8090", "gate.ml.svc", "GATE.ml.svc.", "g.ml.svc.cluster.local"]  # fmt: skip
        for host in ok:
            assert ask(gate.port, "GET", "/healthz", {"Host": host})[0] == 200, host
        for host in ("evil.example", "localhost.evil.example", "svc.cluster.local.evil", "x"):
            status, text, _ = ask(gate.port, "GET", "/healthz", {"Host": host})
            assert (status, "is not served here" in text) == (403, True), host
        own = {"Origin": f"http://127.0.0.1:{gate.port}", **JSON}
        body = b'{"name": "a", "namespace": "b"}'
        assert ask(gate.port, "POST", "/gate/open", own, body)[0] == 202, "same origin is fine"


def test_token_guards_mutating_endpoints_and_checks_stay_open() -> None:
    body = b'{"name": "fraud", "namespace": "ml"}'
    with GateServer("127.0.0.1", 0, token=TOKEN) as gate:
        for path in ("/gate/open", "/gate/close", "/rollback/open", "/rollback/close", "/"):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                status, text, answer = ask(gate.port, "POST", path, {**JSON, **headers}, body)
                assert status == 401, (path, headers, text)
                assert answer["WWW-Authenticate"].startswith("Bearer")
        assert not gate.gates.is_open("fraud.ml")
        assert ask(gate.port, "POST", "/gate/open", {**JSON, **AUTH}, body)[0] == 202
        # Flagger's controller calls the checks with no token: still answered
        assert ask(gate.port, "POST", "/gate/check", JSON, body)[:2] == (200, "Approved")
        assert ask(gate.port, "GET", "/gate/approve", {})[0] == 200
        status, text, _ = ask(gate.port, "POST", "/", {**JSON, **AUTH}, task(Path("/nope")))
        assert (status, "--allow-commands" in text) == (403, True), "commands are off by default"
        assert gate.tasks.total_execs == 0


def test_beyond_loopback_a_token_is_mandatory() -> None:
    with pytest.raises(SpecError, match="without a token") as info:
        GateServer("0.0.0.0", 0)
    assert "--token-file" in info.value.hint
    with pytest.raises(SpecError, match="at least 16"):
        GateServer("127.0.0.1", 0, token="short")
    with pytest.raises(SpecError, match="visible ASCII"):
        GateServer("127.0.0.1", 0, token="a token with spaces in it")
    GateServer("0.0.0.0", 0, token=TOKEN)  # accepted (not started)


def test_the_runner_authenticates_with_the_webhooks_secret_ref() -> None:
    secrets = {("gate", "token", "ml"): TOKEN}

    def reader(name: str, key: str, namespace: str) -> str | None:
        return secrets.get((name, key, namespace))

    env = {"GATE_TOKEN": TOKEN}
    with GateServer("127.0.0.1", 0, token=TOKEN) as gate:
        url = f"{gate.url}/gate/open"
        with fast_runner() as anonymous:
            refused = anonymous.run(hook(url, type="confirm-rollout"), PAYLOAD)
        assert (refused.passed, refused.status_code) == (False, 401)
        with HttpWebhookRunner(env=env, secret_reader=reader) as runner:
            by_env = runner.run(hook(url, secretRef={"env": "GATE_TOKEN"}), PAYLOAD)
            by_secret = runner.run(hook(url, secretRef={"name": "gate"}), PAYLOAD)
            unset = runner.run(hook(url, secretRef={"env": "NOPE"}), PAYLOAD)
            no_key = runner.run(hook(url, secretRef={"name": "other"}), PAYLOAD)
        with HttpWebhookRunner(env={}) as local:
            no_reader = local.run(hook(url, secretRef={"name": "gate"}), PAYLOAD)
    assert (by_env.passed, by_env.status_code) == (True, 202)
    assert (by_secret.passed, by_secret.status_code) == (True, 202)
    assert not unset.passed and "NOPE is not set" in unset.message
    assert not no_key.passed and "ml/other has no key 'token'" in no_key.message
    assert not no_reader.passed and "cannot be read here" in no_reader.message
    for result in (by_env, by_secret, unset, no_key, no_reader):
        assert TOKEN not in result.message


def exchange(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send raw bytes (headers only unless ``body``) and read the answer until close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)  # no more bytes: a short body ends here
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


LENGTHS = [("-1", b"400"), ("abc", b"400"), ("1e3", b"400"), ("9" * 400, b"413"),
           (str(2 << 20), b"413"), ("5", b"400")]  # fmt: skip


@pytest.mark.parametrize(("length", "status"), LENGTHS)
def test_bad_content_length_is_answered_without_reading_a_body(
    gate: GateServer, length: str, status: bytes
) -> None:
    head = (
        f"POST /gate/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = exchange(gate.port, head, b"{}" if length == "5" else b"")  # 5: body too short
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert b"Connection: close" in answer


def test_chunked_bodies_are_refused(gate: GateServer) -> None:
    head = (
        b"POST /gate/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    assert exchange(gate.port, head).startswith(b"HTTP/1.1 411")
