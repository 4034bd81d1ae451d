"""Generic JSON webhook: modelcanary's own, documented notification body.

``POST <address>`` with ``Content-Type: application/json`` and (when a token is configured)
``Authorization: Bearer <token>``; any 2xx answer is success. The body::

    {"rollout": "fraud", "namespace": "ml", "event": "RolloutFailed", "severity": "error",
     "message": "error-rate 0.031 > 0.01 (3 failed checks)", "phase": "Failed",
     "fields": {"Failed checks": "3"}, "timestamp": "2024-05-01T12:00:00Z"}

``severity`` is ``info``, ``warn`` or ``error``; ``phase`` may be empty; ``fields`` maps
strings to strings; ``timestamp`` is the send time, RFC 3339 in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from ..ports import Notification
from ._base import DEFAULT_TIMEOUT, HttpNotifier, Secret


def utc_now() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """``2024-05-01T12:00:00Z`` (UTC, no microseconds; naive times are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def webhook_payload(notification: Notification, now: datetime) -> dict[str, Any]:
    """The generic body (see the module docstring)."""
    return {
        "rollout": notification.rollout,
        "namespace": notification.namespace,
        "event": notification.event,
        "severity": notification.severity,
        "message": notification.message,
        "phase": notification.phase,
        "fields": dict(notification.fields),
        "timestamp": rfc3339(now),
    }


class WebhookNotifier(HttpNotifier):
    """POSTs the generic JSON body to any HTTP endpoint."""

    service = "webhook"

    def __init__(
        self,
        url: Secret | str,
        *,
        name: str = "",
        token: Secret | str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        proxy: Secret | str | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(url, name=name, timeout=timeout, proxy=proxy, transport=transport)
        self._token = Secret(token) if isinstance(token, str) else token
        self._clock = clock

    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer <token>`` when a token is configured."""
        return {"Authorization": f"Bearer {self._token.reveal()}"} if self._token else {}

    def _secrets(self) -> list[Secret | None]:
        return [*super()._secrets(), self._token]

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The generic body, stamped with the clock's time."""
        return webhook_payload(notification, self._clock())
