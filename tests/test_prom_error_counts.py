"""Request and error counts from Prometheus are exact counts, with a real Prometheus.

A real Prometheus (1 s scrapes) reads a real LocalRouter in front of two model servers that
answer 503 on demand. The provider reads ``modelcanary_router_requests_total`` as the
counters' exact change over the window (``promql.delta_by``), not an extrapolated
``increase()``: the requests and errors of a window are the whole numbers the router served,
two adjacent windows add up to the traffic of both (no request counted twice), and the
sequential error-rate test counts them as trials and bad events. The windows start and end
between scrapes, where ``increase()`` extrapolates.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "providers"))
from prom_fixtures import (
    Exporter,
    Prometheus,
    fence,
    running_prometheus,
    seed_router,
    wait_until,
)
from scripted_model import scripted_model

from modelcanary.analysis import analyse_interval
from modelcanary.analysis._measurements import Counts, Window
from modelcanary.local._proxy.server import LocalRouter
from modelcanary.local._recorder import Recorder
from modelcanary.providers import EmbeddedProvider, PrometheusProvider
from modelcanary.providers import _promql as promql
from modelcanary.spec import ModelRollout, Routes, parse_rollout

ROUTER_PATH = "/_modelcanary/metrics"
NAME = "errcounts"
SERIES = f'modelcanary_router_requests_total{{rollout="{NAME}"}}'
BATCH = (83, 71)  # requests of the two adjacent windows
CHAMPION_FAILS, CHALLENGER_FAILS = 7, 4  # every 7th / 4th request answers 503


def rollout() -> ModelRollout:
    return parse_rollout(
        {
            "metadata": {"name": NAME, "namespace": "ml"},
            "spec": {
                "champion": {"modelUri": f"models:/{NAME}@champion"},
                "challenger": {"modelUri": f"models:/{NAME}/2"},
                "metricsProvider": {"type": "prometheus", "address": "http://127.0.0.1:9"},
                "analysis": {
                    "interval": "30s",
                    "stepWeights": [50],
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
                },
            },
        }
    )


class EveryNth:
    """A model's script: 503 to every ``every``-th request (the body's ``i``) while ``failing``."""

    def __init__(self, every: int, failing: bool) -> None:
        self.every, self.failing = every, failing

    def __call__(self, headers: Mapping[str, str], body: bytes) -> int:
        i = int(json.loads(body)["i"])
        return 503 if self.failing and i % self.every == 0 else 200


Tally = Counter[tuple[str, bool]]
"""Answered requests by (server, failed)."""


def counts(tally: Tally, side: str) -> Counts:
    total = tally[(side, False)] + tally[(side, True)]
    return Counts(total, tally[(side, True)], side)  # type: ignore[arg-type]


def send(client: httpx.Client, first: int, n: int, tally: Tally) -> None:
    for i in range(first, first + n):
        response = client.post("/invocations", json={"i": i})
        tally[(response.headers["x-modelcanary-version"], response.status_code == 503)] += 1


def scraped_at(prometheus: Prometheus, total: int) -> float | None:
    """Timestamp of the first scrape whose request counters add up to ``total`` (raw
    samples; every series of one target shares the scrape's timestamp)."""
    per_scrape: Counter[float] = Counter()
    for series in prometheus.query(f"{SERIES}[2m]"):
        for t, v in series["values"]:
            per_scrape[float(t)] += int(float(v))
    stamps = [t for t, n in per_scrape.items() if n == total]
    return min(stamps) if stamps else None


@dataclass(frozen=True)
class Traffic:
    """Two adjacent windows, each with the requests the router answered in it."""

    prometheus: Prometheus
    exporter: Exporter
    router: LocalRouter
    one: Window
    two: Window
    served: tuple[Tally, Tally]


@pytest.fixture(scope="module")
def traffic() -> Iterator[Traffic]:
    failing = EveryNth(CHALLENGER_FAILS, failing=False)
    with (
        scripted_model(EveryNth(CHAMPION_FAILS, failing=True)) as champion,
        scripted_model(failing) as challenger,
    ):
        yield from _traffic(champion.url, challenger.url, failing)


def _traffic(champion: str, challenger: str, failing: EveryNth) -> Iterator[Traffic]:
    router = LocalRouter(champion, challenger, rollout=NAME, recorder=Recorder(), port=0)
    seed_router(router, 5)  # the same 50/50 split every run: each window has errors per side
    router.start()  # on a port the kernel picks as it binds (Prometheus starts after it)
    port = router.port
    exporter = Exporter()
    jobs = {
        "router": ([f"127.0.0.1:{port}"], ROUTER_PATH),
        "synthetic": ([exporter.target], "/metrics"),
    }
    try:
        with running_prometheus(jobs) as prometheus:
            router.set_routes(rollout(), Routes(50, 50))
            with httpx.Client(base_url=router.url, timeout=10) as client:
                # before the windows: both versions' 200 series and the champion's 503 series
                # exist (older than the windows: increase() would extrapolate them); the
                # challenger's 503 series is born in the first window
                warm, i = Tally(), 0
                while not (warm[("champion", True)] and warm[("challenger", False)]):
                    send(client, i, CHAMPION_FAILS, warm)
                    i += CHAMPION_FAILS
                sent = sum(warm.values())
                wait_until(lambda: scraped_at(prometheus, sent), 30, "warm-up scraped")
                time.sleep(1.3)  # another scrape of the warm-up counts
                start = fence(prometheus, "router")  # the window starts between two scrapes
                failing.failing = True
                one, two = Tally(), Tally()
                send(client, i, BATCH[0], one)
                wait_until(lambda: scraped_at(prometheus, sent + BATCH[0]), 30, "one")
                mid = fence(prometheus, "router")  # between two scrapes
                send(client, i + BATCH[0], BATCH[1], two)
                wait_until(lambda: scraped_at(prometheus, sent + sum(BATCH)), 30, "two")
            end = time.time() + 0.5  # past the last scrape
            yield Traffic(
                prometheus, exporter, router, Window(start, mid), Window(mid, end), (one, two)
            )
    finally:
        exporter.server.shutdown()
        exporter.server.server_close()
        router.stop()


def test_window_counts_are_the_requests_and_errors_served(traffic: Traffic) -> None:
    provider = PrometheusProvider(traffic.prometheus.url, series_points=0)
    spec = rollout()
    for window, tally in zip((traffic.one, traffic.two), traffic.served, strict=True):
        data = provider.collect(spec, window)
        for side in ("champion", "challenger"):
            assert getattr(data, side).counts == counts(tally, side), (window, side)
        # the query's own values are whole numbers of requests, not extrapolations
        scheme, rng = provider.scheme_of(spec), promql.duration(window.seconds)
        by = ("status", "mirrored")
        rows = provider.api.vector(
            provider.grouped(scheme, spec, scheme.requests, by, rng, exact=True), window.end
        )
        assert rows and all(value == int(value) for _, value in rows)
    one, two = traffic.served
    assert counts(one, "challenger").errors > 0 and counts(two, "champion").errors > 0


def test_adjacent_windows_add_up_without_double_counting(traffic: Traffic) -> None:
    provider = PrometheusProvider(traffic.prometheus.url, series_points=0)
    spec = rollout()
    both = Window(traffic.one.start, traffic.two.end)
    whole = provider.collect(spec, both)
    parts = [provider.collect(spec, w) for w in (traffic.one, traffic.two)]
    everything = traffic.served[0] + traffic.served[1]
    truth = EmbeddedProvider(traffic.router.recorder).collect(spec, both)
    for side in ("champion", "challenger"):
        total = getattr(whole, side).counts
        split = [getattr(p, side).counts for p in parts]
        assert isinstance(total, Counts) and all(isinstance(c, Counts) for c in split)
        assert total.total == sum(c.total for c in split) == counts(everything, side).total
        assert total.errors == sum(c.errors for c in split) == counts(everything, side).errors
        assert total == getattr(truth, side).counts  # the router's own per-request record


def test_sequential_error_rate_counts_the_served_requests(traffic: Traffic) -> None:
    spec = rollout()
    data = PrometheusProvider(traffic.prometheus.url, series_points=0).collect(spec, traffic.one)
    champion, challenger = (counts(traffic.served[0], side) for side in ("champion", "challenger"))
    result = analyse_interval(spec.spec.analysis, data)
    check = result.checks[0]
    assert check.judge == "sequential"
    seq = result.state.sequential[check.key]
    # the two-sample tests: requests and errors of each version, as served
    assert seq.pairs is not None
    assert (seq.pairs.n0, seq.pairs.x0) == (champion.total, champion.errors)
    assert (seq.pairs.n1, seq.pairs.x1) == (challenger.total, challenger.errors)
    assert seq.champion is not None  # the challenger's share of the bad events
    assert (seq.champion.events, seq.champion.trials) == (
        challenger.errors,
        challenger.errors + champion.errors,
    )
    # both versions fail 1 request in 4 or 7 against max 5 %: an environment incident
    assert check.verdict != "pass" and "incident" in check.reason


def _set(exporter: Exporter, status: str, value: float) -> None:
    """Set the synthetic router's challenger request counter for ``status``."""
    labels = {"rollout": "restart", "version": "challenger", "status": status, "mirrored": "false"}
    with exporter.lock:
        exporter.values[("modelcanary_router_requests_total", tuple(labels.items()))] = value


def _sample(prometheus: Prometheus, value: float) -> float | None:
    rows = prometheus.query('modelcanary_router_requests_total{rollout="restart",status="200"}[2m]')
    stamps = [float(t) for t, v in rows[0]["values"] if float(v) == value] if rows else []
    return min(stamps) if stamps else None


def test_a_restart_inside_the_window_counts_the_events_before_and_after_it(
    traffic: Traffic,
) -> None:
    """A router restart resets its counters to 0 mid-window: the window counts the events
    up to the restart plus those after it, never a negative or the new value alone."""
    prometheus, exporter = traffic.prometheus, traffic.exporter
    with exporter.batch():  # each pair of counters changes between two scrapes
        _set(exporter, "200", 500.0)  # a long-lived router: lifetime counts before the window
        _set(exporter, "503", 40.0)
    wait_until(lambda: _sample(prometheus, 500.0), 30, "lifetime scraped")
    time.sleep(1.3)
    start = fence(prometheus, "synthetic")  # the samples up to here read the lifetime counts
    with exporter.batch():
        _set(exporter, "200", 530.0)  # 30 requests, 4 errors, then the restart
        _set(exporter, "503", 44.0)
    wait_until(lambda: _sample(prometheus, 530.0), 30, "before the restart")
    time.sleep(1.2)
    with exporter.batch():
        _set(exporter, "200", 12.0)  # restarted from 0: 12 requests, 2 errors since
        _set(exporter, "503", 2.0)
    wait_until(lambda: _sample(prometheus, 12.0), 30, "after the restart")
    end = time.time() + 0.5
    spec = parse_rollout(
        {
            "metadata": {"name": "restart", "namespace": "ml"},
            "spec": {
                "champion": {"modelUri": "models:/restart@champion"},
                "challenger": {"modelUri": "models:/restart/2"},
                "analysis": {"interval": "30s", "stepWeights": [50], "metrics": []},
            },
        }
    )
    data = PrometheusProvider(prometheus.url, series_points=0).collect(spec, Window(start, end))
    assert data.challenger.counts == Counts(30 + 4 + 12 + 2, 4 + 2, "challenger")
