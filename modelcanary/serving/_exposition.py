"""Prometheus metrics of one model server, written by hand in text exposition format 0.0.4.

Names are a contract with the rest of modelcanary (local metric provider, dashboards, SLIs):

- ``modelcanary_model_requests_total{model,version,status}``: scoring requests, by HTTP status;
- ``modelcanary_model_request_duration_seconds{model,version}``: histogram of scoring latency;
- ``modelcanary_model_predictions_total{model,version,label}``: class-label predictions;
- ``modelcanary_model_prediction{model,version}``: histogram of numeric predictions;
- ``modelcanary_model_info{model,version,uri}``: always 1, names what is served.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Sequence
from typing import Any

LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Upper bounds (seconds) of the request-duration histogram; ``+Inf`` is implicit."""

PREDICTION_BUCKETS: tuple[float, ...] = (
    *(round(i / 10, 1) for i in range(11)), 2.0, 5.0, 10.0, 100.0,
)  # fmt: skip
"""Upper bounds of the numeric-prediction histogram (fine in [0, 1] for probabilities)."""

MAX_LABELS = 100
"""Distinct class labels kept per server; further labels are counted as ``__other__``."""
OTHER_LABEL = "__other__"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def format_number(value: float) -> str:
    """Prometheus/Go style: ``+Inf``, ``1`` (not ``1.0``), ``0.25``, shortest round-trip."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def escape_label(value: str) -> str:
    """Escape a label value (backslash, double quote, newline)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Histogram:
    """Cumulative-on-render histogram with fixed upper bounds (not thread-safe by itself)."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # last slot: above every bound (+Inf)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        """Count one value in the first bucket whose upper bound is >= value."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def observe_counts(self, per_bucket: Sequence[int], total: float, count: int) -> None:
        """Add pre-bucketed observations (vectorised path for large prediction batches)."""
        for index, n in enumerate(per_bucket):
            self.counts[index] += int(n)
        self.sum += total
        self.count += count

    def render(self, name: str, labels: str) -> list[str]:
        """``_bucket`` lines (cumulative, ``le`` last), then ``_sum`` and ``_count``."""
        lines = []
        running = 0
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += n
            lines.append(f'{name}_bucket{{{labels},le="{format_number(bound)}"}} {running}')
        lines.append(f"{name}_sum{{{labels}}} {format_number(self.sum)}")
        lines.append(f"{name}_count{{{labels}}} {self.count}")
        return lines


class ServerMetrics:
    """Thread-safe request and prediction figures of one served model."""

    def __init__(self, model: str, version: str, uri: str) -> None:
        self.model, self.version, self.uri = model, version, uri
        self._base = f'model="{escape_label(model)}",version="{escape_label(version)}"'
        self._lock = threading.Lock()
        self._requests: dict[int, int] = {200: 0}  # 200 always present: error ratios need it
        self._latency = Histogram(LATENCY_BUCKETS)
        self._labels: dict[str, int] = {}
        self._predictions = Histogram(PREDICTION_BUCKETS)

    def observe_request(self, status: int, seconds: float) -> None:
        """Count one scoring request and its duration."""
        with self._lock:
            self._requests[status] = self._requests.get(status, 0) + 1
            self._latency.observe(seconds)

    def observe_predictions(self, predictions: Any) -> None:
        """Count class labels or bucket numeric values of a 1-D prediction batch.

        Integers, booleans and strings are class labels; floats are numeric (NaN ignored).
        Multi-output predictions (several columns) are not observed.
        """
        values = _one_dimensional(predictions)
        if values is None or len(values) == 0:
            return
        import numpy as np

        if values.dtype.kind == "f":
            values = values[~np.isnan(values)]
            per_bucket = np.bincount(
                np.searchsorted(np.asarray(PREDICTION_BUCKETS), values, side="left"),
                minlength=len(PREDICTION_BUCKETS) + 1,
            )
            with self._lock:
                self._predictions.observe_counts(
                    per_bucket.tolist(), float(values.sum()), int(values.size)
                )
            return
        if values.dtype.kind not in "iubUSO":
            return
        labels, counts = np.unique(values.astype(str), return_counts=True)
        with self._lock:
            for label, n in zip(labels.tolist(), counts.tolist(), strict=True):
                if label not in self._labels and len(self._labels) >= MAX_LABELS:
                    label = OTHER_LABEL
                self._labels[label] = self._labels.get(label, 0) + n

    def render(self) -> str:
        """The exposition text of every metric."""
        base = self._base
        lines = [
            "# HELP modelcanary_model_info The model served (always 1).",
            "# TYPE modelcanary_model_info gauge",
            f'modelcanary_model_info{{{base},uri="{escape_label(self.uri)}"}} 1',
            "# HELP modelcanary_model_requests_total Scoring requests by HTTP status code.",
            "# TYPE modelcanary_model_requests_total counter",
        ]
        with self._lock:
            for status, n in sorted(self._requests.items()):
                lines.append(f'modelcanary_model_requests_total{{{base},status="{status}"}} {n}')
            lines += [
                "# HELP modelcanary_model_request_duration_seconds Scoring request duration.",
                "# TYPE modelcanary_model_request_duration_seconds histogram",
                *self._latency.render("modelcanary_model_request_duration_seconds", base),
                "# HELP modelcanary_model_predictions_total Class-label predictions by label.",
                "# TYPE modelcanary_model_predictions_total counter",
            ]
            for label, n in sorted(self._labels.items()):
                lines.append(
                    f'modelcanary_model_predictions_total{{{base},label="{escape_label(label)}"}}'
                    f" {n}"
                )
            lines += [
                "# HELP modelcanary_model_prediction Numeric prediction values.",
                "# TYPE modelcanary_model_prediction histogram",
                *self._predictions.render("modelcanary_model_prediction", base),
            ]
        return "\n".join(lines) + "\n"


def _one_dimensional(predictions: Any) -> Any:
    """A 1-D numpy array of the predictions, or None when they are not one value per row."""
    import numpy as np

    if hasattr(predictions, "to_numpy"):  # pandas Series or DataFrame
        if getattr(predictions, "ndim", 1) == 2:
            if predictions.shape[1] != 1:
                return None
            predictions = predictions.iloc[:, 0]
        predictions = predictions.to_numpy()
    elif isinstance(predictions, list | tuple):
        if not all(isinstance(v, int | float | str | bool) for v in predictions):
            return None
        predictions = np.asarray(predictions)
    elif not isinstance(predictions, np.ndarray):
        return None
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        predictions = predictions[:, 0]
    if predictions.ndim != 1:
        return None
    if predictions.dtype.kind == "O":  # objects: numeric if every value is a float
        if all(isinstance(v, float) for v in predictions):
            return predictions.astype(float)
        if not all(isinstance(v, int | str | bool) for v in predictions):
            return None
    return predictions
