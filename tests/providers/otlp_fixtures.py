"""OTLP/JSON request builders and a receiver on a free loopback port (test helpers).

The builders follow the OTLP JSON encoding of ``ExportMetricsServiceRequest``
(opentelemetry-proto ``metrics.proto``; JSON mapping per the OTLP specification: lowerCamelCase
keys, 64-bit integers as decimal strings, enums as integers, attributes as ``KeyValue`` with
``AnyValue``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from modelcanary.providers._otlp_receiver import OTLPReceiver
from modelcanary.providers._otlp_store import OTLPStore

DELTA, CUMULATIVE = 1, 2


def nanos(seconds: float) -> str:
    """Unix seconds as the OTLP JSON ``fixed64`` nanoseconds string."""
    return str(round(seconds * 1e9))


def attributes(attrs: Mapping[str, str | int | bool]) -> list[dict[str, Any]]:
    """OTLP ``KeyValue`` list."""
    out = []
    for key, value in attrs.items():
        if isinstance(value, bool):
            any_value: dict[str, Any] = {"boolValue": value}
        elif isinstance(value, int):
            any_value = {"intValue": str(value)}
        else:
            any_value = {"stringValue": value}
        out.append({"key": key, "value": any_value})
    return out


def sum_metric(
    name: str,
    attrs: Mapping[str, str | int | bool],
    points: Sequence[tuple[float, float]],
    *,
    start: float,
    temporality: int = CUMULATIVE,
    as_int: bool = True,
) -> dict[str, Any]:
    """A monotonic sum with ``(time, value)`` points sharing one start time."""
    return {
        "name": name,
        "unit": "1",
        "sum": {
            "aggregationTemporality": temporality,
            "isMonotonic": True,
            "dataPoints": [
                {
                    "attributes": attributes(attrs),
                    "startTimeUnixNano": nanos(start),
                    "timeUnixNano": nanos(t),
                    **({"asInt": str(int(v))} if as_int else {"asDouble": v}),
                }
                for t, v in points
            ],
        },
    }


def gauge_metric(
    name: str, attrs: Mapping[str, str | int | bool], points: Sequence[tuple[float, float]]
) -> dict[str, Any]:
    """A gauge with ``(time, value)`` points."""
    return {
        "name": name,
        "gauge": {
            "dataPoints": [
                {"attributes": attributes(attrs), "timeUnixNano": nanos(t), "asDouble": v}
                for t, v in points
            ]
        },
    }


def histogram_metric(
    name: str,
    attrs: Mapping[str, str | int | bool],
    bounds: Sequence[float],
    points: Sequence[tuple[float, Sequence[int], float]],
    *,
    start: float,
    temporality: int = CUMULATIVE,
    unit: str = "s",
) -> dict[str, Any]:
    """An explicit-bucket histogram with ``(time, bucket counts, sum)`` points."""
    return {
        "name": name,
        "unit": unit,
        "histogram": {
            "aggregationTemporality": temporality,
            "dataPoints": [
                {
                    "attributes": attributes(attrs),
                    "startTimeUnixNano": nanos(start),
                    "timeUnixNano": nanos(t),
                    "count": str(sum(buckets)),
                    "sum": total,
                    "bucketCounts": [str(c) for c in buckets],
                    "explicitBounds": list(bounds),
                }
                for t, buckets, total in points
            ],
        },
    }


def request(
    *metrics: dict[str, Any], resource: Mapping[str, str | int | bool] | None = None
) -> dict[str, Any]:
    """An ExportMetricsServiceRequest with one resource and one scope."""
    return {
        "resourceMetrics": [
            {
                "resource": {"attributes": attributes(resource or {"service.name": "model"})},
                "scopeMetrics": [{"scope": {"name": "tests"}, "metrics": list(metrics)}],
            }
        ]
    }


@contextmanager
def running_receiver() -> Iterator[tuple[OTLPStore, str]]:
    """A fresh store and an OTLPReceiver on a free 127.0.0.1 port: (store, base URL)."""
    store = OTLPStore()
    with OTLPReceiver(store, "127.0.0.1", 0) as receiver:
        yield store, receiver.url


def post(url: str, body: dict[str, Any]) -> httpx.Response:
    """POST an OTLP JSON request to ``url``/v1/metrics (asserting nothing)."""
    return httpx.post(f"{url}/v1/metrics", json=body, timeout=5.0)
