"""A challenger that dies while it takes traffic never fails a client request (the router).

The challenger is a real process that exits after N answers (``dead_challenger_endpoint``).
Calls it never received (its connection was refused, or its connect breaker refused them)
are recorded as challenger errors and answered by the champion; once the breaker is open no
new connection is tried except one probe per cooldown, and a challenger that comes back is
used again. A call the challenger may have received is not retried.
"""

from __future__ import annotations

import time
from collections import Counter

import httpx
from dead_challenger_endpoint import endpoint
from ports import reserved_port
from router_fixtures import dead_url, metric, router, settle, upstream

from modelcanary.local._proxy.limits import RouterLimits
from modelcanary.rollout._commands import Routes


def test_a_challenger_that_dies_mid_traffic_never_fails_a_client_request() -> None:
    with (
        upstream("champion") as champion,
        endpoint("challenger", after=20) as challenger,
        router(champion.url, challenger.url, Routes(50, 50)) as r,
        httpx.Client() as client,
    ):
        answers = []
        for i in range(300):
            reply = client.post(f"{r.url}/invocations", json={"i": i})
            answers.append((reply.status_code, reply.json()["server"]))
        assert challenger.died() == 0
        settle(r)
        rows = r.recorder.rows()  # type: ignore[attr-defined]
        text = client.get(f"{r.url}/_modelcanary/metrics").text
        retried, breaker_open = r.retried, r.breaker_open("challenger")
    assert {status for status, _ in answers} == {200}  # no client saw the death
    assert Counter(server for _, server in answers)["challenger"] == 20
    failed = [row for row in rows if row.version == "challenger" and row.status != 200]
    # the first calls after the death were refused (502); then the breaker sheds them (503)
    assert {row.status for row in failed} == {502, 503}
    assert sum(row.status == 502 for row in failed) >= 5
    answered = {row.request_id for row in rows if row.version == "champion" and row.status == 200}
    assert all(row.request_id in answered for row in failed)  # each one answered by the champion
    assert retried == len(failed) and breaker_open
    assert metric(text, "modelcanary_router_retried_total") == retried
    assert metric(text, "modelcanary_router_breaker_open", version="challenger") == 1
    assert metric(text, "modelcanary_router_breaker_open", version="champion") == 0


def test_the_breaker_probes_a_challenger_that_comes_back_and_closes() -> None:
    limits = RouterLimits(breaker_cooldown=0.1, breaker_max_cooldown=0.2)
    # held for the challenger between its death and its return: a port released by the dead
    # process could be handed to any other server bind(0) (random ports) before it came back
    port = reserved_port()
    with (
        upstream("champion") as champion,
        endpoint("challenger", after=3, port=port) as first,
        router(champion.url, first.url, Routes(0, 100), limits=limits) as r,
        httpx.Client() as client,
    ):
        servers = [client.post(f"{r.url}/invocations", json={}).json()["server"] for _ in range(20)]
        assert servers[:3] == ["challenger"] * 3 and set(servers[3:]) == {"champion"}
        assert r.breaker_open("challenger")
        with endpoint("challenger", port=port):  # restarted on the same port
            deadline = time.monotonic() + 30
            server = ""
            while server != "challenger":
                assert time.monotonic() < deadline, "the challenger was never used again"
                server = client.post(f"{r.url}/invocations", json={}).json()["server"]
            assert not r.breaker_open("challenger")
            after = {
                client.post(f"{r.url}/invocations", json={}).json()["server"] for _ in range(5)
            }
    assert after == {"challenger"}


def test_a_call_the_challenger_may_have_received_is_not_retried() -> None:
    # it read the request and hung up: it may have acted on it, so the client gets the 502
    with (
        upstream("champion") as champion,
        upstream("challenger", drop=True) as challenger,
        router(champion.url, challenger.url, Routes(0, 100)) as r,
        httpx.Client() as client,
    ):
        reply = client.post(f"{r.url}/invocations", json={})
        settle(r)
        assert reply.status_code == 502
        assert reply.headers["x-modelcanary-version"] == "challenger"
        assert champion.requests() == [] and r.retried == 0


def test_the_champion_gets_the_whole_request_with_its_own_path_prefix() -> None:
    with (
        upstream("champion") as champion,
        router(f"{champion.url}/v1/champ", dead_url(), Routes(0, 100)) as r,
        httpx.Client() as client,
    ):
        body = b'{"inputs": [[1.5, 2.5]]}' * 100
        reply = client.post(
            f"{r.url}/invocations?x=1", content=body, headers={"x-request-id": "abc"}
        )
        seen = champion.requests()
    assert reply.status_code == 200 and reply.headers["x-modelcanary-version"] == "champion"
    assert [(s.path, s.body, s.headers["x-request-id"]) for s in seen] == [
        ("/v1/champ/invocations?x=1", body, "abc")
    ]
    assert seen[0].headers["content-length"] == str(len(body))
