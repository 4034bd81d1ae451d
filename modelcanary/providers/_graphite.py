"""Graphite metric provider: the render API (``GET /render?format=json``).

A query is either one Graphite target (``sumSeries(app.{{ name }}.errors)``) or, as in
Flagger's MetricTemplates, a render query string (``target=...&from=-{{ interval }}``).
Unless the query sets ``from``/``until``, the window is sent as ``from=<start>&until=<end>``
(Unix seconds; Graphite returns the points in ``(from, until]``, aligned to the series'
step). The datapoints are reduced to one value by ``aggregate`` (a query-string parameter
modelcanary reads and does not send): ``last`` (default, as Flagger: the most recent
non-null point), ``avg``, ``sum``, ``min`` or ``max``; nulls are ignored, all-null is NoData.

Built-in SLIs are not supported: Graphite has no labels in its classic path names, so the
router's labelled counters and histogram buckets have no standard layout there; ``collect``
raises a :class:`PermanentProviderError` saying so (use custom queries).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from ..analysis._measurements import IntervalData, NoData, Scalar, Window
from ..analysis._measurements import scalar as to_scalar
from ..errors import PermanentProviderError
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from ._context import ProviderContext
from ._httpapi import HTTPProvider, http_options, render_query, spec_address, spec_secret

_HINTS = {
    400: "check the Graphite target (function names and arguments)",
    404: "check provider.address (a path prefix such as /graphite?)",
}
AGGREGATES: dict[str, Callable[[Sequence[float]], float]] = {
    "last": lambda values: values[-1],
    "avg": lambda values: math.fsum(values) / len(values),
    "sum": math.fsum,
    "min": min,
    "max": max,
}
"""``aggregate=`` -> how the window's non-null datapoints become one value."""
ONLINE_TARGET = "constantLine(1)"
"""A cheap render that needs no stored series (``is_online``)."""
NO_BUILTIN = (
    "built-in SLIs are not supported by the graphite provider: Graphite path names carry no "
    "labels (rollout, version, status, le) to read the router's metrics from; fix: give each "
    "metric a custom query (e.g. query: asPercent(app.{{ name }}.errors, app.{{ name }}.total))"
)


def graphite_duration(seconds: float) -> str:
    """A Graphite relative-time unit string: ``90s``, ``5min``, ``2h`` (whole seconds)."""
    whole = max(1, round(seconds))
    if whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole % 60 == 0:
        return f"{whole // 60}min"
    return f"{whole}s"


def render_params(query: str) -> list[tuple[str, str]]:
    """Render API parameters of a query: a query string (``target=...&...``) or one target.

    Whitespace runs become one space (as Flagger), so multi-line targets are fine.
    """
    text = " ".join(query.split())
    if text.startswith("target=") or "&target=" in text:
        compact = "&".join(part.strip() for part in text.split("&"))
        return [(k.strip(), v.strip()) for k, v in parse_qsl(compact, keep_blank_values=True)]
    return [("target", text)]


def datapoints_value(body: Any, metric: str, aggregate: str = "last") -> Scalar | NoData:
    """One value from a ``format=json`` answer: exactly one series, nulls ignored."""
    if not isinstance(body, list):
        raise PermanentProviderError(
            "Graphite answered without a list of series; fix: point provider.address at "
            "graphite-web (the render API root)"
        )
    if not body:
        return NoData(f"query for {metric} returned no series")
    if len(body) > 1:
        shown = ", ".join(str(s.get("target")) for s in body[:3] if isinstance(s, dict))
        raise PermanentProviderError(
            f"metric {metric!r}: the query returns {len(body)} series ({shown}...), not one "
            "(fix: combine them, e.g. sumSeries(...) or averageSeries(...))"
        )
    series = body[0]
    points = series.get("datapoints") if isinstance(series, dict) else None
    if not isinstance(points, list):
        raise PermanentProviderError(f"unexpected Graphite series {str(series)[:200]}")
    values: list[float] = []
    for point in points:
        try:
            raw = point[0]
        except (IndexError, TypeError, KeyError):
            raise PermanentProviderError(f"unexpected Graphite datapoint {point!r}") from None
        if raw is None:
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise PermanentProviderError(f"Graphite datapoint {raw!r} is not a number") from None
        if not math.isnan(value):
            values.append(value)
    if not values:
        return NoData(f"query for {metric} returned only null datapoints")
    return to_scalar(AGGREGATES[aggregate](values))


class GraphiteProvider(HTTPProvider):
    """Custom Graphite targets from graphite-web's render API (no built-in SLIs)."""

    name = "graphite"
    example = "http://graphite-web.monitoring:8080"
    hints = _HINTS

    def render(self, params: Sequence[tuple[str, str]]) -> Any:
        """The JSON answer of ``GET /render`` with ``params`` (``format=json`` added)."""
        sent = [(k, v) for k, v in params if k != "format"] + [("format", "json")]
        return self.api.json(
            "GET", "/render", params=sent, fix="point provider.address at graphite-web"
        )

    # -- MetricProvider --------------------------------------------------------------------
    def probe(self) -> str:
        """Online when rendering ``constantLine(1)`` answers a series of 1s."""
        body = self.render([("target", ONLINE_TARGET), ("from", "-1min")])
        online = datapoints_value(body, "online check") == Scalar(1.0)
        return "" if online else f"{ONLINE_TARGET} did not render 1"

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """The templated target's datapoints in the window, reduced to one value."""
        times = {"start": str(math.floor(window.start)), "end": str(math.floor(window.end))}
        text = render_query(
            metric, rollout, window, self.name, duration=graphite_duration, extra=times
        )
        params = render_params(text)
        aggregate = "last"
        for key, value in params:
            if key == "aggregate":
                aggregate = value
        if aggregate not in AGGREGATES:
            raise PermanentProviderError(
                f"metric {metric.name!r}: aggregate={aggregate!r} is not one of "
                f"{', '.join(AGGREGATES)} (fix: e.g. &aggregate=avg)"
            )
        params = [(k, v) for k, v in params if k != "aggregate"]
        keys = {k for k, _ in params}
        if "target" not in keys:
            raise PermanentProviderError(f"metric {metric.name!r}: the query has no target=")
        if "from" not in keys:  # the window; a query's own from= ends now unless until= says
            params.append(("from", times["start"]))
            if "until" not in keys:
                params.append(("until", times["end"]))
        return datapoints_value(self.render(params), metric.name, aggregate)

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """Not supported: raises :class:`PermanentProviderError` (see the module docstring)."""
        raise PermanentProviderError(f"metric provider {self.name}: {NO_BUILTIN}")


def factory(spec: MetricProviderSpec, ctx: ProviderContext) -> GraphiteProvider:
    """A :class:`GraphiteProvider` for ``spec`` (``address`` required)."""
    address = spec_address(
        spec,
        ctx,
        "a graphite provider needs an address",
        "e.g. address: http://graphite-web.monitoring:8080",
    )
    return GraphiteProvider(
        address, secret=spec_secret(spec, ctx), path=ctx.path, **http_options(spec, ctx)
    )


__all__ = ["AGGREGATES", "GraphiteProvider", "datapoints_value", "factory", "render_params"]
