"""What every notifier shares: masked secrets, the HTTP POST, and error mapping.

Webhook addresses and API keys are credentials (a Slack or Teams URL *is* the token), so they
live in :class:`Secret` (masked in ``repr``/``str``) and are scrubbed from every error message:
a notifier's repr, its exceptions and the log never show them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from ..errors import NotifyError, SpecError, SpecIssue
from ..ports import Notification

DEFAULT_TIMEOUT = 5.0
"""Seconds per request, as Flagger's notifier client (``context.WithTimeout(..., 5s)``)."""
USER_AGENT = "modelcanary-notifier"
_MASK = "***"


class Secret:
    """A credential whose text is only given by :meth:`reveal` (never by repr/str)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The credential itself: pass it to the HTTP client, never to a log or message."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def redact(text: str, secrets: Iterable[Secret | str | None]) -> str:
    """``text`` with every secret, and the path/query of secret URLs, replaced by ``***``."""
    for secret in secrets:
        if secret is None:
            continue
        value = secret.reveal() if isinstance(secret, Secret) else secret
        parts = [value]
        if "://" in value:
            split = urlsplit(value)
            parts += [split.path, split.query, split.path.strip("/")]
        for part in sorted(parts, key=len, reverse=True):
            if len(part) >= 6:
                text = text.replace(part, _MASK)
    return text


class DeliveryError(NotifyError):
    """A notification service refused the message or could not be reached in time.

    ``status_code`` is the HTTP status (None for timeouts and connection errors);
    ``retryable`` is True for timeouts, connection errors, HTTP 429 and 5xx.
    """

    def __init__(
        self, message: str, *, service: str, status_code: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.service = service
        self.status_code = status_code
        self.retryable = retryable


def check_url(value: Secret, *, service: str, field: str = "address") -> Secret:
    """Reject addresses that are not absolute http(s) URLs, without echoing them."""
    split = urlsplit(value.reveal().strip())
    if split.scheme not in ("http", "https") or not split.netloc:
        raise SpecError(
            SpecIssue(
                field,
                f"the {service} address is not an http(s) URL (value hidden: it is a credential)",
                "give the full webhook URL, e.g. https://hooks.example.com/..., in the Secret, "
                "the environment variable or `address`",
            )
        )
    return Secret(value.reveal().strip())


@dataclass(frozen=True)
class Field:
    """One name/value line shown in a chat message (Flagger's ``notifier.Field``)."""

    name: str
    value: str


def target(notification: Notification) -> str:
    """``rollout.namespace``, how Flagger names a canary in every message."""
    return f"{notification.rollout}.{notification.namespace}"


def chat_fields(notification: Notification, *, event: bool = True) -> list[Field]:
    """Event and phase (when known), then the notification's own fields in order."""
    fields = [Field("Event", notification.event)] if event and notification.event else []
    if notification.phase:
        fields.append(Field("Phase", notification.phase))
    fields += [Field(name, value) for name, value in notification.fields.items()]
    return fields


class HttpNotifier:
    """Base of the HTTP notifiers: POSTs JSON to a secret URL with a timeout.

    Subclasses set ``service`` and implement :meth:`payload`; a 2xx answer is success,
    anything else raises :class:`DeliveryError` (a ``NotifyError``) with the status and
    a redacted excerpt of the answer.
    """

    service: ClassVar[str] = "webhook"

    def __init__(
        self,
        url: Secret | str,
        *,
        name: str = "",
        timeout: float = DEFAULT_TIMEOUT,
        proxy: Secret | str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name or self.service
        self._url = check_url(url if isinstance(url, Secret) else Secret(url), service=self.service)
        self.timeout = timeout
        self._proxy = Secret(proxy) if isinstance(proxy, str) else proxy
        self._transport = transport

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url=<secret>, timeout={self.timeout:g})"

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The JSON body the service accepts for ``notification``."""
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        """Extra request headers (credentials go here, never in messages)."""
        return {}

    def _secrets(self) -> list[Secret | None]:
        return [self._url, self._proxy]

    def notify(self, notification: Notification) -> None:
        """Send ``notification``; raise :class:`DeliveryError` when the service refuses it."""
        self.post(self._url.reveal(), self.payload(notification))

    def post(self, url: str, body: Mapping[str, Any]) -> httpx.Response:
        """POST ``body`` as JSON to ``url``; map every failure to a redacted DeliveryError."""
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **self.headers()}
        content = json.dumps(body, ensure_ascii=False).encode()
        label = f"{self.service} notifier {self.name!r}"
        try:
            with httpx.Client(
                timeout=self.timeout,
                proxy=self._proxy.reveal() if self._proxy else None,
                transport=self._transport,
                follow_redirects=False,
            ) as client:
                response = client.post(url, content=content, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryError(
                f"{label}: no answer within {self.timeout:g}s (timeout)",
                service=self.service,
                retryable=True,
            ) from None
        except httpx.HTTPError as exc:
            reason = redact(str(exc) or type(exc).__name__, self._secrets())
            raise DeliveryError(
                f"{label}: could not reach the service ({type(exc).__name__}: {reason})",
                service=self.service,
                retryable=True,
            ) from None
        if not 200 <= response.status_code < 300:
            excerpt = redact(response.text[:200].strip(), self._secrets())
            code = response.status_code
            raise DeliveryError(
                f"{label}: HTTP {code} {response.reason_phrase}"
                + (f": {excerpt}" if excerpt else ""),
                service=self.service,
                status_code=code,
                retryable=code == 429 or code >= 500,
            )
        return response
