"""Rocket.Chat: Flagger's ``rocket`` AlertProvider type (Slack-compatible incoming webhook).

fluxcd/flagger ``pkg/notifier/rocket.go`` posts its Slack body to the Rocket.Chat incoming
webhook with hex colours: ``#0076D7``, ``#FF0000`` for errors. We add ``#FFA500`` for warn.
"""

from __future__ import annotations

from typing import ClassVar

from ._slack_compatible import SlackCompatibleNotifier

ROCKET_COLORS: dict[str, str] = {"info": "#0076D7", "warn": "#FFA500", "error": "#FF0000"}


class RocketChatNotifier(SlackCompatibleNotifier):
    """Posts Flagger's Slack-format message to a Rocket.Chat incoming webhook."""

    service = "rocket"
    colors: ClassVar[dict[str, str]] = ROCKET_COLORS
