"""Slack and Rocket.Chat: the body Flagger sends, received by a real HTTP server.

Shape source: fluxcd/flagger pkg/notifier/slack.go (SlackPayload: channel, username,
icon_emoji ":rocket:", attachments[{color, author_name "<name>.<namespace>", text,
mrkdwn_in ["text"], fields[{title, value, short false}]}]; colour "good", "danger" for errors)
and pkg/notifier/rocket.go (same body, colours #0076D7 / #FF0000). Slack incoming webhooks:
https://api.slack.com/messaging/webhooks (attachments, mrkdwn escaping of & < >).
"""

from __future__ import annotations

from typing import Any

import pytest

from modelcanary.notify import DeliveryError, RocketChatNotifier, SlackNotifier


def test_slack_sends_flaggers_payload(receiver: Any, notification: Any) -> None:
    SlackNotifier(
        f"{receiver.url}/services/T0/B0/XYZ", channel="#ml-alerts", username="canary-bot"
    ).notify(notification)

    request = receiver.only()
    assert request.method == "POST"
    assert request.path == "/services/T0/B0/XYZ"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "channel": "#ml-alerts",
        "username": "canary-bot",
        "icon_emoji": ":rocket:",
        "text": "RolloutFailed fraud.ml",
        "attachments": [
            {
                "color": "danger",
                "author_name": "fraud.ml",
                "text": "error-rate 0.031 &gt; 0.01 after 3 failed checks",
                "mrkdwn_in": ["text"],
                "fields": [
                    {"title": "Phase", "value": "Failed", "short": False},
                    {"title": "Failed checks", "value": "3", "short": False},
                    {"title": "Challenger", "value": "models:/fraud/4", "short": False},
                ],
            }
        ],
    }


@pytest.mark.parametrize(("severity", "color"), [("info", "good"), ("warn", "warning")])
def test_slack_colour_by_severity_and_channel_only_when_set(
    receiver: Any, make: Any, severity: str, color: str
) -> None:
    SlackNotifier(f"{receiver.url}/hook").notify(make(severity=severity, phase="", fields={}))

    body = receiver.only().body
    assert "channel" not in body  # the webhook's own channel
    assert body["username"] == "modelcanary"
    assert body["attachments"][0]["color"] == color
    assert body["attachments"][0]["fields"] == []


def test_slack_bot_token_mode_sends_bearer_and_reads_ok_false(receiver: Any, make: Any) -> None:
    receiver.reply(
        "/api/chat.postMessage",
        body='{"ok": false, "error": "channel_not_found"}',
        content_type="application/json",
    )
    slack = SlackNotifier(
        f"{receiver.url}/api/chat.postMessage", token="xoxb-secret-token", channel="C123"
    )
    with pytest.raises(DeliveryError, match="channel_not_found") as caught:
        slack.notify(make())
    assert receiver.only().headers["authorization"] == "Bearer xoxb-secret-token"
    assert "xoxb-secret-token" not in str(caught.value)
    assert "xoxb-secret-token" not in repr(slack)


def test_rocket_uses_the_slack_body_with_hex_colours(receiver: Any, make: Any) -> None:
    RocketChatNotifier(f"{receiver.url}/hooks/abc/def", channel="ops").notify(
        make(severity="info", message="a < b", fields={})
    )
    body = receiver.only().body
    assert body["channel"] == "ops"
    assert body["icon_emoji"] == ":rocket:"
    assert body["attachments"][0]["color"] == "#0076D7"
    assert body["attachments"][0]["text"] == "a < b"  # not escaped outside Slack
