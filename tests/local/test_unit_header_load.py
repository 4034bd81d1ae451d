"""Simulated users in the built-in load (``spec.load.users``), through a real router.

Request ``i`` belongs to user ``hash(seed, i) mod users``: the same users on every run. Each
user sends its id in the rollout's unit header and keeps its own cookies, so the router keys
every request by user and session affinity pins each user (not the whole load) to a version.
A rollout keyed by a header whose load simulates no users is warned about (``LoadWarning``).
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import pytest
from router_fixtures import router, settle, upstream
from test_unit_header_router import AFFINITY, keyed_rollout

import modelcanary as mc
from modelcanary.errors import SpecError
from modelcanary.local._load import LoadGenerator, user_id
from modelcanary.rollout._commands import Routes
from modelcanary.spec import LoadWarning, load_warnings, parse_rollout

USERS = 50


def _run(users: int | None, routes: Routes, seed: int = 0) -> tuple[list[str], list[str], int]:
    """Load for 1.5 s (one request at a time, so the router sees them in order): the keys the
    router recorded, the unit header each upstream request carried (by version), and the
    distinct affinity cookie values the upstreams saw."""
    with (
        upstream("champion") as champion,
        upstream("challenger") as challenger,
        router(champion.url, challenger.url) as r,
    ):
        r.set_routes(keyed_rollout(), routes)
        load = LoadGenerator(
            f"{r.url}/invocations",
            [b"{}"],
            rps=200,
            concurrency=1,
            duration=1.5,
            users=users,
            unit_header="X-User-Id",
            seed=seed,
        ).start()
        load.wait()
        settle(r)
        keys = r.recorder.unit_keys()  # type: ignore[attr-defined]
        seen = [
            f"{side}:{s.headers.get('x-user-id', '')}"
            for side, up in (("champion", champion), ("challenger", challenger))
            for s in up.requests()
        ]
        cookies = {
            s.headers["cookie"]
            for up in (champion, challenger)
            for s in up.requests()
            if "cookie" in s.headers
        }
    assert load.stats.sent == len(keys) and load.stats.errors == 0
    expected = [user_id(load.user_of(i)) for i in range(len(keys))] if users else None
    if expected is not None:
        assert keys == expected  # request i is user hash(seed, i) mod users
    return keys, seen, len(cookies)


def test_simulated_users_send_the_unit_header_and_are_the_same_on_every_run() -> None:
    first, seen, _ = _run(USERS, Routes(50, 50))
    second, _, _ = _run(USERS, Routes(50, 50))
    assert len(first) > 3 * USERS  # enough requests that most users came back
    distinct = set(first)
    assert USERS // 2 < len(distinct) <= USERS
    assert distinct <= {user_id(u) for u in range(USERS)}
    assert all(key.startswith("user-") for key in first)
    # the upstreams got the header too (it is forwarded)
    assert {s.split(":", 1)[1] for s in seen} == distinct
    common = min(len(first), len(second))
    assert first[:common] == second[:common]  # deterministic across runs
    other_seed, _, _ = _run(USERS, Routes(50, 50), seed=7)
    assert other_seed[:common] != first[:common]


def test_each_simulated_user_keeps_its_cookies_so_affinity_pins_it() -> None:
    keys, seen, cookies = _run(USERS, Routes(50, 50, session_affinity=AFFINITY))
    versions: dict[str, set[str]] = defaultdict(set)
    for entry in seen:
        side, user = entry.split(":", 1)
        versions[user].add(side)
    assert all(len(sides) == 1 for sides in versions.values()), versions  # pinned per user
    sides = {next(iter(s)) for s in versions.values()}
    assert sides == {"champion", "challenger"}  # the users are split, not the whole load
    assert 0 < cookies <= len(set(keys))  # one affinity cookie per user at most


def test_without_users_no_unit_header_is_sent() -> None:
    keys, seen, _ = _run(None, Routes(50, 50))
    assert keys and set(keys) == {""}
    assert {s.split(":", 1)[1] for s in seen} == {""}


def _spec(load: dict[str, object], analysis: dict[str, object] | None = None) -> mc.ModelRollout:
    return parse_rollout(
        {
            "metadata": {"name": "fraud"},
            "spec": {
                "champion": {"url": "http://127.0.0.1:1"},
                "challenger": {"url": "http://127.0.0.1:2"},
                "analysis": {
                    "interval": "10s",
                    "stepWeights": [50],
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
                    **(analysis or {}),
                },
                "load": {"rps": 50, **load},
            },
        }
    )


def test_a_unit_header_without_simulated_users_is_a_load_warning() -> None:
    keyed = {"unitKey": {"header": "x-user-id"}}
    issues = load_warnings(_spec({}, keyed))
    assert [i.path for i in issues] == ["spec.load.users"]
    assert "every request is its own unit" in issues[0].message
    assert "users=200" in issues[0].hint and "x-user-id" in issues[0].hint
    assert load_warnings(_spec({"users": 200}, keyed)) == []
    assert load_warnings(_spec({})) == []  # no unitKey: nothing to say
    sticky = {"sessionAffinity": {"cookieName": "mc-canary"}}
    assert load_warnings(_spec({}, sticky)) == []  # anonymous requests split by the weight
    builder = (
        mc.Rollout("fraud")
        .champion("http://127.0.0.1:1")
        .challenger("http://127.0.0.1:2")
        .slo(mc.sli.error_rate() < "5%")
        .canary(steps=[50], interval="10s")
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = builder.load(rps=50, users=200).build()
    assert built.spec.load is not None and built.spec.load.users == 200
    assert not [w for w in caught if issubclass(w.category, LoadWarning)]


@pytest.mark.parametrize("users", [0, -1, 1_000_001, "many"])
def test_users_is_validated(users: object) -> None:
    with pytest.raises(SpecError, match=r"spec\.load\.users"):
        _spec({"users": users})


def test_without_users_session_affinity_splits_anonymous_requests_by_the_weight() -> None:
    # one shared cookie jar pinned every request to the version of the first answer
    _, seen, cookies = _run(None, Routes(50, 50, session_affinity=AFFINITY))
    sides = [entry.split(":", 1)[0] for entry in seen]
    assert cookies == 0  # no request carried a cookie back
    share = sides.count("challenger") / len(sides)
    assert len(sides) > 100 and 0.3 < share < 0.7, (len(sides), share)
