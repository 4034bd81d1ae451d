"""Embedded vs Prometheus provider on the same real LocalRouter traffic.

Both read one router: the embedded provider its in-process recorder, the Prometheus
provider the router's ``/_modelcanary/metrics`` as scraped by a real Prometheus. Counts,
label predictions and drift must agree exactly; latency quantiles agree exactly with the
recorder's samples put into the router's buckets, and lie in the same or the adjacent
bucket as the raw-sample quantile (the documented tolerance).
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np
import pytest
from prom_fixtures import Prometheus, fence, wait_until

from modelcanary.analysis._measurements import (
    Counts,
    LatencyHistogram,
    NoData,
    PredictionHistogram,
    Predictions,
    Samples,
    Window,
)
from modelcanary.analysis._sli import histogram_quantile, sli_value
from modelcanary.local._proxy.exposition import DURATION_BUCKETS
from modelcanary.local._proxy.server import LocalRouter
from modelcanary.local._recorder import Recorder
from modelcanary.providers import EmbeddedProvider, PrometheusProvider
from modelcanary.rollout._commands import Routes
from modelcanary.spec import MetricSpec, ModelRollout, parse_rollout

REQUESTS = 200


def rollout() -> ModelRollout:
    return parse_rollout(
        {
            "metadata": {"name": "fraud", "namespace": "ml"},
            "spec": {
                "champion": {"modelUri": "models:/fraud@champion"},
                "challenger": {"modelUri": "models:/fraud/2"},
                "analysis": {
                    "interval": "30s",
                    "stepWeights": [10, 50],
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
                },
            },
        }
    )


class Model(ThreadingHTTPServer):
    """A model server stand-in: the label and latency depend on the request's ``i``."""

    def __init__(self, name: str, fraud_every: int, fail_on: int | None) -> None:
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                i = int(json.loads(body)["i"])
                time.sleep((i % 3) * 0.003)
                failed = model.fail_on is not None and i % 10 == model.fail_on
                label = "fraud" if i % model.fraud_every == 0 else "ok"
                data = json.dumps({"predictions": [label], "server": model.name}).encode()
                self.send_response(503 if failed else 200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        self.name, self.fraud_every, self.fail_on = name, fraud_every, fail_on
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture(scope="module")
def traffic(prometheus: Prometheus, router_port: int) -> Iterator[tuple[Any, Window]]:
    champion, challenger = Model("champion", 5, None), Model("challenger", 4, 7)
    router = LocalRouter(
        champion.url, challenger.url, rollout="fraud", recorder=Recorder(), port=router_port
    )
    router.start()
    try:
        router.set_routes(rollout(), Routes(50, 50, mirror_weight=100))
        wait_until(lambda: prometheus.query('up{job="router"} == 1'), what="router scraped")
        start = fence(prometheus, "router")  # every sample up to here read the router idle
        served = Counter[str]()
        with httpx.Client(base_url=router.url, timeout=10) as client:
            for i in range(REQUESTS):
                answer = client.post("/invocations", json={"i": i})
                served[answer.json()["server"]] += 1
        expected = REQUESTS + served["champion"]  # every champion call is mirrored
        wait_until(lambda: len(router.recorder) == expected, what="mirrored calls recorded")
        total = 'sum(modelcanary_router_requests_total{rollout="fraud"})'
        wait_until(lambda: prometheus.query(f"{total} == {expected}"), what="traffic scraped")
        end = float(prometheus.query('timestamp(up{job="router"})')[0]["value"][1])
        yield router, Window(start, end + 0.001)
    finally:
        router.stop()
        for model in (champion, challenger):
            model.shutdown()
            model.server_close()


def _bucketed(samples: Samples) -> LatencyHistogram:
    """The recorder's latencies put into the router's buckets (ms)."""
    bounds = [b * 1000.0 for b in DURATION_BUCKETS]
    per_bucket = np.bincount(
        [bisect.bisect_left(bounds, v) for v in samples.values], minlength=len(bounds) + 1
    )
    return LatencyHistogram(
        (*bounds, float("inf")), tuple(float(c) for c in np.cumsum(per_bucket)), samples.side
    )


def test_embedded_and_prometheus_agree(prometheus: Prometheus, traffic: tuple[Any, Window]) -> None:
    router, window = traffic
    embedded = EmbeddedProvider(router.recorder).collect(rollout(), window)
    prom = PrometheusProvider(prometheus.url).collect(rollout(), window)
    assert embedded.mirrored is prom.mirrored is True
    for e, p in ((embedded.champion, prom.champion), (embedded.challenger, prom.challenger)):
        assert isinstance(e.counts, Counts) and e.counts == p.counts
        for name in ("error-rate", "request-success-rate", "throughput"):
            metric = MetricSpec(name=name)
            assert sli_value(metric, embedded, e) == pytest.approx(sli_value(metric, prom, p))
        assert isinstance(e.latencies, Samples) and isinstance(p.latencies, LatencyHistogram)
        hist = _bucketed(e.latencies)
        assert p.latencies.cumulative == hist.cumulative
        for name, q in (("latency-p50", 0.5), ("latency-p99", 0.99)):
            from_prom = sli_value(MetricSpec(name=name), prom, p)
            assert isinstance(from_prom, float)
            assert from_prom == pytest.approx(histogram_quantile(q, hist))
            raw = float(np.quantile(e.latencies.values, q))  # the embedded value
            # tolerance: the same or the adjacent bucket (numpy interpolates between two
            # samples that may straddle a bound; Prometheus within the rank's bucket)
            gap = bisect.bisect_left(hist.bounds, raw) - bisect.bisect_left(hist.bounds, from_prom)
            assert abs(gap) <= 1, (name, raw, from_prom)
        assert isinstance(p.predictions, PredictionHistogram) and p.predictions.labels
        labels = dict(zip(p.predictions.labels, p.predictions.counts, strict=True))
        assert isinstance(e.predictions, Predictions)
        assert labels == Counter(e.predictions.values)
    drift = MetricSpec(name="prediction-drift")
    assert sli_value(drift, embedded, embedded.challenger) == pytest.approx(
        sli_value(drift, prom, prom.challenger)
    )
    agreement = MetricSpec(name="prediction-agreement")
    assert isinstance(sli_value(agreement, embedded, embedded.challenger), float)
    assert isinstance(sli_value(agreement, prom, prom.challenger), NoData)
