"""Discord: Flagger's way, the Slack payload posted to the webhook's ``/slack`` endpoint.

fluxcd/flagger ``pkg/notifier/discord.go`` appends ``/slack`` to the webhook path unless the
URL already ends with it, and posts the same body as its Slack notifier (Discord documents the
Slack-compatible endpoint: ``POST /webhooks/{id}/{token}/slack``). We do the same, keeping any
query string (``?wait=true``, ``?thread_id=``), so a Flagger AlertProvider of type ``discord``
behaves identically. Text is not mrkdwn-escaped: Discord shows ``&lt;`` literally.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ._slack_compatible import SlackCompatibleNotifier


def slack_endpoint(url: str) -> str:
    """``url`` with ``/slack`` appended to its path (unchanged if already there)."""
    split = urlsplit(url)
    path = split.path.rstrip("/")
    if path.endswith("/slack"):
        return url
    return urlunsplit(split._replace(path=f"{path}/slack"))


class DiscordNotifier(SlackCompatibleNotifier):
    """Posts Flagger's Slack-format message to ``<webhook>/slack`` (Discord ignores
    ``channel``: the webhook fixes the channel)."""

    service = "discord"
    endpoint = staticmethod(slack_endpoint)
