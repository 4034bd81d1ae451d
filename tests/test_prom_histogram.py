"""Sequential latency tests from Prometheus histogram buckets, with a real Prometheus.

A real Prometheus (1 s scrapes) reads a real LocalRouter in front of two stand-in model
servers, and a synthetic exporter whose counters the test sets. The provider reads the
latency buckets as exact counter changes (whole requests), so the sequential SLO test and
the champion comparison run on them: their trials and slow requests must equal what the
router served (its recorder's per-request latencies put into the same buckets).
"""

from __future__ import annotations

import bisect
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "providers"))
from ports import reserved_port
from prom_fixtures import (
    Exporter,
    Prometheus,
    fence,
    running_prometheus,
    seed_router,
    wait_until,
)

from modelcanary.analysis import analyse_interval
from modelcanary.analysis._measurements import (
    LatencyHistogram,
    Samples,
    Window,
)
from modelcanary.local._proxy.exposition import DURATION_BUCKETS
from modelcanary.local._proxy.server import LocalRouter
from modelcanary.local._recorder import Recorder
from modelcanary.providers import EmbeddedProvider, PrometheusProvider
from modelcanary.spec import ModelRollout, Routes, parse_rollout

ROUTER_PATH = "/_modelcanary/metrics"
SLO_MS = 250.0  # a bucket bound of the router's histogram
REQUESTS = 240
SLOW_EVERY = 4  # the challenger answers 1 request in 4 in ~300 ms: far above p99 <= 250 ms


def rollout(name: str = "hist", relative: bool = False) -> ModelRollout:
    metric: dict[str, Any] = {"name": "latency-p99", "thresholdRange": {"max": SLO_MS}}
    if relative:
        metric = {"name": "latency-p99", "relativeTo": "champion", "thresholdRange": {"max": 1}}
    return parse_rollout(
        {
            "metadata": {"name": name, "namespace": "ml"},
            "spec": {
                "champion": {"modelUri": f"models:/{name}@champion"},
                "challenger": {"modelUri": f"models:/{name}/2"},
                "metricsProvider": {"type": "prometheus", "address": "http://127.0.0.1:9"},
                "analysis": {"interval": "30s", "stepWeights": [50], "metrics": [metric]},
            },
        }
    )


class Model(ThreadingHTTPServer):
    """A model server stand-in: the challenger is slow on every ``slow_every``-th request."""

    def __init__(self, name: str, slow_every: int | None) -> None:
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                i = int(json.loads(body)["i"])
                if model.slow_every is not None and i % model.slow_every == 0:
                    time.sleep(0.3)
                data = json.dumps({"predictions": [1], "server": model.name}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        self.name, self.slow_every = name, slow_every
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()


class Served:
    """The routed traffic: the router, the window that holds it, requests per server."""

    def __init__(self, router: LocalRouter, window: Window, served: Counter[str]) -> None:
        self.router, self.window, self.served = router, window, served


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    server = Exporter()
    yield server
    server.close()


class FlakyExporter(Exporter):
    """An exporter whose scrapes fail while ``down`` (Prometheus then marks its series
    stale)."""

    down = False

    def render(self) -> str:
        return "not { an exposition\n" if self.down else super().render()


@pytest.fixture(scope="module")
def flaky() -> Iterator[FlakyExporter]:
    server = FlakyExporter()
    yield server
    server.close()


@pytest.fixture(scope="module")
def stack(exporter: Exporter, flaky: FlakyExporter) -> Iterator[tuple[Prometheus, int]]:
    port = reserved_port()  # scraped from Prometheus's start, bound by the router later
    jobs = {
        "synthetic": ([exporter.target], "/metrics"),
        "flaky": ([flaky.target], "/metrics"),
        "router": ([f"127.0.0.1:{port}"], ROUTER_PATH),
    }
    with running_prometheus(jobs) as prometheus:
        yield prometheus, port


@pytest.fixture(scope="module")
def served(stack: tuple[Prometheus, int]) -> Iterator[Served]:
    prometheus, port = stack
    champion, challenger = Model("champion", None), Model("challenger", SLOW_EVERY)
    router = LocalRouter(
        champion.url, challenger.url, rollout="hist", recorder=Recorder(), port=port
    )
    seed_router(router, 3)  # the same split on every run
    router.start()
    try:
        router.set_routes(rollout(), Routes(50, 50))
        wait_until(lambda: prometheus.query('up{job="router"} == 1'), 30, "router scraped")
        start = fence(prometheus, "router")  # a scrape before the traffic: the start edge
        served = Counter[str]()
        with httpx.Client(base_url=router.url, timeout=10) as client:
            for i in range(REQUESTS):
                served[client.post("/invocations", json={"i": i}).json()["server"]] += 1
        total = 'sum(modelcanary_router_request_duration_seconds_count{rollout="hist"})'
        wait_until(lambda: prometheus.query(f"{total} == {REQUESTS}"), 30, "traffic scraped")
        end = time.time() + 0.5  # after the last scrape: increase() would extrapolate here
        yield Served(router, Window(start, end), served)
    finally:
        router.stop()
        for model in (champion, challenger):
            model.shutdown()
            model.server_close()


def _bucketed(samples: Samples) -> tuple[int, ...]:
    """The recorder's latencies put into the router's buckets: cumulative counts."""
    bounds = [b * 1000.0 for b in DURATION_BUCKETS]
    per = np.bincount(
        [bisect.bisect_left(bounds, v) for v in samples.values], minlength=len(bounds) + 1
    )
    return tuple(int(c) for c in np.cumsum(per))


def test_latency_slo_from_prometheus_buckets_is_sequential_with_the_served_counts(
    stack: tuple[Prometheus, int], served: Served
) -> None:
    prometheus, _ = stack
    spec = rollout()
    data = PrometheusProvider(prometheus.url).collect(spec, served.window)
    truth = EmbeddedProvider(served.router.recorder).collect(spec, served.window)
    for side in ("champion", "challenger"):
        hist = getattr(data, side).latencies
        samples = getattr(truth, side).latencies
        assert isinstance(hist, LatencyHistogram) and hist.exact, side
        assert isinstance(samples, Samples)
        assert hist.total == served.served[side] == len(samples.values)
        assert hist.cumulative == _bucketed(samples)  # whole requests, bucket by bucket
    chal = truth.challenger.latencies
    assert isinstance(chal, Samples)
    slow = int(np.sum(chal.values > SLO_MS))  # 250 ms is a bound: exact
    assert slow >= served.served["challenger"] // SLOW_EVERY // 2  # the fault is in the data

    result = analyse_interval(spec.spec.analysis, data)
    check = result.checks[0]
    assert check.judge == "sequential"
    assert "sequential" in check.reason
    seq = result.state.sequential[check.key]
    assert seq.slo is not None and seq.pairs is not None
    assert (seq.slo.events, seq.slo.trials) == (slow, served.served["challenger"])
    assert (seq.pairs.n0, seq.pairs.n1) == (served.served["champion"], served.served["challenger"])
    # 1 request in ~4 slower than 250 ms against a p99: the always-valid test rejects at once
    assert check.verdict == "fail" and check.decisive and result.action == "rollback"
    assert f"({slow}/{served.served['challenger']} requests slower)" in check.reason


def test_champion_comparison_runs_on_buckets(stack: tuple[Prometheus, int], served: Served) -> None:
    prometheus, _ = stack
    spec = rollout(relative=True)
    data = PrometheusProvider(prometheus.url).collect(rollout(), served.window)
    result = analyse_interval(spec.spec.analysis, data)
    check = result.checks[0]
    assert check.judge == "sequential"
    seq = result.state.sequential[check.key]
    assert seq.champion is not None and seq.slo is None  # relative: the comparison only
    assert seq.champion.trials > 0 and seq.champion.events > 0  # the slow bucket splits
    assert seq.pairs is not None
    assert (seq.pairs.n0, seq.pairs.n1) == (served.served["champion"], served.served["challenger"])


def _set(exporter: Exporter, version: str, cumulative: dict[str, float]) -> None:
    """Set the synthetic router histogram's bucket counters of ``version`` (a restart sets
    them lower)."""
    name = "modelcanary_router_request_duration_seconds_bucket"
    with exporter.lock:
        for le, value in cumulative.items():
            labels = {"rollout": "synth", "version": version, "mirrored": "false", "le": le}
            exporter.values[(name, tuple(labels.items()))] = value


def _scraped(prometheus: Prometheus, version: str, value: float) -> float | None:
    """Timestamp of the first scrape that saw ``version``'s +Inf bucket at ``value``."""
    rows = prometheus.query(
        'modelcanary_router_request_duration_seconds_bucket{rollout="synth",'
        f'version="{version}",le="+Inf"}}[2m]'
    )
    stamps = [float(t) for t, v in rows[0]["values"] if float(v) == value] if rows else []
    return min(stamps) if stamps else None


def test_bucket_counts_are_whole_requests_and_windows_tile(
    stack: tuple[Prometheus, int], exporter: Exporter
) -> None:
    """Counter changes, not increase(): no extrapolation past the last scrape, a series born
    in the window counts from 0, a reset counts its new value, and two adjacent windows add
    up to the traffic of both."""
    prometheus, _ = stack
    les = ("0.005", "0.025", "0.1", "+Inf")
    _set(exporter, "champion", dict.fromkeys(les, 100.0))  # older than the windows
    first = wait_until(lambda: _scraped(prometheus, "champion", 100.0), 30, "first scrape")
    time.sleep(1.2)  # another scrape at 100
    a = fence(prometheus, "synthetic")  # the samples up to here read the values before
    with exporter.batch():  # both versions change between two scrapes
        _set(exporter, "champion", dict(zip(les, (103.0, 110.0, 117.0, 120.0), strict=True)))
        _set(exporter, "challenger", dict(zip(les, (2.0, 5.0, 9.0, 10.0), strict=True)))  # born
    wait_until(lambda: _scraped(prometheus, "champion", 120.0), 30, "second batch")
    b = fence(prometheus, "synthetic")  # between two scrapes
    with exporter.batch():
        # a restart: the challenger's counters start again from 0, then count 4 more requests
        _set(exporter, "challenger", dict(zip(les, (1.0, 2.0, 4.0, 4.0), strict=True)))
        _set(exporter, "champion", dict(zip(les, (103.0, 111.0, 120.0, 125.0), strict=True)))
    wait_until(lambda: _scraped(prometheus, "champion", 125.0), 30, "third batch")
    c = time.time() + 0.4  # past the last scrape
    assert first < a

    spec = rollout("synth")
    provider = PrometheusProvider(prometheus.url, series_points=0)
    one = provider.collect(spec, Window(a, b))
    two = provider.collect(spec, Window(b, c))
    both = provider.collect(spec, Window(a, c))
    ms = (5.0, 25.0, 100.0, float("inf"))
    assert one.champion.latencies == LatencyHistogram(ms, (3.0, 10.0, 17.0, 20.0), "champion")
    assert one.challenger.latencies == LatencyHistogram(ms, (2.0, 5.0, 9.0, 10.0), "challenger")
    assert two.champion.latencies == LatencyHistogram(ms, (0.0, 1.0, 3.0, 5.0), "champion")
    assert two.challenger.latencies == LatencyHistogram(ms, (1.0, 2.0, 4.0, 4.0), "challenger")
    assert both.champion.latencies == LatencyHistogram(ms, (3.0, 11.0, 20.0, 25.0), "champion")
    for data in (one, two, both):
        for side in (data.champion, data.challenger):
            assert isinstance(side.latencies, LatencyHistogram) and side.latencies.exact


def test_a_failed_scrape_at_the_window_start_does_not_count_the_counters_lifetime(
    stack: tuple[Prometheus, int], flaky: FlakyExporter
) -> None:
    prometheus, _ = stack
    flaky.latency("flaky", "challenger", 0.02, 100)  # lifetime: 100 requests
    flaky.latency("flaky", "champion", 0.02, 100)
    count = 'modelcanary_router_request_duration_seconds_count{rollout="flaky"}'
    wait_until(lambda: prometheus.query(f"{count} == 100"), 30, "lifetime scraped")
    flaky.down = True  # the next scrapes fail: the series are marked stale
    wait_until(lambda: prometheus.query('up{job="flaky"} == 0'), 30, "a failed scrape")
    wait_until(lambda: not prometheus.query(count), 30, "series stale")
    start = fence(prometheus, "flaky")  # every scrape up to here failed or read the lifetime
    flaky.latency("flaky", "challenger", 0.2, 7)  # the window's traffic
    flaky.down = False
    wait_until(lambda: prometheus.query(f"{count} == 107"), 30, "traffic scraped")
    data = PrometheusProvider(prometheus.url).collect(rollout("flaky"), Window(start, time.time()))
    hist = data.challenger.latencies
    assert isinstance(hist, LatencyHistogram) and hist.exact
    assert hist.total == 7  # not 107: the start value is the last sample before the failure
    assert hist.cumulative[hist.bounds.index(100.0)] == 0  # all 7 in (100, 250] ms
    assert hist.cumulative[hist.bounds.index(250.0)] == 7
