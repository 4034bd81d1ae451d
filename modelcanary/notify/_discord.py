"""Discord: Flagger's way, the Slack payload posted to the webhook's ``/slack`` endpoint.

fluxcd/flagger ``pkg/notifier/discord.go`` appends ``/slack`` to the webhook path unless the
URL already ends with it, and posts the same body as its Slack notifier (Discord documents the
Slack-compatible endpoint: ``POST /webhooks/{id}/{token}/slack``). We do the same, keeping any
query string (``?wait=true``, ``?thread_id=``), so a Flagger AlertProvider of type ``discord``
behaves identically. Text is not mrkdwn-escaped: Discord shows ``&lt;`` literally.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..ports import Notification
from ._base import DEFAULT_TIMEOUT, HttpNotifier, Secret
from ._slack import DEFAULT_USERNAME, SLACK_COLORS, slack_payload


def slack_endpoint(url: str) -> str:
    """``url`` with ``/slack`` appended to its path (unchanged if already there)."""
    split = urlsplit(url)
    path = split.path.rstrip("/")
    if path.endswith("/slack"):
        return url
    return urlunsplit(split._replace(path=f"{path}/slack"))


class DiscordNotifier(HttpNotifier):
    """Posts Flagger's Slack-format message to ``<webhook>/slack``."""

    service = "discord"

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
        raw = url.reveal() if isinstance(url, Secret) else url
        super().__init__(
            Secret(slack_endpoint(raw.strip())),
            name=name,
            timeout=timeout,
            proxy=proxy,
            transport=transport,
        )
        self._original = Secret(raw)
        self.channel = channel
        self.username = username or DEFAULT_USERNAME

    def _secrets(self) -> list[Secret | None]:
        return [*super()._secrets(), self._original]

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The Slack body (Discord ignores ``channel``; the webhook fixes the channel)."""
        return slack_payload(
            notification,
            channel=self.channel,
            username=self.username,
            colors=SLACK_COLORS,
            escape=False,
        )
