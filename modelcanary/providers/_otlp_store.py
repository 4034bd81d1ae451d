"""An in-memory store of OTLP metrics (sums, gauges, histograms) and their window arithmetic.

:func:`decode_request` turns an OTLP ``ExportMetricsServiceRequest`` in its JSON encoding (the
protobuf encoding is converted to the same dict by the receiver) into :class:`Series` points;
:class:`OTLPStore` keeps them per series (metric name + resource, scope and point attributes,
point attributes winning) for ``retention`` seconds. The window functions (:func:`increase`,
:func:`histogram_increase`, :func:`values_in`) give what a series did in ``(start, end]``:

- a **cumulative** sum/histogram counts from the last point at or before ``start``; a series
  whose ``startTimeUnixNano`` is inside the window (born there) counts from 0, as does a new
  run after a reset (start time changed or the value went down); a series with no point
  before the window and an older start time counts from its first point in the window;
- a **delta** sum/histogram adds its points in the window;
- a gauge's values are its points in the window.

Exponential histograms and summaries are not stored (counted as rejected points).
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["sum", "gauge", "histogram"]
SeriesKey = tuple[str, Kind, frozenset[tuple[str, str]]]
_CUMULATIVE = {2, "2", "AGGREGATION_TEMPORALITY_CUMULATIVE"}
_DELTA = {1, "1", "AGGREGATION_TEMPORALITY_DELTA"}
_NO_RECORDED_VALUE = 1  # DataPointFlags.FLAG_NO_RECORDED_VALUE


class OTLPDecodeError(ValueError):
    """The request body is not an OTLP metrics export request."""


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


# -- window arithmetic ---------------------------------------------------------------------------
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


# -- OTLP JSON decoding ---------------------------------------------------------------------------
def _get(obj: Mapping[str, Any], camel: str) -> Any:
    """A field by its lowerCamelCase JSON name or its proto (snake_case) name."""
    if camel in obj:
        return obj[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(snake)


def _any_value(value: Any) -> str:
    if not isinstance(value, Mapping):
        return "" if value is None else str(value)
    for key in ("stringValue", "string_value"):
        if key in value:
            return str(value[key])
    for key in ("boolValue", "bool_value"):
        if key in value:
            return "true" if value[key] in (True, "true") else "false"
    for key in ("intValue", "int_value"):
        if key in value:
            return str(int(value[key]))
    for key in ("doubleValue", "double_value"):
        if key in value:
            return repr(float(value[key]))
    return str(next(iter(value.values()), ""))


def _attributes(items: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        if isinstance(item, Mapping) and "key" in item:
            out[str(item["key"])] = _any_value(item.get("value"))
    return out


def _seconds(nanos: Any) -> float:
    return int(nanos or 0) / 1e9


def _number(point: Mapping[str, Any]) -> float:
    as_double = _get(point, "asDouble")
    if as_double is not None:
        return float(as_double)  # JSON may carry "NaN"/"Infinity" as strings
    as_int = _get(point, "asInt")
    return float(int(as_int)) if as_int is not None else math.nan


def _kind(metric: Mapping[str, Any]) -> tuple[Kind | None, Mapping[str, Any]]:
    for kind in ("sum", "gauge", "histogram"):
        data = metric.get(kind)
        if isinstance(data, Mapping):
            return kind, data
    return None, {}


def decode_request(body: Mapping[str, Any]) -> tuple[list[tuple[Series, Point]], int, str]:
    """(series, point) pairs of an ExportMetricsServiceRequest, rejected points and why.

    Raises :class:`OTLPDecodeError` when ``body`` is not such a request at all.
    """
    resources = _get(body, "resourceMetrics")
    if not isinstance(resources, list):
        raise OTLPDecodeError("no resourceMetrics list: not an OTLP metrics export request")
    out: list[tuple[Series, Point]] = []
    rejected, why = 0, ""
    try:
        for rm in resources:
            res_attrs = _attributes(_get(_get(rm, "resource") or {}, "attributes"))
            for sm in _get(rm, "scopeMetrics") or ():
                scope_attrs = _attributes(_get(_get(sm, "scope") or {}, "attributes"))
                for metric in sm.get("metrics") or ():
                    name, unit = str(metric.get("name", "")), str(metric.get("unit", ""))
                    kind, data = _kind(metric)
                    points = _get(data, "dataPoints") or ()
                    if kind is None or not name:
                        n = sum(len(_get(v, "dataPoints") or ()) for v in _values(metric))
                        rejected += n
                        why = why or f"metric {name!r}: only sum, gauge and histogram are stored"
                        continue
                    temporality = _get(data, "aggregationTemporality")
                    cumulative = kind == "gauge" or temporality not in _DELTA
                    if kind != "gauge" and temporality not in _CUMULATIVE | _DELTA:
                        rejected += len(points)
                        why = why or f"metric {name!r}: unspecified aggregationTemporality"
                        continue
                    for dp in points:
                        if int(dp.get("flags") or 0) & _NO_RECORDED_VALUE:
                            continue
                        attrs = {**res_attrs, **scope_attrs, **_attributes(dp.get("attributes"))}
                        series = Series(name, kind, attrs, cumulative, unit)
                        out.append((series, _point(kind, dp)))
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise OTLPDecodeError(f"malformed OTLP metrics: {type(exc).__name__}: {exc}") from None
    return out, rejected, why


def _values(metric: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    return [v for v in metric.values() if isinstance(v, Mapping)]


def _point(kind: Kind, dp: Mapping[str, Any]) -> Point:
    t, s = _seconds(_get(dp, "timeUnixNano")), _seconds(_get(dp, "startTimeUnixNano"))
    if kind != "histogram":
        return Point(t, s, _number(dp))
    bounds = tuple(float(b) for b in _get(dp, "explicitBounds") or ())
    buckets = tuple(float(int(c)) for c in _get(dp, "bucketCounts") or ())
    if buckets and len(buckets) != len(bounds) + 1:
        raise ValueError(f"{len(buckets)} bucketCounts for {len(bounds)} explicitBounds")
    if not buckets:  # a histogram point without buckets: one +Inf bucket
        bounds, buckets = (), (float(int(dp.get("count") or 0)),)
    return Point(
        t, s, float(int(dp.get("count") or 0)), float(dp.get("sum") or 0.0), bounds, buckets
    )


# -- the store ---------------------------------------------------------------------------------
class OTLPStore:
    """Thread-safe in-memory series, pruned to ``retention`` seconds, at most ``max_series``."""

    def __init__(self, retention: float = 3600.0, max_series: int = 50_000) -> None:
        self.retention = retention
        self.max_series = max_series
        self._series: dict[SeriesKey, Series] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OTLPStore({len(self._series)} series, retention={self.retention:g}s)"

    def ingest(self, body: Mapping[str, Any]) -> tuple[int, int, str]:
        """Store an export request: (accepted points, rejected points, why some were rejected)."""
        pairs, rejected, why = decode_request(body)
        accepted = 0
        cutoff = time.time() - self.retention
        with self._lock:
            for template, point in pairs:
                series = self._series.get(template.key)
                if series is None:
                    if len(self._series) >= self.max_series:
                        rejected += 1
                        why = why or f"store full ({self.max_series} series)"
                        continue
                    series = self._series[template.key] = template
                elif series.cumulative != template.cumulative:
                    rejected += 1
                    why = why or f"metric {template.name!r} changed aggregationTemporality"
                    continue
                series.add(point)
                _prune(series, cutoff)
                accepted += 1
        return accepted, rejected, why

    def add(self, series: Series) -> None:
        """Store a whole series (merging its points into an existing one)."""
        with self._lock:
            mine = self._series.setdefault(series.key, Series(**{**series.__dict__, "points": []}))
            for p in series.points:
                mine.add(p)

    def series(self, names: Sequence[str], start: float, end: float) -> list[Series]:
        """Copies of the series named ``names``: the last point at or before ``start`` and the
        points in ``(start, end]`` (what the window functions need)."""
        wanted = set(names)
        out = []
        with self._lock:
            for s in self._series.values():
                if s.name in wanted:
                    before, inside = s.window(start, end)
                    points = ([before] if before else []) + inside
                    out.append(
                        Series(s.name, s.kind, dict(s.attributes), s.cumulative, s.unit, points)
                    )
        return out

    def names(self) -> list[str]:
        """Metric names held."""
        with self._lock:
            return sorted({s.name for s in self._series.values()})

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._series.clear()


def _prune(series: Series, cutoff: float) -> None:
    """Drop points older than ``cutoff`` but keep the newest of them (a window's baseline)."""
    old = 0
    while old + 1 < len(series.points) and series.points[old + 1].time < cutoff:
        old += 1
    if old:
        del series.points[:old]


_DEFAULT = OTLPStore()


def default_store() -> OTLPStore:
    """The process-wide store that ``type: opentelemetry`` without an address reads."""
    return _DEFAULT


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
    "OTLPDecodeError",
    "OTLPStore",
    "Point",
    "Series",
    "decode_request",
    "default_store",
    "histogram_increase",
    "increase",
    "seconds_increase",
    "values_in",
]
