"""The local router keys each request by the rollout's user header (``analysis.unitKey``).

Real router, real upstreams on loopback: a request's unit key is the value of the header
named by ``spec.analysis.unitKey.header`` (any case), over the session-affinity cookie, which
stays the key when the header is absent; the header is still forwarded upstream, mirror copies
keep the key, and a rollout without ``unitKey`` never reads the header.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from router_fixtures import router, settle, upstream

from modelcanary.analysis import Window
from modelcanary.errors import RouterError
from modelcanary.local._proxy.table import RouteTable
from modelcanary.local._recorder import Recorder
from modelcanary.rollout._commands import Routes
from modelcanary.spec import ModelRollout, SessionAffinity, parse_rollout

AFFINITY = SessionAffinity.model_validate(
    {"cookieName": "mc-canary", "primaryCookieName": "mc-primary", "path": "/"}
)


def keyed_rollout(header: str | None = "x-user-id") -> ModelRollout:
    """Rollout ``fraud`` (the fixtures' router serves it), keyed by ``header`` if given."""
    analysis: dict[str, Any] = {
        "interval": "30s",
        "stepWeights": [50],
        "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
    }
    if header is not None:
        analysis["unitKey"] = {"header": header}
    return parse_rollout(
        {
            "metadata": {"name": "fraud", "namespace": "ml"},
            "spec": {
                "champion": {"modelUri": "models:/fraud@champion"},
                "challenger": {"modelUri": "models:/fraud/2"},
                "analysis": analysis,
            },
        }
    )


def _settled(r: Any, rows: int) -> Recorder:
    rec: Recorder = r.recorder
    for _ in range(200):
        settle(r)
        if len(rec) >= rows:
            break
    return rec


def test_requests_are_keyed_by_the_unit_header_which_is_still_forwarded() -> None:
    users = ["u1", "u2", "u1", "u3", "u2", "u1"]
    with (
        upstream("champion") as champion,
        upstream("challenger") as challenger,
        router(champion.url, challenger.url) as r,
        httpx.Client() as client,
    ):
        r.set_routes(keyed_rollout(), Routes(50, 50))
        for user in users:
            client.post(f"{r.url}/invocations", json={}, headers={"x-user-id": user})
        client.post(f"{r.url}/invocations", json={}, headers={"X-User-ID": "Mixed"})
        client.post(f"{r.url}/invocations", json={})  # no header, no cookie: no key
        rec = _settled(r, len(users) + 2)
        seen = champion.requests() + challenger.requests()
        data = rec.interval_data(Window(0.0, math.inf))
    assert rec.unit_keys() == [*users, "Mixed", ""]
    forwarded = sorted(s.headers.get("x-user-id", "") for s in seen)
    assert forwarded == sorted([*users, "Mixed", ""])
    assert data.challenger.units is not None and data.champion.units is not None
    keys = set(data.challenger.units.keys) | set(data.champion.units.keys)
    assert keys == {"u1", "u2", "u3", "Mixed", ""}


def test_the_header_wins_over_the_affinity_cookie_which_remains_the_fallback() -> None:
    with (
        upstream("champion") as champion,
        upstream("challenger") as challenger,
        router(champion.url, challenger.url) as r,
    ):
        r.set_routes(keyed_rollout(), Routes(50, 50, session_affinity=AFFINITY))
        url = f"{r.url}/invocations"
        both = {"cookie": "mc-canary=alice", "x-user-id": "u7"}
        pinned = [httpx.post(url, json={}, headers=both) for _ in range(3)]
        cookie_only = httpx.post(url, json={}, headers={"cookie": "mc-canary=alice"})
        new_user = httpx.post(url, json={}, headers={"x-user-id": "u8"})  # pinned afresh
        rec = _settled(r, 5)
    # the cookie still routes (pinned to the challenger); the header names the unit
    assert {a.headers["x-modelcanary-version"] for a in pinned} == {"challenger"}
    assert cookie_only.headers["x-modelcanary-version"] == "challenger"
    assert "set-cookie" in new_user.headers  # a new user gets its affinity cookie ...
    assert rec.unit_keys() == ["u7", "u7", "u7", "alice", "u8"]  # ... but is keyed by header


def test_mirror_copies_keep_the_header_key() -> None:
    with (
        upstream("champion") as champion,
        upstream("challenger") as challenger,
        router(champion.url, challenger.url) as r,
    ):
        r.set_routes(keyed_rollout(), Routes(100, 0, 100))
        for _ in range(4):
            httpx.post(f"{r.url}/invocations", json={}, headers={"x-user-id": "bob"})
        rec = _settled(r, 8)
        rows = rec.rows()
    assert sorted(row.version for row in rows) == ["challenger"] * 4 + ["champion"] * 4
    assert rec.unit_keys() == ["bob"] * 8


def test_without_unit_key_the_header_is_not_read() -> None:
    with (
        upstream("champion") as champion,
        upstream("challenger") as challenger,
        router(champion.url, challenger.url) as r,
    ):
        r.set_routes(keyed_rollout(None), Routes(50, 50))
        for user in ("u1", "u2"):
            httpx.post(f"{r.url}/invocations", json={}, headers={"x-user-id": user})
        rec = _settled(r, 2)
        data = rec.interval_data(Window(0.0, math.inf))
    assert rec.unit_keys() == ["", ""]
    assert data.challenger.units is None and data.champion.units is None


def test_finalize_keeps_reading_the_header() -> None:
    with upstream("champion") as champion, router(champion.url, champion.url) as r:
        r.finalize(keyed_rollout())
        httpx.post(f"{r.url}/invocations", json={}, headers={"x-user-id": "carol"})
        rec = _settled(r, 1)
    assert rec.unit_keys() == ["carol"]


def test_a_unit_header_that_is_not_a_token_is_refused_by_the_table() -> None:
    with pytest.raises(RouterError, match="unit header"):
        RouteTable(Routes(), "x-user\r\nx-evil")
    assert RouteTable(Routes(), "X-User-Id").unit_key == b"\r\nx-user-id:"
    assert RouteTable(Routes()).unit_key == b""
