"""The contract every registered notifier passes: Notifier port, JSON POST, 2xx ok, else error."""

from __future__ import annotations

from typing import Any

import pytest

from modelcanary.errors import SpecError
from modelcanary.notify import NOTIFIERS, DeliveryError, ProviderConfig, Secret, build_notifier
from modelcanary.ports import Notifier


def _config(kind: str, url: str) -> ProviderConfig:
    if kind == "datadog":
        return ProviderConfig(
            name=f"{kind}-alert", type=kind, address=Secret(url), token=Secret("k")
        )
    return ProviderConfig(name=f"{kind}-alert", type=kind, address=Secret(f"{url}/hook/tok-31337"))


@pytest.mark.parametrize("kind", sorted(NOTIFIERS))
def test_every_notifier_honours_the_port(receiver: Any, make: Any, kind: str) -> None:
    notifier = build_notifier(_config(kind, receiver.url))
    assert isinstance(notifier, Notifier)
    assert notifier.name == f"{kind}-alert"

    notifier.notify(make(severity="info"))
    request = receiver.only()
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert isinstance(request.body, dict) and request.body

    receiver.reply(request.path.split("?")[0], status=502, body="bad gateway")
    with pytest.raises(DeliveryError) as caught:
        notifier.notify(make(severity="error"))
    assert caught.value.status_code == 502 and caught.value.service == kind
    assert "tok-31337" not in str(caught.value) and "tok-31337" not in repr(notifier)


@pytest.mark.parametrize("kind", sorted(set(NOTIFIERS) - {"datadog"}))
def test_every_webhook_notifier_needs_an_address(kind: str) -> None:
    with pytest.raises(SpecError, match="needs its webhook URL"):
        build_notifier(ProviderConfig(name="a", type=kind, path="spec.analysis.alerts[0].provider"))
