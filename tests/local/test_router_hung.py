"""A hung model server stalls only the requests routed to it, and those only for a bound.

The challenger accepts connections and never answers. Requests routed to it hold a client
connection until ``timeout`` (504) or, past ``max_upstream_requests`` in flight with no answer
for ``stalled_after`` seconds, fail at once with 503; both are recorded as challenger errors.
Champion traffic is served meanwhile; a model that answers is never cut off.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest
from router_fixtures import Upstream, router, settle, upstream
from router_raw import (
    Answer,
    HungServer,
    closed_by_router,
    connect,
    exchange,
    get,
    hung_server,
    read_answer,
)

from modelcanary.local._proxy.limits import RouterLimits
from modelcanary.rollout._commands import Routes
from modelcanary.spec import MatchCondition

BETA = "X-Cohort: beta\r\n"
AB = Routes(
    champion_weight=100,
    challenger_weight=0,
    match=(MatchCondition.model_validate({"headers": {"x-cohort": {"exact": "beta"}}}),),
)


@pytest.fixture
def servers() -> Iterator[tuple[Upstream, HungServer]]:
    with upstream("champion") as champion, hung_server() as hung:
        yield champion, hung


def _hang(r: object, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        sock = connect(r)  # type: ignore[arg-type]
        sock.sendall(get(headers=BETA))
        socks.append(sock)
    return socks


def test_past_the_in_flight_cap_a_hung_challenger_fails_fast_and_is_recorded(
    servers: tuple[Upstream, HungServer],
) -> None:
    champion, hung = servers
    limits = RouterLimits(max_upstream_requests=4, stalled_after=0)  # 0: no grace period
    with router(champion.url, hung.url, AB, limits=limits, timeout=120) as r:
        stuck = _hang(r, 4)
        try:
            _wait_for(lambda: hung.connections() == 4)
            answer = exchange(r, get(headers=BETA))  # the fifth call to the hung challenger
            assert answer is not None and answer.status == 503
            assert answer.header("x-modelcanary-version") == "challenger"
            for _ in range(20):  # champion traffic is unaffected
                normal = exchange(r, get())
                assert normal is not None and normal.status == 200
            settle(r)
            rows = r.recorder.rows()  # type: ignore[attr-defined]
            failed = [row for row in rows if row.version == "challenger"]
            assert [row.status for row in failed] == [503]
            assert sum(row.version == "champion" and row.status == 200 for row in rows) == 20
            assert hung.connections() <= 4  # never more sockets to the hung server than the cap
        finally:
            for sock in stuck:
                sock.close()


def test_a_hung_challenger_times_out_with_504_recorded_as_its_error(
    servers: tuple[Upstream, HungServer],
) -> None:
    champion, hung = servers
    with router(champion.url, hung.url, AB, timeout=0.3) as r:
        answer = exchange(r, get(headers=BETA))
        assert answer is not None and answer.status == 504
        settle(r)
        rows = r.recorder.rows()  # type: ignore[attr-defined]
        assert [(row.version, row.status) for row in rows] == [("challenger", 504)]


def test_when_every_connection_waits_on_a_model_new_ones_get_503(
    servers: tuple[Upstream, HungServer],
) -> None:
    champion, hung = servers
    limits = RouterLimits(max_connections=3)
    with router(champion.url, hung.url, AB, limits=limits, timeout=120) as r:
        stuck = _hang(r, 3)
        try:
            _wait_for(lambda: hung.connections() == 3)  # all three forwarded: none is idle
            with connect(r) as extra:
                answer = read_answer(extra)  # refused at once, before any request is read
                assert answer is not None and answer.status == 503
                assert closed_by_router(extra)
        finally:
            for sock in stuck:
                sock.close()
        _wait_for(lambda: _status(exchange(r, get())) == 200)  # slots free once clients leave


def _status(answer: Answer | None) -> int:
    return 0 if answer is None else answer.status


def _wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_a_slow_model_that_answers_is_never_cut_off_at_the_cap() -> None:
    limits = RouterLimits(max_upstream_requests=2, stalled_after=60)
    with (
        upstream("champion", delay=0.2) as slow,
        router(slow.url, slow.url, Routes(), limits=limits) as r,
    ):
        socks = [connect(r) for _ in range(6)]  # three times the cap, all at once
        try:
            for sock in socks:
                sock.sendall(get())
            statuses = [read_answer(sock) for sock in socks]
        finally:
            for sock in socks:
                sock.close()
        assert [a.status if a else 0 for a in statuses] == [200] * 6


def test_calls_waiting_at_the_cap_are_refused_once_the_model_stalls(
    servers: tuple[Upstream, HungServer],
) -> None:
    champion, hung = servers
    limits = RouterLimits(max_upstream_requests=2, stalled_after=0.3)
    with router(champion.url, hung.url, AB, limits=limits, timeout=120) as r:
        stuck = _hang(r, 2)
        try:
            _wait_for(lambda: hung.connections() == 2)
            waiting = _hang(r, 3)  # over the cap: they wait for a slot, then the breaker opens
            for sock in waiting:
                answer = read_answer(sock)
                assert answer is not None and answer.status == 503
                sock.close()
            assert hung.connections() == 2
            normal = exchange(r, get())
            assert normal is not None and normal.status == 200
        finally:
            for sock in stuck:
                sock.close()
