"""OTLP metric series (sums, gauges, histograms) and their window arithmetic.

A :class:`Series` is one metric name with its attributes (resource, scope and point attributes,
point attributes winning) and its points in time order. The window functions
(:func:`increase`, :func:`histogram_increase`, :func:`values_in`) give what a series did in
``(start, end]``:

- a **cumulative** sum/histogram counts from the last point at or before ``start``; a series
  whose ``startTimeUnixNano`` is inside the window (born there) counts from 0, as does a new
  run after a reset (start time changed or the value went down); a series with no point
  before the window and an older start time counts from its first point in the window;
- a **delta** sum/histogram adds its points in the window;
- a gauge's values are its points in the window.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["sum", "gauge", "histogram"]
SeriesKey = tuple[str, Kind, frozenset[tuple[str, str]]]


@dataclass(frozen=True)
class Point:
    """One data point: times in seconds; ``value`` is a sum/gauge value or a histogram count."""

    time: float
    start: float = 0.0
    value: float = 0.0
    total: float = 0.0
    """Histogram sum of observations."""
    bounds: tuple[float, ...] = ()
    """Histogram explicit bounds (upper, inclusive); one bucket more than bounds."""
    buckets: tuple[float, ...] = ()
    """Histogram per-bucket (not cumulative) counts."""


@dataclass
class Series:
    """One time series: a metric name, its kind, attributes and points sorted by time."""

    name: str
    kind: Kind
    attributes: Mapping[str, str]
    cumulative: bool = True
    unit: str = ""
    points: list[Point] = field(default_factory=list)

    @property
    def key(self) -> SeriesKey:
        """Identity of the series in a store."""
        return (self.name, self.kind, frozenset(self.attributes.items()))

    def add(self, point: Point) -> None:
        """Insert ``point`` in time order (a point at an existing time replaces it)."""
        if not self.points or point.time > self.points[-1].time:
            self.points.append(point)
            return
        i = bisect.bisect_left([p.time for p in self.points], point.time)
        if i < len(self.points) and self.points[i].time == point.time:
            self.points[i] = point
        else:
            self.points.insert(i, point)

    def window(self, start: float, end: float) -> tuple[Point | None, list[Point]]:
        """The last point at or before ``start`` and the points in ``(start, end]``."""
        before = None
        inside = []
        for p in self.points:
            if p.time <= start:
                before = p
            elif p.time <= end:
                inside.append(p)
        return before, inside

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (the receiver's read API); :meth:`from_json` reverses it."""
        return {
            "name": self.name,
            "kind": self.kind,
            "attributes": dict(self.attributes),
            "cumulative": self.cumulative,
            "unit": self.unit,
            "points": [
                [p.time, p.start, p.value, p.total, [_num(b) for b in p.bounds], list(p.buckets)]
                for p in self.points
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Series:
        """The series :meth:`to_json` wrote (``ValueError``/``KeyError``/``TypeError`` if not)."""
        kind = data["kind"]
        if kind not in ("sum", "gauge", "histogram"):
            raise ValueError(f"unknown series kind {kind!r}")
        return cls(
            str(data["name"]),
            kind,
            {str(k): str(v) for k, v in data["attributes"].items()},
            bool(data["cumulative"]),
            str(data.get("unit", "")),
            [
                Point(
                    float(t),
                    float(s),
                    float(v),
                    float(total),
                    tuple(float(b) for b in bounds),
                    tuple(float(c) for c in buckets),
                )
                for t, s, v, total, bounds, buckets in data["points"]
            ],
        )


def _num(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def increase(series: Series, start: float, end: float) -> float | None:
    """A sum's (or histogram's count) increase in ``(start, end]``; None without points there."""
    before, inside = series.window(start, end)
    if not inside:
        return None
    if not series.cumulative:
        return sum(p.value for p in inside)
    total = 0.0
    prev = before
    for p in inside:
        if prev is None:
            total += p.value if p.start >= start and p.start > 0 else 0.0
        elif p.start != prev.start or p.value < prev.value:  # reset: a new run from 0
            total += p.value
        else:
            total += p.value - prev.value
        prev = p
    return total


HistogramDelta = tuple[tuple[float, ...], tuple[float, ...], float, float]
"""bounds, per-bucket counts, count, sum of observations in a window."""


def histogram_increase(series: Series, start: float, end: float) -> HistogramDelta | None:
    """A histogram's observations in ``(start, end]`` (None without points there).

    Points whose bounds differ from the window's last point are treated as a reset.
    """
    before, inside = series.window(start, end)
    if not inside:
        return None
    bounds = inside[-1].bounds
    counts = [0.0] * (len(bounds) + 1)
    count = total = 0.0

    def add(p: Point, base: Point | None) -> None:
        nonlocal count, total
        if len(p.buckets) != len(counts):
            return
        for i, c in enumerate(p.buckets):
            counts[i] += c - (base.buckets[i] if base else 0.0)
        count += p.value - (base.value if base else 0.0)
        total += p.total - (base.total if base else 0.0)

    prev = before
    for p in inside:
        if p.bounds != bounds:
            prev = None
            continue
        if not series.cumulative:
            add(p, None)
        elif prev is None:
            if p.start >= start and p.start > 0:
                add(p, None)
        elif p.start != prev.start or p.value < prev.value or prev.bounds != bounds:
            add(p, None)
        else:
            add(p, prev)
        prev = p
    return bounds, tuple(max(c, 0.0) for c in counts), max(count, 0.0), total


def values_in(series: Series, start: float, end: float) -> list[float]:
    """The point values of ``series`` in ``(start, end]`` (gauges; sums' running totals)."""
    return [p.value for p in series.window(start, end)[1]]


def seconds_increase(series: Series, start: float, end: float) -> HistogramDelta | None:
    """:func:`histogram_increase` with the bucket bounds in seconds (a series in ``ms`` is
    scaled; the count and sum are as stored)."""
    delta = histogram_increase(series, start, end)
    if delta is None or series.unit != "ms":
        return delta
    bounds, counts, count, total = delta
    return tuple(b * 0.001 for b in bounds), counts, count, total


__all__ = [
    "HistogramDelta",
    "Kind",
    "Point",
    "Series",
    "SeriesKey",
    "histogram_increase",
    "increase",
    "seconds_increase",
    "values_in",
]
