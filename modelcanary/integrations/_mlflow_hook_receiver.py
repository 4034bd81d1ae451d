"""Receiver of MLflow registry webhooks: signature check, replay protection, event parsing.

MLflow (>= 3.3) POSTs ``{"entity", "action", "timestamp", "data"}`` with the headers
``X-MLflow-Delivery-Id``, ``X-MLflow-Timestamp`` (unix seconds) and, when the webhook has a
secret, ``X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "delivery_id.timestamp.body">``.
A delivery is accepted only when its signature matches (constant-time compare), its timestamp
is within ``max_skew`` seconds of now, and its delivery id was not seen before (bounded memory).
No mlflow import here: the receiver is plain standard library, on the hardened server base
(``modelcanary._httpd``): a body needs a valid ``Content-Length`` (411/400, 413 over 1 MiB,
never read), the headers are screened before the body is read (a delivery without id,
timestamp or signature is refused unread), reads time out, connections are capped, and every
malformed request is a 4xx with one log line.

Each delivery is logged (INFO: accepted, with its event, model and delivery id; WARNING:
refused, with why) and kept in a short ring of recent deliveries. ``GET /status`` answers, as
JSON, those deliveries, the accepted/refused counts and what the hook reports of itself (the
rollouts in flight, the last verdicts); read-only, cross-site browser requests refused, and
``Host`` names other than IP addresses, loopback names and ``status_hosts`` refused (DNS
rebinding). Any other ``GET`` is the health check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from .._httpd import BackgroundServer, Handler, HostPolicy, Limits, loads_json

log = logging.getLogger("modelcanary.mlflow")

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
MAX_BODY = 1 << 20
LIMITS = Limits(max_body=MAX_BODY, read_timeout=10.0, request_timeout=30.0, max_connections=32)
"""Body, time and connection bounds of the receiver."""
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
RECENT_DELIVERIES = 50
"""Deliveries kept for ``GET /status`` (oldest dropped first)."""


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
        if not isinstance(payload, Mapping):
            raise ValueError("payload is not a JSON object")
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
    """The ``X-MLflow-Signature`` value MLflow sends for this delivery.

    Signs the body's bytes as sent (MLflow signs the UTF-8 of its JSON text: the same bytes),
    so a body that is not UTF-8 simply does not match instead of failing to decode.
    """
    data = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    content = f"{delivery_id}.{timestamp}.".encode("utf-8", "surrogatepass") + data
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

    def screen(self, headers: Mapping[str, str]) -> Verdict | None:
        """The checks that need no body (ids, timestamp, a signature at all): a refusal, or
        None when the body is worth reading."""
        delivery = headers.get(DELIVERY_ID_HEADER) or ""
        stamp = (headers.get(TIMESTAMP_HEADER) or "").strip()
        if not delivery or not stamp:
            return Verdict(400, "missing delivery id or timestamp")
        if not headers.get(SIGNATURE_HEADER):
            return Verdict(401, "unsigned delivery")
        if not _UNIX_SECONDS.fullmatch(stamp):
            return Verdict(400, "timestamp is not unix seconds")
        if abs(self._clock() - int(stamp)) > self._max_skew:
            return Verdict(400, "stale or future timestamp")
        return None

    def check(self, headers: Mapping[str, str], body: bytes) -> Verdict:
        """Verdict for one delivery; a valid delivery id is remembered (replays -> duplicate)."""
        early = self.screen(headers)
        if early is not None:
            return early
        delivery = headers.get(DELIVERY_ID_HEADER) or ""
        stamp = (headers.get(TIMESTAMP_HEADER) or "").strip()
        signature = headers.get(SIGNATURE_HEADER) or ""
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
    """An HTTP server (background thread) that verifies deliveries and hands events to
    ``on_event``. Binds in the constructor (``OSError`` when the address is unusable)."""

    def __init__(
        self,
        verifier: DeliveryVerifier,
        on_event: Callable[[RegistryEvent], None],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits = LIMITS,
        status: Callable[[], Mapping[str, Any]] | None = None,
        status_hosts: Iterable[str] = (),
    ) -> None:
        self.verifier = verifier
        self.on_event = on_event
        self.rejected = 0
        self.accepted = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_DELIVERIES)
        """The last deliveries: time, delivery id, event, model, version, alias, result."""
        self.status_source = status
        self.status_hosts = HostPolicy.build(host, status_hosts)
        self._recent_lock = threading.Lock()
        # no Host allowlist: MLflow may call any name of this host, and a delivery is
        # authenticated by its signature, which no web page can compute
        self._http = BackgroundServer(
            host,
            port,
            _Handler,
            app=self,
            limits=limits,
            logger=log,
            name="modelcanary-mlflow-hook",
        )

    @property
    def url(self) -> str:
        """``http://host:port`` of the receiver."""
        return self._http.url

    def start(self) -> WebhookReceiver:
        """Serve in a background thread."""
        self._http.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port. Idempotent."""
        self._http.close()

    def screen(self, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]] | None:
        """Refuse a delivery on its headers alone (before its body is read), or None."""
        verdict = self.verifier.screen(_Caseless(headers))
        return None if verdict is None else self._refused(verdict)

    def deliver(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Check one delivery and dispatch it; returns the HTTP status and JSON answer."""
        caseless = _Caseless(headers)
        verdict = self.verifier.check(caseless, body)
        delivery = _delivery_id(caseless.get(DELIVERY_ID_HEADER) or "")
        if verdict.status != 200:
            return self._refused(verdict, delivery)
        if not verdict.accepted:
            log.info("webhook delivery %s ignored: %s", delivery, verdict.reason)
            self._remember(delivery, None, verdict.reason)
            return 200, {"ignored": verdict.reason}
        try:
            event = RegistryEvent.from_payload(loads_json(body))
        except (ValueError, TypeError) as exc:
            log.warning("signed webhook delivery %s is not a registry event: %s", delivery, exc)
            self._remember(delivery, None, f"not a registry event: {exc}")
            return 400, {"error": f"not a registry event: {exc}"}
        self.accepted += 1
        log.info("webhook delivery %s: %s", delivery, _describe(event))
        try:
            self.on_event(event)
        except Exception:  # the sender cannot fix our failure: log it, answer 500
            log.exception("handling %s failed", event)
            self._remember(delivery, event, "handler failed")
            return 500, {"error": "handler failed"}
        self._remember(delivery, event, "accepted")
        return 200, {"accepted": f"{event.entity}.{event.action}"}

    def status(self) -> dict[str, Any]:
        """``GET /status``: the hook's own status, the counts and the last deliveries."""
        own = dict(self.status_source()) if self.status_source is not None else {}
        with self._recent_lock:
            recent = list(self.recent)
        return own | {
            "deliveries": {"accepted": self.accepted, "refused": self.rejected},
            "recentDeliveries": recent[::-1],  # newest first
        }

    def _refused(self, verdict: Verdict, delivery: str = "") -> tuple[int, dict[str, Any]]:
        self.rejected += 1
        log.warning(
            "webhook delivery %s refused (%d): %s", delivery or "-", verdict.status, verdict.reason
        )
        self._remember(delivery, None, f"refused ({verdict.status}): {verdict.reason}")
        return verdict.status, {"error": verdict.reason}

    def _remember(self, delivery: str, event: RegistryEvent | None, result: str) -> None:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "delivery": delivery or None,
            "result": result,
        }
        if event is not None:
            entry |= {
                "event": f"{event.entity}.{event.action}",
                "model": event.name,
                "version": event.version,
                "alias": event.alias,
            }
        with self._recent_lock:
            self.recent.append(entry)


class _Handler(Handler):
    server_version = "modelcanary-mlflow-hook"

    def do_POST(self) -> None:
        receiver = cast(WebhookReceiver, self.server.app)
        self.check_origin(None)  # no web page is a sender: any cross-site request is 403
        headers = dict(self.headers.items())
        answer = receiver.screen(headers)
        if answer is None:
            self.content_length(required=True)  # 411/400/413 before anything is read
            answer = receiver.deliver(headers, self.read_body(required=True))
        self.reply(answer[0], json.dumps(answer[1]).encode(), "application/json")

    def do_GET(self) -> None:
        if urlsplit(self.path).path.rstrip("/") != "/status":
            self.reply(200, b'{"status": "ok"}', "application/json")  # the health check
            return
        receiver = cast(WebhookReceiver, self.server.app)
        self.check_origin(receiver.status_hosts)  # read-only, but not for web pages
        body = json.dumps(receiver.status(), indent=2, default=str).encode()
        self.reply(200, body, "application/json")

    def error_body(self, status: int, message: str) -> tuple[bytes, str]:
        return json.dumps({"error": message}).encode(), "application/json"


def _delivery_id(value: str) -> str:
    """A sender's delivery id, fit for a log line and the status (else a placeholder)."""
    return value if _DELIVERY_ID.fullmatch(value) else "(unreadable id)"


def _describe(event: RegistryEvent) -> str:
    """``model_version_alias.created for 'fraud' v7 (alias challenger)`` for a log line."""
    extra = [f"v{event.version}"] if event.version else []
    extra += [f"alias {event.alias}"] if event.alias else []
    extra += [f"tag {event.key}"] if event.key else []
    return f"{event.entity}.{event.action} for {event.name!r} " + " ".join(extra)


class _Caseless(dict[str, str]):
    """Header lookup that ignores case (HTTP header names are case-insensitive)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__({k.lower(): v for k, v in headers.items()})

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)
