"""Cluster routers write cookies as the local router does: one checked ``Set-Cookie`` builder
and one cookie-header regex, both from ``spec.traffic`` (issue 13 item 2, issue 18)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from router_cases import rollout, store_for

from modelcanary.errors import RouterError
from modelcanary.routers import ROUTERS, MemoryObjectStore
from modelcanary.routers._base import ROUTES_ANNOTATION
from modelcanary.spec import MatchCondition, SessionAffinity
from modelcanary.spec._traffic import Routes

STICKY = ("istio", "gatewayapi")
INJECTED = "mc\r\nX-Injected: evil\r\nSet-Cookie: session=attacker; Path=/"


def _set_cookies(objects: list[dict[str, Any]]) -> list[str]:
    """Every ``Set-Cookie`` value in rendered objects (Istio headers, Gateway API filters)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "Set-Cookie" and isinstance(value, str):
                    found.append(value)
                walk(value)
            if node.get("name") == "Set-Cookie" and isinstance(node.get("value"), str):
                found.append(node["value"])
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(objects)
    return found


def _sticky(affinity: SessionAffinity) -> Routes:
    return Routes(champion_weight=75, challenger_weight=25, session_affinity=affinity)


@pytest.mark.parametrize("provider", STICKY)
def test_samesite_none_affinity_cookies_are_secure(provider: str) -> None:
    """Browsers drop ``SameSite=None`` without ``Secure``: the cluster routers used to omit it."""
    affinity = SessionAffinity.model_validate(
        {"cookieName": "mc-canary", "primaryCookieName": "mc-primary", "sameSite": "None"}
    )
    router = ROUTERS[provider](store_for(provider))
    ro = rollout(provider)
    cookies = _set_cookies(router.render(ro, _sticky(affinity)))
    assert len(cookies) == 2
    for cookie in cookies:
        attrs = [a.strip() for a in cookie.split(";")]
        assert "SameSite=None" in attrs and "Secure" in attrs, cookie
    router.set_routes(ro, _sticky(affinity))
    assert router.get_routes(ro) == _sticky(affinity)  # the round trip still holds


@pytest.mark.parametrize("provider", STICKY)
@pytest.mark.parametrize(
    "affinity",
    [
        {"cookie_name": INJECTED},
        {"cookie_name": "mc-canary", "primary_cookie_name": INJECTED},
        {"cookie_name": "mc", "domain": f"example.com; {INJECTED}"},
    ],
    ids=["name", "primary-name", "domain"],
)
def test_an_unvalidated_affinity_is_refused_before_anything_is_written(
    provider: str, affinity: dict[str, Any]
) -> None:
    """The local router's checks, now the cluster routers' too: no header is built from it
    (every rule of the one builder: tests/test_traffic.py)."""
    store = MemoryObjectStore()
    router = ROUTERS[provider](store)
    routes = _sticky(SessionAffinity.model_construct(**affinity))
    with pytest.raises(RouterError, match="sessionAffinity"):
        router.set_routes(rollout(provider), routes)
    assert list(store) == []


@pytest.mark.parametrize("provider", ["istio", "gatewayapi", "kuma", "contour", "gloo"])
def test_an_anchored_cookie_regex_still_matches_on_meshes(provider: str) -> None:
    """``{regex: ^beta.*$}`` means the same as ``beta.*`` (full match); inside the cookie header
    regex the anchors used to make it match nothing."""
    cond = MatchCondition.model_validate({"cookies": {"cohort": {"regex": "^beta.*$"}}})
    objects = ROUTERS[provider](store_for(provider)).render(
        rollout(provider), Routes(match=(cond,))
    )
    regexes = _cookie_header_regexes([o["spec"] for o in objects])
    assert regexes, objects
    for regex in regexes:
        assert re.fullmatch(regex, "a=1; cohort=beta-7; b=2"), regex
        assert not re.fullmatch(regex, "cohort=alpha"), regex


def _cookie_header_regexes(node: Any) -> list[str]:
    """Every string of the rendered objects naming the ``cohort`` cookie: its header regex."""
    if isinstance(node, dict):
        return [r for value in node.values() for r in _cookie_header_regexes(value)]
    if isinstance(node, list):
        return [r for item in node for r in _cookie_header_regexes(item)]
    return [node] if isinstance(node, str) and "cohort=" in node else []


def test_objects_with_the_former_cookie_regex_are_still_read_as_cookies() -> None:
    """Objects written before the encoding was shared (``^(.*?;)?\\s*NAME=VALUE(;.*)?$``)."""
    store = MemoryObjectStore()
    router = ROUTERS["istio"](store)
    ro = rollout("istio")
    cond = MatchCondition.model_validate({"cookies": {"canary": {"exact": "always"}}})
    router.set_routes(ro, Routes(match=(cond,)))
    for obj in list(store):
        obj["metadata"].get("annotations", {}).pop(ROUTES_ANNOTATION, None)
        for route in obj["spec"].get("http", []):
            for match in route.get("match", []):
                if "cookie" in match.get("headers", {}):
                    match["headers"]["cookie"] = {"regex": r"^(.*?;)?\s*canary=always(;.*)?$"}
        store.apply(obj)
    assert router.get_routes(ro).match == (cond,)
