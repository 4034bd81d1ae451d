"""benchmarks/detection_prom.py end to end, short: real model servers, router, Prometheus.

One rollout of a challenger answering in ~300 ms against a 250 ms p99 SLO (1 s scrapes, 4 s
intervals): the Prometheus path must roll it back through the sequential SLO test on
bucket counts, as the exact-data (embedded) path does, and the tiled windows' bucket counts
must add up to the challenger requests the router recorded up to the last scrape.
"""

from __future__ import annotations

import sys
import tempfile
from argparse import Namespace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import detection_prom
from detection_prom import SCENARIOS, Prometheus, free_port, run, save_model

from modelcanary.analysis._measurements import Samples, Window
from modelcanary.providers import EmbeddedProvider, PrometheusProvider
from modelcanary.spec import ModelRollout

TOLERANCE_S = 0.002
"""Prometheus may move a scrape's timestamp by up to 2 ms onto its schedule."""


def test_prometheus_in_the_loop_counts_every_request_and_rolls_back_a_slow_challenger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The last scrape read the router at some time in [its timestamp, + its scrape duration]:
    # its counts are the requests the router had finished by then, no more, no fewer. The
    # benchmark compares them with the requests recorded up to the timestamp itself, so any
    # challenger request finishing while the scrape was on its way in made them differ (a
    # "one request of slack" failed when two did: ~1e-4 of runs idle, % on a loaded machine).
    bounds: list[tuple[int, int]] = []

    def served_by_the_last_scrape(
        provider: PrometheusProvider,
        embedded: EmbeddedProvider,
        spec: ModelRollout,
        name: str,
        t0: float,
        end: float,
    ) -> int:
        series = f'modelcanary_router_request_duration_seconds_count{{rollout="{name}"}}'
        rows = provider.api.vector(f"max(timestamp({series}))", end)
        if not rows:
            bounds.append((0, 0))
            return 0
        stamp = rows[0][1]
        took = provider.api.vector('max(scrape_duration_seconds{job="router"})', stamp)
        assert took, "no scrape duration at the last scrape"

        def recorded(until: float) -> int:
            lat = embedded.collect(spec, Window(t0 - 60.0, until)).challenger.latencies
            return len(lat.values) if isinstance(lat, Samples) else 0

        low = recorded(stamp - TOLERANCE_S)
        bounds.append((low, recorded(stamp + took[0][1] + TOLERANCE_S)))
        return low

    monkeypatch.setattr(detection_prom, "served_until_last_scrape", served_by_the_last_scrape)
    scenario = next(s for s in SCENARIOS if s.name == "latency_x6")
    options = Namespace(base_ms=50.0, interval=4.0, rps=30.0, max_ticks=6)
    with tempfile.TemporaryDirectory(prefix="mc-detection-prom-") as tmp:
        model, body = save_model(Path(tmp))
        port = free_port()
        prometheus = Prometheus(Path(tmp), port, 1.0)
        try:
            result = run(scenario, 0, model, body, prometheus, port, options)
        finally:
            prometheus.stop()
    assert result["prometheus"]["end"] == "rollback", result["reasons"]
    assert result["embedded"]["end"] == "rollback", result["embedded_reasons"]
    assert any("sequential test rejects" in r for r in result["reasons"])
    # every request counted once: the tiled windows' counts are the requests finished by the
    # time the last scrape read the router
    assert result["served_trials"] > 0
    ((low, high),) = bounds
    assert low == result["served_trials"] and low <= result["bucket_trials"] <= high, bounds
