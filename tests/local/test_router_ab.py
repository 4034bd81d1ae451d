"""A/B matching and session affinity through a real router (asserted per request)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from router_fixtures import Upstream, rollout, router, upstream

from modelcanary.rollout._commands import Routes
from modelcanary.spec import MatchCondition, SessionAffinity


@pytest.fixture
def pair() -> Iterator[tuple[Upstream, Upstream]]:
    with upstream("champion") as a, upstream("challenger") as b:
        yield a, b


def _match(**parts: Any) -> tuple[MatchCondition, ...]:
    return (MatchCondition.model_validate(parts),)


CASES: list[tuple[str, tuple[MatchCondition, ...]]] = [
    ("header", _match(headers={"x-cohort": {"exact": "beta"}})),
    ("cookie", _match(cookies={"tier": {"prefix": "gold"}})),
    ("query", _match(queryParams={"model": {"regex": "v2|next"}})),
    ("body", _match(body={"country": {"exact": "FR"}})),
    ("body-path", _match(body={"inputs.0.country": {"suffix": "R"}})),
]


def _request(kind: str, hit: bool, i: int) -> dict[str, Any]:
    """One request of ``kind`` that matches (``hit``) or not, as httpx arguments."""
    if kind == "header":
        return {"headers": {"X-Cohort": "beta" if hit else "alpha"}, "json": {"i": i}}
    if kind == "cookie":
        return {"headers": {"cookie": f"a=1; tier={'gold-plus' if hit else 'silver'}"}, "json": {}}
    if kind == "query":
        return {"params": {"model": "next" if hit else "v1", "i": str(i)}, "json": {}}
    country = "FR" if hit else "DE"
    shapes = [
        {"dataframe_split": {"columns": ["amount", "country"], "data": [[i, country]]}},
        {"dataframe_records": [{"country": country, "amount": i}]},
        {"inputs": [{"country": country}]},
        {"instances": [{"country": country}]},
    ]
    if kind == "body-path":
        return {"json": {"inputs": [{"country": country}]}}
    return {"json": shapes[i % len(shapes)]}


@pytest.mark.parametrize(("kind", "match"), CASES, ids=[c[0] for c in CASES])
def test_ab_sends_exactly_the_matching_requests(
    pair: tuple[Upstream, Upstream], kind: str, match: tuple[MatchCondition, ...]
) -> None:
    rng = random.Random(7)
    with router(pair[0].url, pair[1].url, Routes(100, 0, match=match)) as r, httpx.Client() as c:
        for i in range(60):
            hit = rng.random() < 0.5
            answer = c.post(f"{r.url}/invocations", **_request(kind, hit, i))
            assert answer.json()["server"] == ("challenger" if hit else "champion"), (kind, hit, i)


def test_non_matching_traffic_follows_the_weights(pair: tuple[Upstream, Upstream]) -> None:
    match = _match(headers={"x-cohort": {"exact": "beta"}})
    with router(pair[0].url, pair[1].url, Routes(0, 100, match=match)) as r, httpx.Client() as c:
        assert c.post(f"{r.url}/x", json={}).json()["server"] == "challenger"
        r.set_routes(rollout(), Routes(100, 0, match=match))
        assert c.post(f"{r.url}/x", json={}).json()["server"] == "champion"
        assert c.post(f"{r.url}/x", headers={"x-cohort": "beta"}).json()["server"] == "challenger"


AFFINITY = SessionAffinity.model_validate(
    {"cookieName": "mc-canary", "primaryCookieName": "mc-primary", "maxAge": 600, "path": "/"}
)


def test_session_affinity_pins_each_user_to_the_version_first_seen(
    pair: tuple[Upstream, Upstream],
) -> None:
    routes = Routes(50, 50, session_affinity=AFFINITY)
    first: dict[int, str] = {}
    with router(pair[0].url, pair[1].url, routes) as r:
        users = [httpx.Client() for _ in range(30)]  # each client keeps its own cookie jar
        for user, client in enumerate(users):
            answer = client.post(f"{r.url}/invocations", json={})
            version = answer.json()["server"]
            first[user] = version
            cookie = answer.headers["set-cookie"]
            name = "mc-canary" if version == "challenger" else "mc-primary"
            assert cookie.startswith(f"{name}=") and "Max-Age=600" in cookie and "Path=/" in cookie
        for _ in range(5):
            for user, client in enumerate(users):
                answer = client.post(f"{r.url}/invocations", json={})
                assert answer.json()["server"] == first[user]
                assert "set-cookie" not in answer.headers  # already pinned: no new cookie
        assert set(first.values()) == {"champion", "challenger"}
        # rollback: challenger weight 0 -> pinned users go to the champion, cookie expired
        r.set_routes(rollout(), Routes(100, 0, session_affinity=AFFINITY))
        for user, client in enumerate(users):
            answer = client.post(f"{r.url}/invocations", json={})
            assert answer.json()["server"] == "champion"
            if first[user] == "challenger":
                assert answer.headers["set-cookie"].startswith("mc-canary=; Max-Age=0")
        for client in users:
            client.close()


def test_affinity_without_primary_cookie_only_marks_challenger_users(
    pair: tuple[Upstream, Upstream],
) -> None:
    affinity = SessionAffinity.model_validate({"cookieName": "canary"})
    with router(pair[0].url, pair[1].url, Routes(50, 50, session_affinity=affinity)) as r:
        for _ in range(20):
            answer = httpx.post(f"{r.url}/invocations", json={})
            is_challenger = answer.json()["server"] == "challenger"
            assert ("set-cookie" in answer.headers) == is_challenger
        pinned = httpx.post(f"{r.url}/x", json={}, headers={"cookie": "other=1; canary=abc"})
        assert all(
            httpx.post(f"{r.url}/x", json={}, headers={"cookie": "canary=abc"}).json()["server"]
            == "challenger"
            for _ in range(10)
        )
        assert pinned.json()["server"] == "challenger"
