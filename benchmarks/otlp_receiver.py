"""OTLP receiver benchmark: ingest rate over loopback HTTP and provider read times.

Posts ``--exports`` OTLP/JSON export requests (the router's request counters for both
versions and two statuses, and both latency histograms: 6 points each, 5 s apart) to an
``OTLPReceiver`` on a free 127.0.0.1 port over one keep-alive httpx connection, then times
``collect()`` over the whole span in-process (the store) and remotely (``RemoteSeries``, the
receiver's read API). Prints the figures and, with ``--json FILE``, writes them as JSON.

Run: ``.venv/bin/python benchmarks/otlp_receiver.py [--exports 500] [--reads 20] [--json F]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "providers"))

# the provider tests' rollout "fraud" (the provider here matches series by rollout name only)
from provider_contract import CONTRACT_ROLLOUT as ROLLOUT  # noqa: E402

from modelcanary.analysis._measurements import Window  # noqa: E402
from modelcanary.providers._opentelemetry import OpenTelemetryProvider, RemoteSeries  # noqa: E402
from modelcanary.providers._otlp_receiver import OTLPReceiver  # noqa: E402
from modelcanary.providers._otlp_store import OTLPStore  # noqa: E402


def _attrs(**kv: str) -> list[dict[str, Any]]:
    return [{"key": k, "value": {"stringValue": v}} for k, v in kv.items()]


def export(t: float, i: int, start: float) -> dict[str, Any]:
    """One export request: 4 counter points and 2 histogram points at time ``t``."""
    ns, st = str(int(t * 1e9)), str(int(start * 1e9))
    metrics: list[dict[str, Any]] = []
    for version in ("champion", "challenger"):
        for status in ("200", "503"):
            point = {
                "attributes": _attrs(rollout="fraud", version=version, status=status),
                "startTimeUnixNano": st,
                "timeUnixNano": ns,
                "asInt": str(i),
            }
            metrics.append(
                {
                    "name": "modelcanary_router_requests_total",
                    "sum": {
                        "aggregationTemporality": 2,
                        "isMonotonic": True,
                        "dataPoints": [point],
                    },
                }
            )
        hist = {
            "attributes": _attrs(rollout="fraud", version=version),
            "startTimeUnixNano": st,
            "timeUnixNano": ns,
            "count": str(3 * i),
            "sum": 0.3 * i,
            "bucketCounts": [str(i), str(i), str(i), "0"],
            "explicitBounds": [0.1, 0.5, 1.0],
        }
        metrics.append(
            {
                "name": "modelcanary_router_request_duration_seconds",
                "histogram": {"aggregationTemporality": 2, "dataPoints": [hist]},
            }
        )
    return {"resourceMetrics": [{"scopeMetrics": [{"metrics": metrics}]}]}


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exports", type=int, default=500)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    base = time.time() - 5 * args.exports - 60
    store = OTLPStore(retention=10 * args.exports + 3600)
    results: dict[str, float] = {}
    with OTLPReceiver(store, "127.0.0.1", 0) as receiver, httpx.Client() as client:
        began = time.perf_counter()
        for i in range(args.exports):
            answer = client.post(f"{receiver.url}/v1/metrics", json=export(base + 5 * i, i, base))
            answer.raise_for_status()
        took = time.perf_counter() - began
        results["ingest_ms_per_export"] = 1000 * took / args.exports
        results["ingest_points_per_s"] = 6 * args.exports / took
        window = Window(base, base + 5 * args.exports)
        readers = {
            "in_process": OpenTelemetryProvider(store),
            "remote": OpenTelemetryProvider(RemoteSeries(receiver.url)),
        }
        for label, provider in readers.items():
            began = time.perf_counter()
            for _ in range(args.reads):
                provider.collect(ROLLOUT, window)
            results[f"collect_ms_{label}"] = 1000 * (time.perf_counter() - began) / args.reads
    results["points_per_series"] = float(args.exports)
    for key, value in results.items():
        print(f"{key:>26}: {value:,.2f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
