"""Services that take Flagger's Slack body on an incoming webhook (Discord, Rocket.Chat).

One base for what they share: a webhook URL, the optional ``channel`` and ``username`` of the
Slack body, and the body itself with the service's own colours, not mrkdwn-escaped (these
services show ``&lt;`` literally). Each service file keeps only what differs.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from ..ports import Notification
from ._base import DEFAULT_TIMEOUT, HttpNotifier, Secret
from ._slack import DEFAULT_USERNAME, SLACK_COLORS, slack_payload


class SlackCompatibleNotifier(HttpNotifier):
    """Posts Flagger's Slack-format message to a Slack-compatible incoming webhook."""

    colors: ClassVar[dict[str, str]] = SLACK_COLORS
    """Attachment colour per severity (info, warn, error)."""

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
        endpoint = Secret(self.endpoint(raw.strip()))
        super().__init__(endpoint, name=name, timeout=timeout, proxy=proxy, transport=transport)
        self._original = Secret(raw)
        self.channel = channel
        self.username = username or DEFAULT_USERNAME

    @staticmethod
    def endpoint(url: str) -> str:
        """Where to post, from the configured webhook URL (unchanged by default)."""
        return url

    def _secrets(self) -> list[Secret | None]:
        return [*super()._secrets(), self._original]

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The Slack body with this service's colours, text not mrkdwn-escaped."""
        return slack_payload(
            notification,
            channel=self.channel,
            username=self.username,
            colors=self.colors,
            escape=False,
        )
