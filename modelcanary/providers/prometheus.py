"""Prometheus metric provider (and PromQL-compatible backends: VictoriaMetrics, Thanos, Mimir).

Built-in SLIs come from the router's metrics (``modelcanary_router_*``, see
docs/providers.md): one instant query per measurement, ``increase(x[<window>])`` evaluated
at the window's end, so counts, latency buckets and prediction counts are those of the
window and the analysis computes every SLI from them exactly as it does for the embedded
provider. Custom queries are Flagger-style templates run as instant queries.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence

from ..analysis.measurements import IntervalData, NoData, Samples, Scalar, VersionData, Window
from ..analysis.measurements import scalar as to_scalar
from ..errors import PermanentProviderError, ProviderError
from ..spec import MetricSpec, ModelRollout
from . import promql, vectors
from .httpapi import render_query
from .promapi import PrometheusAPI

log = logging.getLogger(__name__)

PREFIX = "modelcanary_router"
"""Metric name prefix of the local router (``modelcanary_model`` for model servers)."""
NO_PAIRS = (
    "Prometheus counts predictions per version but cannot pair them per request: "
    "prediction-agreement needs the embedded provider"
)


class PrometheusProvider:
    """Built-in SLIs and custom PromQL queries from a Prometheus-compatible HTTP API."""

    def __init__(
        self,
        address: str,
        *,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        timeout: float = 5.0,
        rollout_label: str = "rollout",
        secret: str | None = None,
        prefix: str = PREFIX,
        namespace_label: str | None = None,
        verify: bool = True,
        series_points: int = 10,
        min_series_step: float = 30.0,
        name: str = "prometheus",
    ) -> None:
        self.api = PrometheusAPI(
            address, headers=headers, secret=secret, timeout=timeout, verify=verify, name=name
        )
        self.name = name
        self.rollout_label = rollout_label
        self.prefix = prefix
        self.namespace_label = namespace_label
        self.series_points = series_points
        self.min_series_step = min_series_step
        self.last_error = ""
        """Why the last ``is_online`` check failed (empty when it passed)."""

    def __repr__(self) -> str:
        return f"PrometheusProvider({self.api.where!r}, name={self.name!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.api.close()

    def __enter__(self) -> PrometheusProvider:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- MetricProvider --------------------------------------------------------------------
    def is_online(self) -> bool:
        """True when ``vector(1)`` answers 1 (as Flagger's check); the reason is kept otherwise."""
        try:
            rows = self.api.vector("vector(1)", time.time())
        except ProviderError as exc:
            self.last_error = str(exc)
            log.warning("%s", exc)
            return False
        online = len(rows) == 1 and rows[0][1] == 1.0
        self.last_error = "" if online else "vector(1) did not return 1"
        return online

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """The templated custom query's single value at the window's end."""
        text = render_query(metric, rollout, window, self.name)
        kind, result = self.api.instant(text, window.end)
        if kind == "scalar":
            try:
                return to_scalar(float(result[1]))
            except (IndexError, TypeError, ValueError):
                raise PermanentProviderError(f"unexpected Prometheus scalar {result!r}") from None
        if kind != "vector":
            raise PermanentProviderError(
                f"metric {metric.name!r}: the query returns a {kind}, not one number "
                "(fix: wrap a range selector in a function such as rate() or avg_over_time())"
            )
        rows = vectors.vector_rows(result)
        if not rows:
            return NoData(f"query for {metric.name} returned no series")
        if len(rows) > 1:
            shown = ", ".join(promql.selector(labels) for labels, _ in rows[:3])
            raise PermanentProviderError(
                f"metric {metric.name!r}: the query returns {len(rows)} series ({shown}...), "
                "not one (fix: aggregate it, e.g. sum(...) or max(...))"
            )
        return to_scalar(rows[0][1])

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """Both versions' counts, latency histograms and prediction histograms in ``window``."""
        if window.seconds <= 0:
            empty = NoData("the analysis window is empty")
            return IntervalData(
                window, VersionData("challenger", empty, empty, empty), mirrored=None
            )
        match = {self.rollout_label: rollout.name}
        if self.namespace_label:
            match[self.namespace_label] = rollout.metadata.namespace or "default"
        rng, at, p = promql.duration(window.seconds), window.end, self.prefix
        requests = self.api.vector(
            promql.count_by(f"{p}_requests_total", match, ("version", "status", "mirrored"), rng),
            at,
        )
        latency = self.api.vector(
            promql.count_by(f"{p}_request_duration_seconds_bucket", match, ("version", "le"), rng),
            at,
        )
        labels = self.api.vector(
            promql.count_by(f"{p}_predictions_total", match, ("version", "label"), rng), at
        )
        buckets = self.api.vector(
            promql.count_by(f"{p}_prediction_bucket", match, ("version", "le"), rng), at
        )
        preds = vectors.predictions(labels, buckets)
        series = self._series(match, window)
        sides = {
            side: VersionData(
                side,
                vectors.counts(requests, side),
                vectors.latency_histogram(vectors.cumulative(latency, side), side),
                preds[side],
                {},
                series.get(side, {}),
            )
            for side in vectors.SIDES
        }
        return IntervalData(
            window,
            sides["challenger"],
            sides["champion"],
            NoData(NO_PAIRS),
            vectors.mirrored(requests),
        )

    def _series(self, match: Mapping[str, str], window: Window) -> dict[str, dict[str, Samples]]:
        """Per-step SLI series (Kayenta-style input for mann-whitney), when the window has
        at least 3 steps of ``max(window / series_points, min_series_step)``."""
        if self.series_points <= 0:
            return {}
        step = round(max(window.seconds / self.series_points, self.min_series_step), 3)
        points = math.floor(window.seconds / step + 1e-9) if step > 0 else 0
        if points < 3:
            return {}
        # whole milliseconds, as sent: the answer's timestamps are start + k * step exactly
        start = round(window.end - (points - 1) * step, 3)
        end = round(start + (points - 1) * step, 3)
        p, rng = self.prefix, promql.duration(step)
        req = self.api.matrix(
            promql.count_by(f"{p}_requests_total", match, ("version", "status"), rng),
            start,
            end,
            step,
        )
        lat = self.api.matrix(
            promql.count_by(f"{p}_request_duration_seconds_bucket", match, ("version", "le"), rng),
            start,
            end,
            step,
        )
        times = [round(start + i * step, 3) for i in range(points)]
        return {
            side: {
                **vectors.rate_series(req, side, times, step),
                **vectors.latency_series(lat, side, times),
            }
            for side in vectors.SIDES
        }
