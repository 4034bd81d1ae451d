"""Microsoft Teams: Flagger's MessageCard and the Workflows Adaptive Card, on a real server.

Shape sources: fluxcd/flagger pkg/notifier/teams.go (MessageCard: @type, @context, themeColor
0076D7 / FF0000 for errors, summary, sections[{activityTitle, activitySubtitle, facts}]);
fluxcd/notification-controller internal/notifier/teams.go and Microsoft's "Send Adaptive Cards
using an incoming webhook" (type "message", attachments[{contentType
"application/vnd.microsoft.card.adaptive", content: AdaptiveCard 1.4}]).
"""

from __future__ import annotations

from typing import Any

import pytest

from modelcanary.notify import TeamsNotifier, teams_card_format

FACTS = [("Event", "RolloutFailed"), ("Phase", "Failed"), ("Failed checks", "3")]


def test_messagecard_is_flaggers(receiver: Any, make: Any) -> None:
    teams = TeamsNotifier(f"{receiver.url}/webhookb2/abc", card="messagecard")
    teams.notify(make(fields={"Failed checks": "3"}))

    request = receiver.only()
    assert request.path == "/webhookb2/abc"
    assert request.body == {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": "FF0000",
        "summary": "fraud.ml",
        "sections": [
            {
                "activityTitle": "error-rate 0.031 > 0.01 after 3 failed checks",
                "activitySubtitle": "fraud.ml",
                "facts": [{"name": n, "value": v} for n, v in FACTS],
            }
        ],
    }


def test_adaptive_card_for_workflows(receiver: Any, make: Any) -> None:
    teams = TeamsNotifier(f"{receiver.url}/workflows/abc/triggers/manual/paths/invoke?sig=x")
    assert teams.card == "adaptive"  # a non-connector host
    teams.notify(make(fields={"Failed checks": "3"}))

    body = receiver.only().body
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (card["type"], card["version"], card["msteams"]) == (
        "AdaptiveCard",
        "1.4",
        {"width": "Full"},
    )
    (container,) = card["body"]
    assert container["type"] == "Container"
    title, message, facts = container["items"]
    assert title == {
        "type": "TextBlock",
        "text": "fraud.ml",
        "size": "large",
        "weight": "bolder",
        "wrap": True,
    }
    assert message == {
        "type": "TextBlock",
        "text": "error-rate 0.031 > 0.01 after 3 failed checks",
        "wrap": True,
        "color": "attention",
    }
    assert facts == {"type": "FactSet", "facts": [{"title": n, "value": v} for n, v in FACTS]}


@pytest.mark.parametrize(
    ("severity", "theme", "color"),
    [("info", "0076D7", None), ("warn", "FFA500", "warning"), ("error", "FF0000", "attention")],
)
def test_colours_by_severity(make: Any, severity: str, theme: str, color: str | None) -> None:
    note = make(severity=severity)
    legacy = TeamsNotifier("https://x.webhook.office.com/webhookb2/a", card="auto")
    assert legacy.payload(note)["themeColor"] == theme
    modern = TeamsNotifier("https://prod-1.westeurope.logic.azure.com/workflows/a")
    text_block = modern.payload(note)["attachments"][0]["content"]["body"][0]["items"][1]
    assert text_block.get("color") == color


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d", "messagecard"),
        ("https://outlook.office.com/webhook/a/IncomingWebhook/b", "messagecard"),
        ("https://prod-07.westeurope.logic.azure.com:443/workflows/abc/triggers/x", "adaptive"),
        ("https://default1.environment.api.powerplatform.com/powerautomate/x", "adaptive"),
        ("https://evil-webhook.office.com.example.org/x", "adaptive"),
        ("https://evil-outlook.office.com/webhook/x", "adaptive"),
    ],
)
def test_card_format_follows_the_host(url: str, expected: str) -> None:
    assert teams_card_format(url) == expected
