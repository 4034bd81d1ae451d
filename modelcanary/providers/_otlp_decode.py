"""Decoding OTLP metrics: an ``ExportMetricsServiceRequest`` in its JSON encoding into points.

:func:`decode_request` turns the request (the protobuf encoding is converted to the same dict
by the receiver) into :class:`~._otlp_series.Series` and :class:`~._otlp_series.Point` pairs.
Field names are accepted in lowerCamelCase (OTLP/JSON) or snake_case (the proto names).
Exponential histograms and summaries are not stored (counted as rejected points), nor are
sums of unspecified temporality; points flagged "no recorded value" are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ._otlp_series import Kind, Point, Series

_CUMULATIVE = {2, "2", "AGGREGATION_TEMPORALITY_CUMULATIVE"}
_DELTA = {1, "1", "AGGREGATION_TEMPORALITY_DELTA"}
_NO_RECORDED_VALUE = 1  # DataPointFlags.FLAG_NO_RECORDED_VALUE


class OTLPDecodeError(ValueError):
    """The request body is not an OTLP metrics export request."""


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


__all__ = ["OTLPDecodeError", "decode_request"]
