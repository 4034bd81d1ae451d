"""Fuzz the listening ports that take bodies (gate, MLflow receiver, OTLP receiver) over real
loopback sockets: whatever the headers (Content-Length, Content-Type, Host, Origin, token,
signature, timestamp) and body, the answer is a 2xx or 4xx, the connection is never dropped
without one, nothing logs a traceback, and memory stays bounded (issue 12)."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelcanary.hooks import GateServer
from modelcanary.integrations._mlflow_hook_receiver import (
    DeliveryVerifier,
    RegistryEvent,
    WebhookReceiver,
    sign,
)
from modelcanary.providers._otlp_receiver import OTLPReceiver
from modelcanary.providers._otlp_store import OTLPStore

TOKEN = "fuzz-token-0123456789abcdef"
SECRET = "fuzz-secret"
STATUS = re.compile(rb"HTTP/1\.[01] ([0-9]{3}) ")
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# header values as http.client would decode them: latin-1, no line breaks
value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"))
short = value.filter(lambda v: len(v) <= 60)
number = st.integers(min_value=-(10**30), max_value=10**30).map(str)


def mostly(good: object, other: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """``good`` about nine times in ten, else ``other`` (so examples get past the first
    checks and reach the body parsing too)."""
    return st.integers(0, 9).flatmap(lambda n: other if n == 0 else st.just(good))


length = mostly("body", st.one_of(st.none(), number, short, st.just("9" * 400)))
content_type = mostly(
    "application/json",
    st.one_of(
        st.none(),
        st.sampled_from(["application/json; charset=utf-8", "text/plain",
                         "application/x-protobuf", "application/x-www-form-urlencoded"]),
        short,
    ),
)  # fmt: skip
host = mostly("127.0.0.1", st.one_of(st.none(), st.sampled_from(["[::1]", "evil.x"]), short))
origin = mostly(None, st.one_of(st.sampled_from(["null", "http://evil.example"]), short))
json_value = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
gate_payload = st.fixed_dictionaries(
    {"name": st.text(max_size=10), "namespace": st.text(max_size=10)},
    optional={"metadata": json_value, "phase": json_value},
)
event_payload = st.fixed_dictionaries(
    {"entity": json_value, "action": json_value},
    optional={"data": st.dictionaries(st.sampled_from(["name", "version", "alias"]), json_value)},
)
body = st.one_of(
    st.binary(max_size=2000),
    st.sampled_from([b"", b"{}", b'{"name": "a", "namespace": "b"}', b"[" * 5000, b"\xff\xfe"]),
    st.one_of(json_value, gate_payload, event_payload).map(
        lambda v: json.dumps(v).encode("utf-8", "surrogatepass")
    ),
)


GATE_PATHS = ["/", "/healthz", "/gate/check", "/gate/open", "/rollback/close", "/gate/halt",
              "/nope", "/gate/open?x=1"]  # fmt: skip


class Records(logging.Handler):
    """Every record of the modelcanary loggers, to look for tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def records() -> Iterator[Records]:
    handler, logger = Records(), logging.getLogger("modelcanary")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def exchange(port: int, data: bytes) -> bytes:
    """Send one request, end the stream, read the whole answer (the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered early (413, 403, ...) and closed: read it
            pass
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def build(method: str, path: str, fields: dict[str, str | None], payload: bytes) -> bytes:
    head = [f"{method} {path} HTTP/1.1"]
    for key, text in fields.items():
        if text is not None:
            head.append(f"{key}: {len(payload) if text == 'body' else text}")
    head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload


def check(answer: bytes, records: Records) -> None:
    match = STATUS.match(answer)
    assert match is not None, f"no HTTP answer: {answer[:200]!r}"
    assert match.group(1)[:1] in (b"2", b"4"), answer[:300]
    bad = [r for r in records.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not bad, bad[0].getMessage()


def run_fuzz(
    target: Callable[[], None], records: Records, capfd: pytest.CaptureFixture[str]
) -> None:
    before = rss_mb()
    target()
    assert rss_mb() - before < 200, "memory grew without bound"
    assert "Traceback" not in capfd.readouterr().err


def test_fuzz_gate(records: Records, capfd: pytest.CaptureFixture[str]) -> None:
    with GateServer("127.0.0.1", 0, token=TOKEN) as gate:

        @FUZZ
        @given(
            method=st.sampled_from(["GET", "POST", "PUT"]),
            path=st.sampled_from(GATE_PATHS),
            fields=st.fixed_dictionaries(
                {
                    "Host": host,
                    "Content-Length": length,
                    "Content-Type": content_type,
                    "Origin": origin,
                    "Authorization": mostly(f"Bearer {TOKEN}", st.one_of(st.none(), short)),
                    "Sec-Fetch-Site": mostly(None, short),
                }
            ),
            payload=body,
        )
        def one(method: str, path: str, fields: dict[str, str | None], payload: bytes) -> None:
            check(exchange(gate.port, build(method, path, fields, payload)), records)

        run_fuzz(one, records, capfd)
        assert gate.tasks.total_execs == 0, "commands are off"


def test_fuzz_mlflow_receiver(records: Records, capfd: pytest.CaptureFixture[str]) -> None:
    events: list[RegistryEvent] = []
    receiver = WebhookReceiver(DeliveryVerifier(SECRET), events.append).start()
    port = int(receiver.url.rsplit(":", 1)[1])
    try:

        @FUZZ
        @given(
            fields=st.fixed_dictionaries(
                {
                    "Host": host,
                    "Content-Length": length,
                    "Content-Type": content_type,
                    "Origin": origin,
                    "X-MLflow-Delivery-Id": mostly("id", st.one_of(st.none(), short)),
                    "X-MLflow-Timestamp": mostly("now", st.one_of(st.none(), number, short)),
                }
            ),
            signature=mostly("valid", st.one_of(st.none(), short)),
            payload=body,
        )
        def one(fields: dict[str, str | None], signature: str | None, payload: bytes) -> None:
            fields = dict(fields)
            if fields["X-MLflow-Timestamp"] == "now":
                fields["X-MLflow-Timestamp"] = str(int(time.time()))
            if fields["X-MLflow-Delivery-Id"] == "id":
                fields["X-MLflow-Delivery-Id"] = str(uuid.uuid4())
            if signature == "valid":  # reach the body parsing with a correct signature
                stamp = fields["X-MLflow-Timestamp"] or ""
                signature = sign(SECRET, fields["X-MLflow-Delivery-Id"] or "", stamp, payload)
            fields["X-MLflow-Signature"] = signature
            check(exchange(port, build("POST", "/", fields, payload)), records)

        run_fuzz(one, records, capfd)
    finally:
        receiver.close()


def test_fuzz_otlp_receiver(records: Records, capfd: pytest.CaptureFixture[str]) -> None:
    with OTLPReceiver(OTLPStore(), "127.0.0.1", 0) as receiver:
        port = int(receiver.url.rsplit(":", 1)[1])

        @FUZZ
        @given(
            path=st.sampled_from(["/v1/metrics", "/v1/modelcanary/series?name=x&start=a"]),
            fields=st.fixed_dictionaries(
                {
                    "Host": host,
                    "Content-Length": length,
                    "Content-Type": content_type,
                    "Content-Encoding": st.one_of(st.none(), st.sampled_from(["gzip", "br"])),
                    "Origin": origin,
                }
            ),
            payload=body,
        )
        def one(path: str, fields: dict[str, str | None], payload: bytes) -> None:
            method = "POST" if path == "/v1/metrics" else "GET"
            check(exchange(port, build(method, path, fields, payload)), records)

        run_fuzz(one, records, capfd)
