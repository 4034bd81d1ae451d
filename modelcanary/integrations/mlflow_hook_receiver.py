"""Receiver of MLflow registry webhooks: signature check, replay protection, event parsing.

MLflow (>= 3.3) POSTs ``{"entity", "action", "timestamp", "data"}`` with the headers
``X-MLflow-Delivery-Id``, ``X-MLflow-Timestamp`` (unix seconds) and, when the webhook has a
secret, ``X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "delivery_id.timestamp.body">``.
A delivery is accepted only when its signature matches (constant-time compare), its timestamp
is within ``max_skew`` seconds of now, and its delivery id was not seen before (bounded memory).
No mlflow import here: the receiver is plain standard library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("modelcanary.mlflow")

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class RegistryEvent:
    """One registry change, from a webhook delivery or found by polling."""

    entity: str
    action: str
    name: str
    version: str | None = None
    alias: str | None = None
    key: str | None = None
    value: str | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> RegistryEvent:
        """Build an event from a webhook body; ``ValueError`` when it is not one."""
        data = payload.get("data")
        if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
            raise ValueError("payload has no data.name")

        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        return cls(
            entity=str(payload.get("entity", "")),
            action=str(payload.get("action", "")),
            name=str(data["name"]),
            version=text("version"),
            alias=text("alias"),
            key=text("key"),
            value=text("value"),
        )


@dataclass(frozen=True)
class Verdict:
    """Outcome of a delivery check: HTTP status and why."""

    status: int
    reason: str

    @property
    def accepted(self) -> bool:
        return self.status == 200 and self.reason == "ok"


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes | str) -> str:
    """The ``X-MLflow-Signature`` value MLflow sends for this delivery."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    content = f"{delivery_id}.{timestamp}.{text}".encode()
    digest = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


class DeliveryVerifier:
    """Checks signature, timestamp skew and delivery-id reuse of webhook deliveries."""

    def __init__(
        self,
        secret: str,
        *,
        max_skew: float = 300.0,
        remember: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret is required: unsigned deliveries are refused")
        self._secret = secret
        self._max_skew = max_skew
        self._remember = remember
        self._clock = clock
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, headers: Mapping[str, str], body: bytes) -> Verdict:
        """Verdict for one delivery; a valid delivery id is remembered (replays -> duplicate)."""
        delivery = headers.get(DELIVERY_ID_HEADER) or ""
        stamp = headers.get(TIMESTAMP_HEADER) or ""
        signature = headers.get(SIGNATURE_HEADER) or ""
        if not delivery or not stamp:
            return Verdict(400, "missing delivery id or timestamp")
        if not signature:
            return Verdict(401, "unsigned delivery")
        try:
            sent = int(stamp)
        except ValueError:
            return Verdict(400, "timestamp is not unix seconds")
        if abs(self._clock() - sent) > self._max_skew:
            return Verdict(400, "stale or future timestamp")
        expected = sign(self._secret, delivery, stamp, body).encode()
        offered = [s.strip().encode() for s in signature.split(" ") if s.strip()]
        # compare every offered signature (no early exit: constant time per candidate)
        matched = False
        for candidate in offered:
            matched |= hmac.compare_digest(candidate, expected)
        if not matched:
            return Verdict(401, "bad signature")
        with self._lock:
            if delivery in self._seen:
                return Verdict(200, "duplicate")
            self._seen[delivery] = None
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        return Verdict(200, "ok")


class WebhookReceiver:
    """A ThreadingHTTPServer that verifies deliveries and hands events to ``on_event``."""

    def __init__(
        self,
        verifier: DeliveryVerifier,
        on_event: Callable[[RegistryEvent], None],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.verifier = verifier
        self.on_event = on_event
        self.rejected = 0
        self.accepted = 0
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the receiver."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> WebhookReceiver:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="modelcanary-mlflow-hook", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port. Idempotent."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def deliver(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Check one delivery and dispatch it; returns the HTTP status and JSON answer."""
        verdict = self.verifier.check(_Caseless(headers), body)
        if verdict.status != 200:
            self.rejected += 1
            log.warning("webhook delivery refused (%d): %s", verdict.status, verdict.reason)
            return verdict.status, {"error": verdict.reason}
        if not verdict.accepted:
            return 200, {"ignored": verdict.reason}
        try:
            event = RegistryEvent.from_payload(json.loads(body))
        except (ValueError, TypeError) as exc:
            return 400, {"error": f"not a registry event: {exc}"}
        self.accepted += 1
        try:
            self.on_event(event)
        except Exception:  # the sender cannot fix our failure: log it, answer 500
            log.exception("handling %s failed", event)
            return 500, {"error": "handler failed"}
        return 200, {"accepted": f"{event.entity}.{event.action}"}


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, {"error": "body too large"})
                return
            body = self.rfile.read(length)
            headers = {k: v for k, v in self.headers.items()}
            status, answer = receiver.deliver(headers, body)
            self._answer(status, answer)

        def do_GET(self) -> None:
            self._answer(200, {"status": "ok"})

        def _answer(self, status: int, answer: dict[str, Any]) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("receiver: " + format, *args)

    return Handler


class _Caseless(dict[str, str]):
    """Header lookup that ignores case (HTTP header names are case-insensitive)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__({k.lower(): v for k, v in headers.items()})

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)
