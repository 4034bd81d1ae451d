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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from detection_prom import SCENARIOS, Prometheus, run, save_model
from ports import reserved_port


def test_prometheus_in_the_loop_counts_every_request_and_rolls_back_a_slow_challenger() -> None:
    scenario = next(s for s in SCENARIOS if s.name == "latency_x6")
    options = Namespace(base_ms=50.0, interval=4.0, rps=30.0, max_ticks=6)
    with tempfile.TemporaryDirectory(prefix="mc-detection-prom-") as tmp:
        model, body = save_model(Path(tmp))
        port = reserved_port()  # in Prometheus's config before the router binds it
        prometheus = Prometheus(Path(tmp), port, 1.0)
        try:
            result = run(scenario, 0, model, body, prometheus, port, options)
        finally:
            prometheus.stop()
    assert result["prometheus"]["end"] == "rollback", result["reasons"]
    assert result["embedded"]["end"] == "rollback", result["embedded_reasons"]
    assert any("sequential test rejects" in r for r in result["reasons"])
    # every request counted once: the last scrape read the router somewhere between its
    # timestamp and its end, so the tiled windows' counts are the requests finished by then
    # (a request finishing while the scrape was on its way in may be on either side)
    low, high = result["served_trials"], result["served_trials_high"]
    assert 0 < low <= result["bucket_trials"] <= high, (low, result["bucket_trials"], high)
