"""``ClusterRun.metrics(sli)``: the champion/challenger time series behind an SLI, from Prometheus.

Notebook-side exploration with **prometheus-api-client** (``PrometheusConnect.
custom_query_range``, ``MetricRangeDataFrame``), not the engine's tick. The queries are the
engine's own: the Prometheus provider (:mod:`modelcanary.providers._prometheus`) renders them
for the rollout's series scheme (router, model servers by pod, Istio, Linkerd...), and the
per-step SLI values are computed by the functions its ``mann-whitney`` series use
(:func:`~modelcanary.providers._vectors.rate_series`, ``latency_series``), so the numbers are the
ones the analysis would see for a window of one step.

- ``error-rate``, ``request-success-rate``, ``throughput``: from the request counter;
- ``latency-p50`` ... ``latency-p99``, ``request-duration``: from the latency histogram;
- a custom query of the rollout (``mc.sli.custom(name, query)``): the templated query itself
  (``{{ interval }}`` = the step), one column per series (``champion``/``challenger`` when it
  has a ``version`` label, else ``value``);
- ``raw=True``: the :class:`MetricRangeDataFrame` of the Prometheus series (timestamp index,
  one column per label, ``value``) instead of the SLI values.

prometheus-api-client comes with the ``notebook`` extra and is imported on first use.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..analysis._measurements import Window
from ..errors import ModelCanaryError, SpecError, SpecIssue
from ..providers import _promql as promql
from ..providers import _vectors as vectors
from ..providers._httpapi import render_query
from ..providers._prometheus import PrometheusProvider
from ..spec import MetricSpec, ModelRollout
from ..spec._base import parse_duration
from ..spec._catalogue import CATALOGUE

PROMQL_BACKENDS = ("prometheus", "victoriametrics", "thanos", "mimir")
"""Metric provider types answering PromQL range queries."""
SERIES_SOURCES = ("requests", "latency")
"""SLI sources with a per-step series (predictions and pairs have none)."""
MAX_POINTS = 11_000
"""Prometheus refuses range queries of more points (its own limit)."""


def _client() -> tuple[Any, Any]:
    """``PrometheusConnect`` and ``MetricRangeDataFrame``, or how to install them."""
    try:
        from prometheus_api_client import MetricRangeDataFrame, PrometheusConnect
    except ImportError:
        raise SpecError(
            SpecIssue(
                "metrics",
                "needs prometheus-api-client and pandas",
                "pip install 'modelcanary[notebook]'",
            )
        ) from None
    return PrometheusConnect, MetricRangeDataFrame


def _seconds(text: str | float, field: str) -> float:
    try:
        seconds = float(text) if isinstance(text, int | float) else parse_duration(text)
    except ValueError as exc:
        raise SpecError(SpecIssue(field, str(exc), "e.g. '30m', '2h' or '15s'")) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise SpecError(SpecIssue(field, f"{text!r} is not a positive duration", "e.g. '30m'"))
    return seconds


def address_of(rollout: ModelRollout, override: str | None) -> str:
    """The Prometheus to read: ``override``, else the rollout's PromQL metrics provider."""
    if override:
        return override.rstrip("/")
    spec = rollout.spec.metrics_provider
    if spec is None or spec.type not in PROMQL_BACKENDS or not spec.address:
        named = "no metricsProvider" if spec is None else f"metricsProvider type {spec.type!r}"
        raise SpecError(
            SpecIssue(
                "prometheus",
                f"rollout {rollout.name} has {named} with a PromQL address",
                "pass prometheus='http://127.0.0.1:9090' (e.g. after `kubectl -n monitoring "
                "port-forward svc/prometheus 9090`)",
            )
        )
    return str(spec.address).rstrip("/")


def _metric(rollout: ModelRollout, sli: Any) -> MetricSpec | str:
    """The rollout's custom metric named ``sli``, or the built-in SLI name."""
    name = str(getattr(sli, "name", sli))
    for metric in rollout.spec.analysis.metrics:
        if metric.name == name and metric.query:
            return metric
    facts = CATALOGUE.get(name)
    if facts is not None and facts.source in SERIES_SOURCES:
        return name
    builtin = [n for n, f in CATALOGUE.items() if f.source in SERIES_SOURCES]
    custom = [m.name for m in rollout.spec.analysis.metrics if m.query]
    why = (
        f"{name} compares predictions: it has no time series in Prometheus"
        if facts is not None
        else f"no SLI named {name!r}"
    )
    raise SpecError(
        SpecIssue("sli", why, f"use one of {', '.join(builtin + custom)}"),
        source=f"rollout {rollout.name}",
    )


def sli_frame(
    rollout: ModelRollout,
    sli: Any,
    *,
    window: str | float = "30m",
    step: str | float | None = None,
    prometheus: str | None = None,
    headers: Mapping[str, str] | None = None,
    end: float | None = None,
    raw: bool = False,
) -> Any:
    """The SLI's champion/challenger series over the last ``window`` as a DataFrame (index
    ``timestamp``, UTC; columns ``champion``, ``challenger``). ``step`` defaults to 1/60 of the
    window (at least 15 s). ``frame.attrs["queries"]`` holds the PromQL sent."""
    PrometheusConnect, MetricRangeDataFrame = _client()
    span = _seconds(window, "window")
    stride = _seconds(step, "step") if step is not None else max(15.0, span / 60)
    if span / stride > MAX_POINTS:
        raise SpecError(
            SpecIssue("step", f"{span / stride:.0f} points per series", "use a larger step")
        )
    stop = time.time() if end is None else end
    metric = _metric(rollout, sli)
    url = address_of(rollout, prometheus)
    connection = PrometheusConnect(url=url, headers=dict(headers or {}), disable_ssl=False)
    provider = PrometheusProvider(url)
    try:
        queries = _queries(provider, rollout, metric, stride, stop)
    finally:
        provider.close()
    results = {
        key: _range(connection, query, stop - span, stop, stride, url)
        for key, query in queries.items()
    }
    if raw or isinstance(metric, MetricSpec):
        frame = _labelled(MetricRangeDataFrame, results[next(iter(results))], raw)
    else:
        frame = _sli_values(provider, rollout, metric, results, stride)
    frame.attrs["queries"] = dict(queries)
    frame.attrs["sli"] = metric.name if isinstance(metric, MetricSpec) else metric
    return frame


def _queries(
    provider: PrometheusProvider,
    rollout: ModelRollout,
    metric: MetricSpec | str,
    stride: float,
    stop: float,
) -> dict[str, str]:
    """The PromQL behind the SLI, rendered by the engine's provider for one step."""
    if isinstance(metric, MetricSpec):
        window = Window(stop - stride, stop)
        return {metric.name: render_query(metric, rollout, window, provider.name)}
    scheme = provider.scheme_of(rollout)
    rng = promql.duration(stride)
    if CATALOGUE[metric].source == "latency":
        return {"latency": provider.grouped(scheme, rollout, scheme.latency, ("le",), rng)}
    by = (scheme.status_label,)
    return {
        "requests": provider.grouped(
            scheme, rollout, scheme.requests, by, rng, scheme.requests_match
        )
    }


def _range(
    connection: Any, query: str, start: float, stop: float, stride: float, url: str
) -> list[dict[str, Any]]:
    """One range query through prometheus-api-client; errors name the server and the fix."""
    from prometheus_api_client.exceptions import PrometheusApiClientException
    from requests.exceptions import RequestException

    try:
        result = connection.custom_query_range(
            query,
            start_time=datetime.fromtimestamp(start, UTC),
            end_time=datetime.fromtimestamp(stop, UTC),
            step=promql.duration(stride),
        )
    except RequestException as exc:
        raise ModelCanaryError(
            f"cannot reach Prometheus at {url}: {type(exc).__name__} (fix: check the address, "
            "or port-forward it and pass prometheus='http://127.0.0.1:9090')"
        ) from None
    except PrometheusApiClientException as exc:
        raise ModelCanaryError(f"Prometheus at {url} refused the query {query!r}: {exc}") from None
    return list(result or [])


def _labelled(frame_class: Any, result: list[dict[str, Any]], raw: bool) -> Any:
    """The series as a MetricRangeDataFrame; a custom query's ``version`` label pivoted."""
    import pandas as pd

    if not result:
        empty = pd.DataFrame({"value": pd.Series(dtype=float)})
        empty.index = pd.DatetimeIndex([], tz=UTC, name="timestamp")
        return empty
    with warnings.catch_warnings():  # its own use of a pandas API pandas 3 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        frame = frame_class(result)
    frame.index = frame.index.tz_localize(UTC)
    if raw or "version" not in frame.columns:
        return frame
    return frame.pivot_table(index=frame.index, columns="version", values="value").rename_axis(
        columns=None
    )


def _sli_values(
    provider: PrometheusProvider,
    rollout: ModelRollout,
    name: str,
    results: Mapping[str, list[dict[str, Any]]],
    stride: float,
) -> Any:
    """Per-step SLI values of both versions, computed as the engine's series are."""
    import pandas as pd

    scheme = provider.scheme_of(rollout)
    rows = vectors.matrix_rows(next(iter(results.values())))
    times = sorted({round(t, 3) for _, points in rows for t in points})
    columns: dict[str, list[float]] = {}
    for side in ("champion", "challenger"):
        if CATALOGUE[name].source == "latency":
            series = vectors.latency_series(rows, side, times, scheme.latency_ms)
        else:
            status = scheme.status_label
            series = vectors.rate_series(rows, side, times, stride, status, scheme.is_error)
        found = series.get(name)
        columns[side] = [float(v) for v in found.values] if found else [math.nan] * len(times)
    index = pd.DatetimeIndex(pd.to_datetime(times, unit="s", utc=True), name="timestamp")
    return pd.DataFrame(columns, index=index)


__all__ = ["address_of", "sli_frame"]
