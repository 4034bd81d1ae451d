"""Prometheus query results -> measurements (Counts, histograms, time series).

Pure functions over the JSON the HTTP API returns, so they are tested without a server.
Conventions (documented in docs/providers.md):

- a request is an error when its ``status`` label is >= 500 or not a number (as the
  recorder, which records transport failures as 502);
- counts are the counters' exact change over the window (``promql.delta_by``; whole
  requests already, rounded against float noise);
- histogram buckets are made monotone (as Prometheus' ``histogram_quantile`` does), latency
  bounds go to milliseconds (from seconds unless the series scheme says otherwise);
- a version with no series or a zero total is ``NoData``, never an exception.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..analysis._measurements import (
    Counts,
    IntervalData,
    LatencyHistogram,
    NoData,
    PredictionData,
    PredictionHistogram,
    Samples,
    Side,
    VersionData,
    Window,
)
from ..analysis._sli import LATENCY_QUANTILES, histogram_quantile
from ..errors import PermanentProviderError

Row = tuple[Mapping[str, str], float]
"""One series of an instant vector: its labels and value."""
MatrixRow = tuple[Mapping[str, str], dict[float, float]]
"""One series of a range query: its labels and {time: value}."""
SIDES: tuple[Side, Side] = ("champion", "challenger")
IsError = Callable[[str | None], bool]
"""Whether a request with this outcome label value is an error."""


def vector_rows(result: Any) -> list[Row]:
    """The series of an instant-vector result (``resultType: vector``)."""
    try:
        return [(item["metric"], float(item["value"][1])) for item in result]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise PermanentProviderError(f"unexpected Prometheus vector: {exc!r}") from None


def matrix_rows(result: Any) -> list[MatrixRow]:
    """The series of a range-query result (``resultType: matrix``): labels, {time: value}."""
    try:
        return [
            (item["metric"], {float(t): float(v) for t, v in item["values"]}) for item in result
        ]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise PermanentProviderError(f"unexpected Prometheus matrix: {exc!r}") from None


def is_error_status(status: str | None) -> bool:
    """HTTP 5xx, or a non-numeric status (a transport failure), counts as an error."""
    try:
        return int(status or "") >= 500
    except ValueError:
        return True


def _finite(value: float) -> float:
    return value if math.isfinite(value) and value > 0 else 0.0


def counts(
    rows: Iterable[Row], side: Side, status: str = "status", is_error: IsError = is_error_status
) -> Counts | NoData:
    """Requests and errors of one version (rows grouped by version and the ``status`` label,
    whose values ``is_error`` classifies)."""
    total = errors = 0.0
    for labels, value in rows:
        if labels.get("version") == side:
            total += _finite(value)
            errors += _finite(value) if is_error(labels.get(status)) else 0.0
    n = round(total)
    if n == 0:
        return NoData(f"no {side} requests in the window", side)
    return Counts(n, min(round(errors), n), side)


def mirrored(rows: Iterable[Row]) -> bool:
    """True when the window saw mirrored (shadow) requests."""
    return any(labels.get("mirrored") == "true" and value > 0 for labels, value in rows)


def _le(labels: Mapping[str, str]) -> float | None:
    try:
        return float(labels.get("le", ""))
    except ValueError:
        return None


def le_rows(
    labels: Mapping[str, str], bounds: Sequence[float], counts: Sequence[float]
) -> list[Row]:
    """A histogram's per-bucket ``counts`` (one more than its upper ``bounds``: the ``+Inf``
    bucket last) as Prometheus-style cumulative rows, ``labels`` plus ``le``."""
    rows: list[Row] = []
    running = 0.0
    for bound, count in zip((*bounds, math.inf), counts, strict=True):
        running += count
        rows.append(({**labels, "le": "+Inf" if math.isinf(bound) else repr(bound)}, running))
    return rows


def cumulative(rows: Iterable[Row], side: Side) -> dict[float, float]:
    """``le`` bound -> cumulative count of one version (rows grouped by version and le)."""
    out: dict[float, float] = {}
    for labels, value in rows:
        bound = _le(labels)
        if labels.get("version") == side and bound is not None:
            out[bound] = out.get(bound, 0.0) + _finite(value)
    return out


def _monotone(buckets: Mapping[float, float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    bounds = tuple(sorted(buckets))
    cum = np.maximum.accumulate(np.array([buckets[b] for b in bounds], dtype=np.float64))
    return bounds, tuple(float(c) for c in cum)


def latency_histogram(
    buckets: Mapping[float, float], side: Side, to_ms: float = 1000.0, *, exact: bool = False
) -> LatencyHistogram | NoData:
    """Latency buckets (``to_ms`` milliseconds per unit: 1000 for seconds) -> a histogram in
    milliseconds (NoData when empty). ``exact``: the buckets are raw counter changes
    (``promql.delta_by``), rounded to whole requests and marked as counts for the
    sequential latency tests."""
    if not buckets:
        return NoData(f"no {side} latency buckets in the window", side)
    bounds, cum = _monotone(buckets)
    if cum[-1] <= 0:
        return NoData(f"no {side} latencies in the window", side)
    if exact:
        cum = tuple(float(round(c)) for c in cum)
    return LatencyHistogram(tuple(b * to_ms for b in bounds), cum, side, exact=exact)


def label_counts(rows: Iterable[Row], side: Side) -> dict[str, float]:
    """Prediction label -> count of one version (labels with a zero count dropped)."""
    out: dict[str, float] = defaultdict(float)
    for labels, value in rows:
        if labels.get("version") == side and "label" in labels and _finite(value) > 0:
            out[labels["label"]] += value
    return dict(out)


def predictions(
    label_rows: Sequence[Row], bucket_rows: Sequence[Row]
) -> dict[Side, PredictionData]:
    """Both versions' prediction histograms, built so that drift can compare them.

    Labels or numeric buckets, whichever counted more predictions over both versions; numeric
    bins use the bucket bounds both versions share, and outer bins empty in both versions are
    dropped so the edges are finite when the data allows (Wasserstein needs finite edges).
    """
    labels = {s: label_counts(label_rows, s) for s in SIDES}
    buckets = {s: cumulative(bucket_rows, s) for s in SIDES}
    label_total = sum(sum(v.values()) for v in labels.values())
    bucket_total = sum(max(b.values(), default=0.0) for b in buckets.values())
    out: dict[Side, PredictionData] = {}
    if label_total <= 0 and bucket_total <= 0:
        return {s: NoData(f"no {s} predictions in the window", s) for s in SIDES}
    if label_total >= bucket_total:
        for s in SIDES:
            names = tuple(sorted(labels[s]))
            out[s] = (
                PredictionHistogram(tuple(labels[s][n] for n in names), labels=names, side=s)
                if names
                else NoData(f"no {s} predictions in the window", s)
            )
        return out
    shared = sorted(set(buckets["champion"]) & set(buckets["challenger"]))
    if not shared:  # one version only: its own bounds
        shared = sorted(set(buckets["champion"]) | set(buckets["challenger"]))
    bins: dict[Side, np.ndarray[Any, np.dtype[np.float64]]] = {}
    for s in SIDES:
        _, cum = _monotone({b: buckets[s].get(b, 0.0) for b in shared})
        bins[s] = np.diff(np.concatenate([[0.0], cum]))
    edges = [-math.inf, *shared]  # bins (-inf, b0], (b0, b1], ..., (b[n-2], +Inf]
    lo, hi = 0, len(shared)
    both = bins["champion"] + bins["challenger"]
    while lo < hi - 1 and both[lo] == 0 and math.isinf(edges[lo]):
        lo += 1
    while hi > lo + 1 and both[hi - 1] == 0 and math.isinf(edges[hi]):
        hi -= 1
    for s in SIDES:
        counts_s = tuple(float(c) for c in bins[s][lo:hi])
        out[s] = (
            PredictionHistogram(counts_s, edges=tuple(edges[lo : hi + 1]), side=s)
            if sum(counts_s) > 0
            else NoData(f"no {s} predictions in the window", s)
        )
    return out


def versions(
    requests: Sequence[Row], latency: Sequence[Row], preds: Mapping[Side, PredictionData]
) -> dict[Side, VersionData]:
    """Both versions' counts, latency histogram and predictions from router-layout rows
    (``version``, ``status`` and ``le`` labels; latency bounds in seconds)."""
    return {
        side: VersionData(
            side,
            counts(requests, side),
            latency_histogram(cumulative(latency, side), side),
            preds[side],
        )
        for side in SIDES
    }


def empty_window(window: Window) -> IntervalData:
    """What ``collect`` answers for a window of no length (NoData for every measurement)."""
    empty = NoData("the analysis window is empty")
    return IntervalData(window, VersionData("challenger", empty, empty, empty), mirrored=None)


def _index(times: Sequence[float]) -> dict[float, int]:
    return {round(t, 3): i for i, t in enumerate(times)}


def rate_series(
    rows: Sequence[MatrixRow],
    side: Side,
    times: Sequence[float],
    step: float,
    status: str = "status",
    is_error: IsError = is_error_status,
) -> dict[str, Samples]:
    """error-rate, request-success-rate and throughput at each of ``times`` (NaN: no data)."""
    total = np.full(len(times), np.nan)
    bad = np.zeros(len(times))
    index = _index(times)
    for labels, points in rows:
        if labels.get("version") != side:
            continue
        for t, v in points.items():
            i = index.get(round(t, 3))
            if i is not None:
                total[i] = np.nan_to_num(total[i]) + _finite(v)
                bad[i] += _finite(v) if is_error(labels.get(status)) else 0.0
    if np.all(np.isnan(total)):
        return {}
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(total > 0, bad / total, np.nan)
    return {
        "error-rate": Samples(rate, side),
        "request-success-rate": Samples(100.0 * (1.0 - rate), side),
        "throughput": Samples(total / step, side),
    }


def latency_series(
    rows: Sequence[MatrixRow], side: Side, times: Sequence[float], to_ms: float = 1000.0
) -> dict[str, Samples]:
    """latency-pNN / request-duration (ms) at each of ``times`` from bucket series."""
    index = _index(times)
    per_time: list[dict[float, float]] = [{} for _ in times]
    for labels, points in rows:
        bound = _le(labels)
        if labels.get("version") != side or bound is None:
            continue
        for t, v in points.items():
            i = index.get(round(t, 3))
            if i is not None:
                per_time[i][bound] = per_time[i].get(bound, 0.0) + _finite(v)
    out: dict[str, list[float]] = {name: [] for name in LATENCY_QUANTILES}
    for buckets in per_time:
        hist = latency_histogram(buckets, side, to_ms)
        for name, q in LATENCY_QUANTILES.items():
            value = math.nan if isinstance(hist, NoData) else histogram_quantile(q, hist)
            out[name].append(math.nan if isinstance(value, NoData) else value)
    if all(math.isnan(v) for v in out["latency-p50"]):
        return {}
    return {name: Samples(np.array(values), side) for name, values in out.items()}
