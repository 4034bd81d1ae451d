"""Google Chat: incoming webhook with Flagger's card (``gchat`` AlertProvider type).

The body follows fluxcd/flagger ``pkg/notifier/gchat.go``: one card in the ``cards`` list
(Google Chat's card v1 format, which incoming webhooks accept), a header and one section per
line, each a ``textParagraph`` with Chat's HTML subset::

    {"cards": [{"header": {"title": "modelcanary", "subtitle": "fraud.ml"},
                "sections": [{"widgets": [{"textParagraph": {"text":
                    "<font color=#848484><strong>message</strong></font>"}}]},
                             {"widgets": [{"textParagraph": {"text":
                    "Phase<br><font color=#848484><strong>Failed</strong></font>"}}]}]}]}

Differences from Flagger: the header title is ``modelcanary`` (Flagger: ``Flagger`` with its
favicon as ``imageUrl``; we send no image), the message is red for errors and amber for warnings
(Flagger: always grey), and text is HTML-escaped so ``<`` in a message cannot break the markup.
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..ports import Notification
from ._base import HttpNotifier, chat_fields, target

GCHAT_COLORS: dict[str, str] = {"info": "#848484", "warn": "#E37400", "error": "#D93025"}
"""Colour of the message line by severity (Flagger: #848484 for all)."""
GCHAT_TITLE = "modelcanary"


def gchat_payload(notification: Notification) -> dict[str, Any]:
    """Flagger's Google Chat card for ``notification``."""
    color = GCHAT_COLORS.get(notification.severity, GCHAT_COLORS["info"])
    lines = [f"<font color={color}><strong>{escape(notification.message)}</strong></font>"]
    lines += [
        f"{escape(f.name)}<br><font color={GCHAT_COLORS['info']}>"
        f"<strong>{escape(f.value)}</strong></font>"
        for f in chat_fields(notification)
    ]
    return {
        "cards": [
            {
                "header": {"title": GCHAT_TITLE, "subtitle": target(notification)},
                "sections": [{"widgets": [{"textParagraph": {"text": line}}]} for line in lines],
            }
        ]
    }


class GoogleChatNotifier(HttpNotifier):
    """Posts Flagger's card to a Google Chat space webhook."""

    service = "googlechat"

    def payload(self, notification: Notification) -> dict[str, Any]:
        """Flagger's Google Chat card (see the module docstring)."""
        return gchat_payload(notification)
