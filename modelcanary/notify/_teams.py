"""Microsoft Teams: legacy connector MessageCard (Flagger) or Workflows Adaptive Card.

Two webhook kinds exist and each accepts one shape only:

* **Office 365 connector** URLs (``https://<tenant>.webhook.office.com/...``, formerly
  ``outlook.office.com/webhook``) take the ``MessageCard`` that fluxcd/flagger
  ``pkg/notifier/teams.go`` sends (``themeColor`` 0076D7, FF0000 for errors; ``summary`` and
  ``activitySubtitle`` = ``rollout.namespace``; ``activityTitle`` = the message; ``facts``).
  Microsoft is retiring these connectors.
* **Workflows** (Power Automate "post to a channel when a webhook request is received") URLs,
  e.g. ``https://prod-NN.<region>.logic.azure.com/workflows/...`` or
  ``*.environment.api.powerplatform.com``, reject a MessageCard ("Property 'type' must be
  'AdaptiveCard'") and take ``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard 1.4>}]}``.

``card="auto"`` (default) picks the shape from the host exactly as Flux's notification-controller
(``internal/notifier/teams.go``) does: connector hosts get the MessageCard, every other URL the
Adaptive Card, which is where Microsoft is moving everyone. ``card`` can force either.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from ..ports import Notification
from ._base import DEFAULT_TIMEOUT, HttpNotifier, Secret, chat_fields, target

CardFormat = Literal["auto", "messagecard", "adaptive"]
MESSAGECARD_COLORS: dict[str, str] = {"info": "0076D7", "warn": "FFA500", "error": "FF0000"}
"""MessageCard ``themeColor`` by severity (Flagger: 0076D7, FF0000 for errors)."""
ADAPTIVE_COLORS: dict[str, str] = {"warn": "warning", "error": "attention"}
"""Adaptive Card TextBlock ``color`` of the message by severity (info: default colour)."""
ADAPTIVE_CARD_VERSION = "1.4"
"""Highest Adaptive Card version Teams renders (Flux uses the same)."""
_CONNECTOR_DOMAINS = ("webhook.office.com", "outlook.office.com", "outlook.office365.com")


def teams_card_format(url: str) -> Literal["messagecard", "adaptive"]:
    """``messagecard`` for Office 365 connector hosts, ``adaptive`` for any other URL."""
    host = (urlsplit(url).hostname or "").lower()
    legacy = any(host == d or host.endswith(f".{d}") for d in _CONNECTOR_DOMAINS)
    return "messagecard" if legacy else "adaptive"


def message_card(notification: Notification) -> dict[str, Any]:
    """Flagger's MessageCard for a legacy connector webhook."""
    return {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": MESSAGECARD_COLORS.get(notification.severity, MESSAGECARD_COLORS["info"]),
        "summary": target(notification),
        "sections": [
            {
                "activityTitle": notification.message,
                "activitySubtitle": target(notification),
                "facts": [{"name": f.name, "value": f.value} for f in chat_fields(notification)],
            }
        ],
    }


def adaptive_card(notification: Notification) -> dict[str, Any]:
    """The Workflows message: one Adaptive Card (title, message, facts), full width."""
    message: dict[str, Any] = {"type": "TextBlock", "text": notification.message, "wrap": True}
    if notification.severity in ADAPTIVE_COLORS:
        message["color"] = ADAPTIVE_COLORS[notification.severity]
    facts = [{"title": f.name, "value": f.value} for f in chat_fields(notification)]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "Container",
                "items": [
                    {
                        "type": "TextBlock",
                        "text": target(notification),
                        "size": "large",
                        "weight": "bolder",
                        "wrap": True,
                    },
                    message,
                    {"type": "FactSet", "facts": facts},
                ],
            }
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


class TeamsNotifier(HttpNotifier):
    """Posts a MessageCard or an Adaptive Card to a Teams webhook (see the module docstring)."""

    service = "msteams"

    def __init__(
        self,
        url: Secret | str,
        *,
        name: str = "",
        card: CardFormat = "auto",
        timeout: float = DEFAULT_TIMEOUT,
        proxy: Secret | str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, name=name, timeout=timeout, proxy=proxy, transport=transport)
        self.card: Literal["messagecard", "adaptive"] = (
            teams_card_format(self._url.reveal()) if card == "auto" else card
        )

    def __repr__(self) -> str:
        return f"TeamsNotifier(name={self.name!r}, url=<secret>, card={self.card!r})"

    def payload(self, notification: Notification) -> dict[str, Any]:
        """MessageCard for connector URLs, Adaptive Card for Workflows URLs."""
        if self.card == "messagecard":
            return message_card(notification)
        return adaptive_card(notification)
