"""Rocket.Chat: Flagger's ``rocket`` AlertProvider type (Slack-compatible incoming webhook).

fluxcd/flagger ``pkg/notifier/rocket.go`` posts its Slack body to the Rocket.Chat incoming
webhook with hex colours: ``#0076D7``, ``#FF0000`` for errors. We add ``#FFA500`` for warn.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..ports import Notification
from ._base import DEFAULT_TIMEOUT, HttpNotifier, Secret
from ._slack import DEFAULT_USERNAME, slack_payload

ROCKET_COLORS: dict[str, str] = {"info": "#0076D7", "warn": "#FFA500", "error": "#FF0000"}


class RocketChatNotifier(HttpNotifier):
    """Posts Flagger's Slack-format message to a Rocket.Chat incoming webhook."""

    service = "rocket"

    def __init__(
        self,
        url: Secret | str,
        *,
        name: str = "",
        channel: str | None = None,
        username: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        proxy: Secret | str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, name=name, timeout=timeout, proxy=proxy, transport=transport)
        self.channel = channel
        self.username = username or DEFAULT_USERNAME

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The Slack body with Rocket.Chat's hex colours."""
        return slack_payload(
            notification,
            channel=self.channel,
            username=self.username,
            colors=ROCKET_COLORS,
            escape=False,
        )
