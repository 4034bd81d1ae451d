"""Failures: HTTP errors and timeouts become NotifyError; secrets never leak."""

from __future__ import annotations

import time
from typing import Any

import pytest
from ports import closed_url

from modelcanary.errors import NotifyError, SpecError
from modelcanary.notify import (
    DeliveryError,
    DiscordNotifier,
    GoogleChatNotifier,
    SlackNotifier,
    TeamsNotifier,
    WebhookNotifier,
)

TOKEN = "T0123/B0456/SuperSecretToken789"


@pytest.mark.parametrize("status", [400, 403, 404, 500, 503])
def test_http_error_is_notify_error_with_status(receiver: Any, make: Any, status: int) -> None:
    receiver.reply(f"/services/{TOKEN}", status=status, body="no_service")
    slack = SlackNotifier(f"{receiver.url}/services/{TOKEN}")
    with pytest.raises(NotifyError) as caught:
        slack.notify(make())
    error = caught.value
    assert isinstance(error, DeliveryError)
    assert error.status_code == status
    assert error.retryable is (status >= 500)
    assert f"HTTP {status}" in str(error)
    assert "no_service" in str(error)
    assert TOKEN not in str(error) and "SuperSecretToken789" not in str(error)


def test_an_answer_echoing_the_secret_is_scrubbed(receiver: Any, make: Any) -> None:
    receiver.reply(
        "/hook/abcdef123456", status=400, body=f"bad hook {receiver.url}/hook/abcdef123456"
    )
    with pytest.raises(DeliveryError) as caught:
        WebhookNotifier(f"{receiver.url}/hook/abcdef123456").notify(make())
    assert "abcdef123456" not in str(caught.value)
    assert "***" in str(caught.value)


def test_timeout_is_a_retryable_notify_error(receiver: Any, make: Any) -> None:
    # the receiver answers after 60 s: a notify that failed within 10 s was cut by its 0.2 s
    # timeout (it answered after 1 s before, and "< 0.9 s" was a timed assertion)
    receiver.reply("/slow/tok-987654", delay=60.0)
    notifier = GoogleChatNotifier(f"{receiver.url}/slow/tok-987654", timeout=0.2)
    started = time.monotonic()
    with pytest.raises(NotifyError, match="timeout") as caught:
        notifier.notify(make())
    assert time.monotonic() - started < 10
    assert isinstance(caught.value, DeliveryError)
    assert caught.value.retryable and caught.value.status_code is None
    assert "tok-987654" not in str(caught.value)


def test_unreachable_service_is_a_notify_error(make: Any) -> None:
    with pytest.raises(DeliveryError, match="could not reach") as caught:
        TeamsNotifier(closed_url("/webhookb2/secret-path-42"), timeout=1).notify(make())
    assert "secret-path-42" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(
    "make_notifier",
    [
        lambda url: SlackNotifier(url, token="xoxb-111-222"),
        lambda url: TeamsNotifier(url),
        lambda url: DiscordNotifier(url),
        lambda url: GoogleChatNotifier(url),
        lambda url: WebhookNotifier(url, token="xoxb-111-222"),
    ],
)
def test_repr_and_vars_hide_the_url(make_notifier: Any) -> None:
    notifier = make_notifier(f"https://hooks.example.com/services/{TOKEN}")
    for text in (repr(notifier), str(notifier), repr(vars(notifier))):
        assert "SuperSecretToken789" not in text
        assert "xoxb-111-222" not in text


def test_a_non_http_address_is_rejected_without_echoing_it() -> None:
    with pytest.raises(SpecError, match="not an http") as caught:
        SlackNotifier("hooks.slack.com/services/SuperSecretToken789")
    assert "SuperSecretToken789" not in str(caught.value)
