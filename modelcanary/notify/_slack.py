"""Slack: incoming webhook (or ``chat.postMessage`` with a bot token), Flagger's payload.

The body is the one fluxcd/flagger ``pkg/notifier/slack.go`` sends::

    {"channel": "#ml", "username": "modelcanary", "icon_emoji": ":rocket:",
     "text": "RolloutFailed fraud.ml",
     "attachments": [{"color": "danger", "author_name": "fraud.ml", "text": "<message>",
                      "mrkdwn_in": ["text"], "fields": [{"title": "Phase", "value": "Failed",
                                                         "short": false}]}]}

Differences from Flagger, on purpose: ``text`` carries a one-line headline (Slack shows it in
push notifications, which show "no preview" for attachment-only messages); ``warn`` is
``warning`` (yellow) where Flagger colours only errors; ``channel`` is sent only when configured
(a modern incoming webhook is bound to its channel; Flagger defaults it to ``general``); empty
``icon_url`` is not sent. ``&``, ``<`` and ``>`` are escaped as Slack's mrkdwn requires.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import SpecError, SpecIssue
from ..ports import Notification
from ._base import DEFAULT_TIMEOUT, DeliveryError, HttpNotifier, Secret, chat_fields, target

SLACK_POST_MESSAGE_URL = "https://slack.com/api/chat.postMessage"
"""Where a bot token posts when no address is given (Flagger's SlackAPIPostMessageDefaultURL)."""
DEFAULT_USERNAME = "modelcanary"
SLACK_COLORS: dict[str, str] = {"info": "good", "warn": "warning", "error": "danger"}
"""Attachment colour by severity (Slack's named colours: green, yellow, red)."""


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(
    notification: Notification,
    *,
    channel: str | None,
    username: str,
    colors: dict[str, str] = SLACK_COLORS,
    escape: bool = True,
) -> dict[str, Any]:
    """The Slack-compatible body (also sent to Discord's ``/slack`` and Rocket.Chat)."""
    esc = escape_mrkdwn if escape else str
    payload: dict[str, Any] = {}
    if channel:
        payload["channel"] = channel
    payload["username"] = username
    payload["icon_emoji"] = ":rocket:"
    payload["text"] = esc(f"{notification.event} {target(notification)}".strip())
    payload["attachments"] = [
        {
            "color": colors.get(notification.severity, colors["info"]),
            "author_name": target(notification),
            "text": esc(notification.message),
            "mrkdwn_in": ["text"],
            "fields": [
                {"title": f.name, "value": esc(f.value), "short": False}
                for f in chat_fields(notification, event=False)
            ],
        }
    ]
    return payload


class SlackNotifier(HttpNotifier):
    """Posts to a Slack incoming webhook, or to ``chat.postMessage`` with a bot token."""

    service = "slack"

    def __init__(
        self,
        url: Secret | str | None = None,
        *,
        name: str = "",
        channel: str | None = None,
        username: str | None = None,
        token: Secret | str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        proxy: Secret | str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._token = Secret(token) if isinstance(token, str) else token
        if url is None:
            if not self._token:
                raise SpecError(
                    SpecIssue(
                        "address",
                        "a Slack provider needs a webhook URL or a bot token",
                        "put the incoming-webhook URL in secretRef (or address)",
                    )
                )
            url = SLACK_POST_MESSAGE_URL
        super().__init__(url, name=name, timeout=timeout, proxy=proxy, transport=transport)
        self.channel = channel
        self.username = username or DEFAULT_USERNAME

    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer <token>`` in bot-token mode (as Flagger)."""
        return {"Authorization": f"Bearer {self._token.reveal()}"} if self._token else {}

    def _secrets(self) -> list[Secret | None]:
        return [*super()._secrets(), self._token]

    def payload(self, notification: Notification) -> dict[str, Any]:
        """Flagger's Slack body (see the module docstring)."""
        return slack_payload(notification, channel=self.channel, username=self.username)

    def notify(self, notification: Notification) -> None:
        """Send; in token mode Slack answers 200 with ``{"ok": false}`` on errors: raise then."""
        response = self.post(self._url.reveal(), self.payload(notification))
        if not self._token:
            return
        try:
            answer = response.json()
        except ValueError:
            return
        if isinstance(answer, dict) and answer.get("ok") is False:
            raise DeliveryError(
                f"slack notifier {self.name!r}: Slack refused the message: "
                f"{str(answer.get('error', 'unknown error'))[:100]}",
                service=self.service,
                status_code=response.status_code,
            )
