"""Every cluster router that pins sessions writes ``Secure`` with ``SameSite=None`` (browsers
drop such a cookie otherwise), read from the capability table so a router added later with
``session_affinity`` is held to it too (issue 18; istio and gatewayapi have their own cases
in test_router_cookies.py)."""

from __future__ import annotations

import pytest
from router_cases import rollout, store_for
from router_schemas import assert_valid

from modelcanary.routers import ROUTERS
from modelcanary.spec import SessionAffinity
from modelcanary.spec._traffic import Routes, providers_with

STICKY = sorted(p for p in providers_with("session_affinity") if p in ROUTERS and p != "local")


def _cookies(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Set-Cookie" and isinstance(value, str):
                found.append(value)
            found += _cookies(value)
        if node.get("name") == "Set-Cookie" and isinstance(node.get("value"), str):
            found.append(node["value"])
    elif isinstance(node, list):
        for item in node:
            found += _cookies(item)
    return found


def test_the_cluster_routers_with_session_affinity_are_covered() -> None:
    assert {"istio", "gatewayapi"} <= set(STICKY)


@pytest.mark.parametrize("provider", STICKY)
@pytest.mark.parametrize("secure", [None, False])
def test_samesite_none_cookies_carry_secure(provider: str, secure: bool | None) -> None:
    affinity = SessionAffinity.model_validate(
        {
            "cookieName": "mc-canary",
            "primaryCookieName": "mc-primary",
            "sameSite": "None",
            **({} if secure is None else {"secure": secure}),
        }
    )
    routes = Routes(champion_weight=70, challenger_weight=30, session_affinity=affinity)
    objects = ROUTERS[provider](store_for(provider)).render(rollout(provider), routes)
    assert_valid(objects)
    cookies = _cookies(objects)
    assert sorted(c.split("=", 1)[0] for c in cookies) == ["mc-canary", "mc-primary"], cookies
    for cookie in cookies:
        attrs = [a.strip() for a in cookie.split(";")]
        assert "SameSite=None" in attrs and "Secure" in attrs, cookie
