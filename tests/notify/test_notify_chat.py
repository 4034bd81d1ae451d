"""Discord and Google Chat: Flagger's behaviour, checked on a real HTTP server.

Shape sources: fluxcd/flagger pkg/notifier/discord.go (appends "/slack" to the webhook path
unless present, then posts the Slack body; Discord's Slack-compatible endpoint
POST /webhooks/{id}/{token}/slack) and pkg/notifier/gchat.go (cards[{header{title, subtitle},
sections[{widgets[{textParagraph{text}}]}]}], message first, then one section per field).
"""

from __future__ import annotations

from typing import Any

import pytest

from modelcanary.notify import DiscordNotifier, GoogleChatNotifier
from modelcanary.notify._discord import slack_endpoint


def test_discord_posts_the_slack_body_to_slash_slack(receiver: Any, make: Any) -> None:
    discord = DiscordNotifier(f"{receiver.url}/api/webhooks/123/tok-abc?wait=true")
    discord.notify(make(severity="warn", fields={}))

    request = receiver.only()
    assert request.path == "/api/webhooks/123/tok-abc/slack?wait=true"
    assert request.body == {
        "username": "modelcanary",
        "icon_emoji": ":rocket:",
        "text": "RolloutFailed fraud.ml",
        "attachments": [
            {
                "color": "warning",
                "author_name": "fraud.ml",
                "text": "error-rate 0.031 > 0.01 after 3 failed checks",
                "mrkdwn_in": ["text"],
                "fields": [{"title": "Phase", "value": "Failed", "short": False}],
            }
        ],
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://discord.com/api/webhooks/1/t", "https://discord.com/api/webhooks/1/t/slack"),
        ("https://discord.com/api/webhooks/1/t/", "https://discord.com/api/webhooks/1/t/slack"),
        (
            "https://discord.com/api/webhooks/1/t/slack",
            "https://discord.com/api/webhooks/1/t/slack",
        ),
    ],
)
def test_slack_suffix_is_added_once(url: str, expected: str) -> None:
    assert slack_endpoint(url) == expected


def test_google_chat_card_is_flaggers(receiver: Any, make: Any) -> None:
    GoogleChatNotifier(f"{receiver.url}/v1/spaces/AAA/messages?key=k&token=t").notify(
        make(fields={"Weight": "<50%"})
    )

    request = receiver.only()
    assert request.path == "/v1/spaces/AAA/messages?key=k&token=t"

    def section(text: str) -> dict[str, Any]:
        return {"widgets": [{"textParagraph": {"text": text}}]}

    assert request.body == {
        "cards": [
            {
                "header": {"title": "modelcanary", "subtitle": "fraud.ml"},
                "sections": [
                    section(
                        "<font color=#D93025><strong>"
                        "error-rate 0.031 &gt; 0.01 after 3 failed checks</strong></font>"
                    ),
                    section("Event<br><font color=#848484><strong>RolloutFailed</strong></font>"),
                    section("Phase<br><font color=#848484><strong>Failed</strong></font>"),
                    section("Weight<br><font color=#848484><strong>&lt;50%</strong></font>"),
                ],
            }
        ]
    }
