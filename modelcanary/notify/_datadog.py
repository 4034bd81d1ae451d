"""Datadog events: ``POST /api/v1/events`` with the ``DD-API-KEY`` header.

Body (Datadog API reference, "Post an event", v1)::

    {"title": "RolloutFailed: fraud.ml", "text": "<message>\\n\\nPhase: Failed\\n...",
     "alert_type": "error", "source_type_name": "modelcanary",
     "aggregation_key": "modelcanary:ml/fraud",
     "tags": ["modelcanary", "rollout:fraud", "namespace:ml", "event:RolloutFailed",
              "severity:error"]}

``alert_type`` by severity: info -> ``info``, warn -> ``warning``, error -> ``error``. Datadog
answers ``202 Accepted``. The address is the site: ``datadoghq.eu``, ``us5.datadoghq.com``...
(the API host is ``api.<site>``), or a full base URL such as ``https://api.datadoghq.eu``;
default ``https://api.datadoghq.com``. The API key comes from ``secretRef``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..ports import Notification
from ._base import DEFAULT_TIMEOUT, HttpNotifier, Secret, chat_fields, target

DEFAULT_SITE = "datadoghq.com"
EVENTS_PATH = "/api/v1/events"
ALERT_TYPES: dict[str, str] = {"info": "info", "warn": "warning", "error": "error"}
MAX_TEXT = 4000
"""Datadog keeps the first 4000 characters of an event's text."""


def events_url(address: str | None) -> str:
    """The events endpoint for a site name or base URL (see the module docstring)."""
    address = (address or DEFAULT_SITE).strip()
    if "://" not in address:
        host = address.strip("/")
        return f"https://{host if host.startswith('api.') else 'api.' + host}{EVENTS_PATH}"
    split = urlsplit(address)
    if split.path.rstrip("/") in ("", "/"):
        return urlunsplit(split._replace(path=EVENTS_PATH))
    return address


def datadog_payload(notification: Notification) -> dict[str, Any]:
    """The event body for ``notification``."""
    lines = [f"{f.name}: {f.value}" for f in chat_fields(notification, event=False)]
    text = notification.message + ("\n\n" + "\n".join(lines) if lines else "")
    return {
        "title": f"{notification.event}: {target(notification)}",
        "text": text[:MAX_TEXT],
        "alert_type": ALERT_TYPES.get(notification.severity, "info"),
        "source_type_name": "modelcanary",
        "aggregation_key": f"modelcanary:{notification.namespace}/{notification.rollout}"[:100],
        "tags": [
            "modelcanary",
            f"rollout:{notification.rollout}",
            f"namespace:{notification.namespace}",
            f"event:{notification.event}",
            f"severity:{notification.severity}",
        ],
    }


class DatadogNotifier(HttpNotifier):
    """Posts rollout events to Datadog's event stream."""

    service = "datadog"

    def __init__(
        self,
        api_key: Secret | str,
        *,
        address: str | None = None,
        name: str = "",
        timeout: float = DEFAULT_TIMEOUT,
        proxy: Secret | str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            events_url(address), name=name, timeout=timeout, proxy=proxy, transport=transport
        )
        self._api_key = Secret(api_key) if isinstance(api_key, str) else api_key

    def __repr__(self) -> str:
        return f"DatadogNotifier(name={self.name!r}, url={self._url.reveal()!r}, api_key=<secret>)"

    def headers(self) -> dict[str, str]:
        """``DD-API-KEY``: the only credential the events endpoint needs."""
        return {"DD-API-KEY": self._api_key.reveal()}

    def _secrets(self) -> list[Secret | None]:
        return [self._proxy, self._api_key]  # the site URL is not a credential

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The Datadog event body (see the module docstring)."""
        return datadog_payload(notification)
