"""Per-user judging in the local runtime: the router's affinity cookie is each request's unit key.

With session affinity every user is pinned to one version by a cookie whose value is fresh
per user; the router passes that value to the recorder with each request (served and
mirrored), and the recorder's windows carry ``VersionData.units`` for both versions, so the
sequential judge tests per user. Tested on a real router with real model servers on
loopback and sticky users whose own inputs fail (on either version alike): one heavy user
with bad inputs landing on a healthy challenger rolls it back when requests are judged one
by one, not when they are judged by user. The embedded provider also fills each window's
mirror coverage from the recorder.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from router_fixtures import dead_url, router, settle, upstream

from modelcanary.analysis import Window, analyse_interval
from modelcanary.analysis._measurements import IntervalData
from modelcanary.local._recorder import Recorder
from modelcanary.providers._embedded import EmbeddedProvider
from modelcanary.rollout._commands import Routes
from modelcanary.spec import SessionAffinity, parse_rollout

EVERYTHING = Window(0.0, math.inf)
AFFINITY = SessionAffinity.model_validate(
    {"cookieName": "mc-canary", "primaryCookieName": "mc-primary", "path": "/"}
)
ROLLOUT = parse_rollout(
    {
        "metadata": {"name": "fraud", "namespace": "ml"},
        "spec": {
            "champion": {"modelUri": "models:/fraud@champion"},
            "challenger": {"modelUri": "models:/fraud/2"},
            "analysis": {
                "interval": "30s",
                "stepWeights": [50],
                "metrics": [
                    {"name": "error-rate", "relativeTo": "champion", "thresholdRange": {"max": 2}}
                ],
            },
        },
    }
)
PER_SIDE = 20
"""Users pinned to each version (users arrive until both have this many)."""
HEAVY_REQUESTS = 300
"""Requests of the one heavy user; every 5th of its inputs is one the model rejects."""


class _Model(ThreadingHTTPServer):
    daemon_threads = True


@contextmanager
def model(name: str) -> Iterator[str]:
    """A model server that fails (500) on a bad input, whichever version it is: a healthy
    challenger and its champion answer every user alike."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])) or b"{}")
            bad = bool(body.get("bad"))
            payload = json.dumps({"predictions": [0.5], "server": name}).encode()
            self.send_response(500 if bad else 200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = _Model(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _sticky_traffic(url: str) -> tuple[dict[str, str], str]:
    """Users arrive until each version has ``PER_SIDE`` pinned ones (a user is pinned by its
    first answer; later arrivals to a full version leave after it); then every kept user sends
    ten clean requests, and the first challenger user ``HEAVY_REQUESTS`` more, every 5th one
    bad. Returns every user's cookie value -> version and the heavy user's cookie value."""
    pinned: dict[str, str] = {}
    kept: dict[str, list[httpx.Client]] = {"champion": [], "challenger": []}
    try:
        while min(len(v) for v in kept.values()) < PER_SIDE:
            client = httpx.Client(base_url=url)
            answer = client.post("/invocations", json={})
            version = answer.headers["x-modelcanary-version"]
            name = "mc-canary" if version == "challenger" else "mc-primary"
            pinned[client.cookies[name]] = version
            if len(kept[version]) < PER_SIDE:
                kept[version].append(client)
            else:
                client.close()
        for _ in range(10):
            for client in kept["champion"] + kept["challenger"]:
                answer = client.post("/invocations", json={})
                assert "set-cookie" not in answer.headers  # pinned: no new cookie
        heavy = kept["challenger"][0]
        for i in range(HEAVY_REQUESTS):
            answer = heavy.post("/invocations", json={"bad": i % 5 == 0})
            assert answer.headers["x-modelcanary-version"] == "challenger"
        heavy_key = heavy.cookies["mc-canary"]
    finally:
        for clients in kept.values():
            for client in clients:
                client.close()
    return pinned, heavy_key


def _without_units(data: IntervalData) -> IntervalData:
    return replace(
        data,
        challenger=replace(data.challenger, units=None),
        champion=replace(data.champion, units=None),
    )


def test_sticky_users_keys_reach_the_analysis_and_a_healthy_challenger_is_not_rolled_back() -> None:
    with (
        model("champion") as champion,
        model("challenger") as challenger,
        router(champion, challenger, Routes(50, 50, session_affinity=AFFINITY)) as r,
    ):
        pinned, heavy = _sticky_traffic(str(r.url))
        settle(r)
        data = EmbeddedProvider(r.recorder).collect(ROLLOUT, EVERYTHING)  # type: ignore[arg-type]
    # every user got its own cookie value, and those values are the units of the analysis
    assert len(pinned) >= 2 * PER_SIDE and set(pinned.values()) == {"champion", "challenger"}
    assert data.challenger.units is not None and data.champion.units is not None
    for side, units in (("challenger", data.challenger.units), ("champion", data.champion.units)):
        assert set(units.keys) == {key for key, version in pinned.items() if version == side}
        assert units.side == side
    chal = data.challenger.units
    n_chal = sum(1 for v in pinned.values() if v == "challenger")  # kept ones and leavers
    assert len(chal) == n_chal + 10 * PER_SIDE + HEAVY_REQUESTS  # one aligned row per request
    assert int(chal.errors.sum()) == HEAVY_REQUESTS // 5
    assert {k for k, e in zip(chal.keys, chal.errors, strict=True) if e} == {heavy}
    assert not data.champion.units.errors.any()
    assert (chal.latencies > 0).all()  # every row has its latency
    # judged per request, the heavy user's bad inputs roll the healthy challenger back ...
    analysis = ROLLOUT.spec.analysis
    per_request = analyse_interval(analysis, _without_units(data))
    assert per_request.action == "rollback" and per_request.decisive, per_request.message
    # ... judged per user (what the local runtime now records), they do not
    per_user = analyse_interval(analysis, data)
    assert per_user.action != "rollback", per_user.message
    assert per_user.verdict != "fail"
    assert per_user.state.sequential["error-rate@champion"].clustered is not None


def test_no_affinity_means_no_units_and_request_level_judging() -> None:
    with (
        model("champion") as champion,
        model("challenger") as challenger,
        router(champion, challenger, Routes(50, 50)) as r,
        httpx.Client() as client,
    ):
        for _ in range(20):
            client.post(f"{r.url}/invocations", json={})
        settle(r)
        data = r.recorder.interval_data(EVERYTHING)  # type: ignore[attr-defined]
    assert data.challenger.units is None and data.champion.units is None


def test_a_returning_users_cookie_value_is_its_key_and_long_values_are_hashed() -> None:
    long_value = "u" * 300
    with (
        model("champion") as champion,
        model("challenger") as challenger,
        router(champion, challenger, Routes(50, 50, session_affinity=AFFINITY)) as r,
    ):
        for value in ("alice", long_value):
            for _ in range(3):
                answer = httpx.post(
                    f"{r.url}/invocations", json={}, headers={"cookie": f"mc-canary={value}"}
                )
                assert answer.headers["x-modelcanary-version"] == "challenger"
        settle(r)
        keys = r.recorder.unit_keys()  # type: ignore[attr-defined]
        data = r.recorder.interval_data(EVERYTHING)  # type: ignore[attr-defined]
    assert keys[:3] == ["alice"] * 3
    assert len(set(keys[3:])) == 1 and len(keys[3]) == 32 and keys[3] != long_value
    assert data.challenger.units is not None and len(data.challenger.units) == 6


def test_mirror_copies_carry_the_users_key() -> None:
    mirror_all = Routes(100, 0, 100, session_affinity=AFFINITY)
    with (
        upstream("champion") as champion,
        upstream("challenger") as challenger,
        router(champion.url, challenger.url, mirror_all) as r,
    ):
        for _ in range(5):
            httpx.post(f"{r.url}/invocations", json={}, headers={"cookie": "mc-primary=bob"})
        rec: Recorder = r.recorder  # type: ignore[assignment]
        for _ in range(100):
            if len(rec) >= 10:
                break
            settle(r)
    rows = rec.rows()
    assert sorted(r.version for r in rows) == ["challenger"] * 5 + ["champion"] * 5
    assert rec.unit_keys() == ["bob"] * 10


def test_the_embedded_provider_fills_mirror_coverage_from_the_router() -> None:
    with (
        upstream("champion") as champion,
        router(champion.url, dead_url(), Routes(100, 0, 100)) as r,
        httpx.Client() as client,
    ):
        for _ in range(60):
            client.post(f"{r.url}/invocations", json={})
        rec: Recorder = r.recorder  # type: ignore[assignment]
        deadline = time.monotonic() + 60  # a bound (it was 250 tries, ~5 s on an idle machine)
        while time.monotonic() < deadline:  # the router hands its counts over every timer tick
            if rec.mirror_coverage(EVERYTHING).eligible >= 60:
                break
            settle(r)
            threading.Event().wait(0.02)
        data = EmbeddedProvider(rec).collect(ROLLOUT, EVERYTHING)
    coverage = data.mirror_coverage
    assert coverage is not None and coverage.eligible == 60
    assert coverage.ratio is not None and coverage.ratio < 0.9  # the breaker dropped most
