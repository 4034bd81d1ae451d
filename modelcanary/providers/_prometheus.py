"""Prometheus metric provider (and PromQL-compatible backends: VictoriaMetrics, Thanos, Mimir).

Built-in SLIs come from the series of the rollout's *series scheme* (:mod:`.schemes`): the
local router's ``modelcanary_router_*``, the model servers' ``modelcanary_model_*`` by pod, or
a mesh's own metrics (Istio, Linkerd, NGINX...), chosen per rollout (see docs/providers.md).
One instant query per measurement evaluated at the window's end: request, error, prediction
and latency-bucket counts are the counters' exact change since the window's start
(``promql.delta_by``: whole requests, adjacent windows tile, no extrapolated
``increase()``), so the sequential error-rate and latency tests and the drift noise can
count them as requests (:mod:`modelcanary.analysis._histogram`). The per-step series of
mann-whitney stay ``increase()`` over one step (``promql.count_by``): they are rates per
step, one sample each, not counts of requests. The analysis computes every SLI from them
exactly as it does for the embedded provider. Custom queries
are Flagger-style templates run as instant queries. With the ``vllm`` scheme the LLM SLIs
(ttft-*, tpot-*, output-tokens-per-second, cost-per-1k-requests) come from vLLM's histograms
and token counters as provider values (:mod:`._vllm`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import TypeVar

from ..analysis._measurements import (
    Counts,
    IntervalData,
    Latencies,
    NoData,
    PredictionData,
    Samples,
    Scalar,
    Side,
    VersionData,
    Window,
)
from ..analysis._measurements import scalar as to_scalar
from ..errors import PermanentProviderError, SpecError, SpecIssue
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from . import _promql as promql
from . import _vectors as vectors
from ._context import ProviderContext, ProviderFactory, backend_options
from ._httpapi import HTTPProvider, http_options, render_query, spec_address, spec_secret
from ._promapi import HINTS, PrometheusAPI
from ._schemes import SCHEME_NAMES, VLLM, Matchers, Scheme, router_scheme, scheme_for, scheme_named
from ._vllm import llm_values

PREFIX = "modelcanary_router"
"""Metric name prefix of the local router's series (the ``router`` scheme)."""
_Gap = TypeVar("_Gap", Counts | NoData, Latencies)
NO_PAIRS = (
    "Prometheus counts predictions per version but cannot pair them per request: "
    "prediction-agreement needs the embedded provider"
)


class PrometheusProvider(HTTPProvider):
    """Built-in SLIs and custom PromQL queries from a Prometheus-compatible HTTP API."""

    name = "prometheus"
    example = "http://prometheus.monitoring:9090"
    hints = HINTS
    endpoint_class = PrometheusAPI
    api: PrometheusAPI

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
        scheme: str = "auto",
    ) -> None:
        super().__init__(
            address, headers=headers, secret=secret, timeout=timeout, verify=verify, name=name
        )
        self.rollout_label = rollout_label
        self.prefix = prefix
        self.namespace_label = namespace_label
        self.series_points = series_points
        self.min_series_step = min_series_step
        self.router = router_scheme(prefix)
        """The ``router`` scheme (``prefix``, ``rollout_label``, ``namespace_label``)."""
        if scheme != "auto" and scheme_named(scheme) is None:
            raise SpecError(
                SpecIssue(
                    "provider.scheme",
                    f"no series scheme named {scheme!r}",
                    f"use auto or one of: {', '.join(SCHEME_NAMES)}",
                )
            )
        self.scheme = scheme
        """``auto`` (per rollout, :func:`.schemes.scheme_for`) or one scheme for every rollout."""

    def __repr__(self) -> str:
        return f"PrometheusProvider({self.api.where!r}, name={self.name!r})"

    def __enter__(self) -> PrometheusProvider:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- MetricProvider --------------------------------------------------------------------
    def probe(self) -> str:
        """Online when ``vector(1)`` answers 1 (as Flagger's check)."""
        rows = self.api.vector("vector(1)", time.time())
        return "" if len(rows) == 1 and rows[0][1] == 1.0 else "vector(1) did not return 1"

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

    def scheme_of(self, rollout: ModelRollout) -> Scheme:
        """The series scheme answering ``rollout``'s built-in SLIs."""
        if self.scheme == "auto":
            return scheme_for(rollout, self.router)
        found = scheme_named(self.scheme, self.router)
        assert found is not None  # checked in __init__
        return found

    def grouped(
        self,
        scheme: Scheme,
        rollout: ModelRollout,
        metric: str,
        by: tuple[str, ...],
        rng: str,
        extra: Matchers = (),
        *,
        exact: bool = False,
    ) -> str:
        """``count_by`` (``delta_by`` when ``exact``: counts the analysis reads as requests)
        of ``metric`` per version and ``by``: one ``version``-labelled count per side
        (matchers plus ``extra``) for schemes that tell the versions apart by their
        matchers."""
        count = promql.delta_by if exact else promql.count_by
        if scheme.sides is None:
            match = {self.rollout_label: rollout.name}
            if self.namespace_label:
                match[self.namespace_label] = rollout.metadata.namespace or "default"
            return count(metric, match, ("version", *by), rng)
        parts = []
        for side, matchers in scheme.matchers(rollout).items():
            sel = promql.matchers((m.label, m.op, m.value) for m in (*matchers, *extra))
            parts.append(promql.with_label(count(metric, sel, by, rng), "version", side))
        return " or ".join(parts)

    def _explain(self, value: _Gap, scheme: Scheme, rollout: ModelRollout, metric: str) -> _Gap:
        """A NoData of a pod/mesh scheme, saying which series were read."""
        if not isinstance(value, NoData) or scheme.sides is None or value.side is None:
            return value
        matchers = scheme.matchers(rollout)[value.side]
        sel = promql.matchers((m.label, m.op, m.value) for m in matchers)
        return NoData(f"{value.reason} (series scheme {scheme.name}: {metric}{sel})", value.side)

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """Both versions' counts, latency histograms and prediction histograms in ``window``,
        from the rollout's series scheme."""
        if window.seconds <= 0:
            return vectors.empty_window(window)
        scheme = self.scheme_of(rollout)
        rng, at = promql.duration(window.seconds), window.end
        status = scheme.status_label
        by = (status, "mirrored") if scheme.sides is None else (status,)
        requests = self.api.vector(
            self.grouped(
                scheme, rollout, scheme.requests, by, rng, scheme.requests_match, exact=True
            ),
            at,
        )
        latency = self.api.vector(
            self.grouped(scheme, rollout, scheme.latency, ("le",), rng, exact=True), at
        )
        preds = self._predictions(scheme, rollout, rng, at)
        series = self._series(scheme, rollout, window)

        def grouped(metric: str, by: tuple[str, ...], exact: bool) -> str:
            return self.grouped(scheme, rollout, metric, by, rng, exact=exact)

        llm = llm_values(self.api, grouped, rollout, at) if scheme == VLLM else {}
        sides = {
            side: VersionData(
                side,
                self._explain(
                    vectors.counts(requests, side, status, scheme.is_error),
                    scheme,
                    rollout,
                    scheme.requests,
                ),
                self._explain(
                    vectors.latency_histogram(
                        vectors.cumulative(latency, side), side, scheme.latency_ms, exact=True
                    ),
                    scheme,
                    rollout,
                    scheme.latency,
                ),
                preds[side],
                llm.get(side, {}),
                series.get(side, {}),
            )
            for side in vectors.SIDES
        }
        return IntervalData(
            window,
            sides["challenger"],
            sides["champion"],
            NoData(NO_PAIRS),
            vectors.mirrored(requests) if scheme.sides is None else None,
        )

    def _predictions(
        self, scheme: Scheme, rollout: ModelRollout, rng: str, at: float
    ) -> dict[Side, PredictionData]:
        """Both versions' prediction histograms (NoData when the scheme has none)."""
        if scheme.predictions is None or scheme.prediction_buckets is None:
            reason = (
                f"the {scheme.name} series scheme reads mesh metrics, which have no "
                "predictions: prediction-drift needs the model servers' series (scheme "
                "modelcanary-model) or a custom query"
            )
            return {side: NoData(reason, side) for side in vectors.SIDES}
        labels = self.api.vector(
            self.grouped(scheme, rollout, scheme.predictions, ("label",), rng, exact=True), at
        )
        buckets = self.api.vector(
            self.grouped(scheme, rollout, scheme.prediction_buckets, ("le",), rng, exact=True),
            at,
        )
        return vectors.predictions(labels, buckets)

    def _series(
        self, scheme: Scheme, rollout: ModelRollout, window: Window
    ) -> dict[str, dict[str, Samples]]:
        """Per-step SLI series (Kayenta-style input for mann-whitney), when the window has
        at least 3 steps of ``max(window / series_points, min_series_step)``.

        ``increase()`` over one step (``count_by``), not exact changes: each step gives one
        rate (error ratio, requests per second, quantile), a sample of the rank test, never
        a count of requests; the notebook charts the same queries."""
        if self.series_points <= 0:
            return {}
        step = round(max(window.seconds / self.series_points, self.min_series_step), 3)
        points = math.floor(window.seconds / step + 1e-9) if step > 0 else 0
        if points < 3:
            return {}
        # whole milliseconds, as sent: the answer's timestamps are start + k * step exactly
        start = round(window.end - (points - 1) * step, 3)
        end = round(start + (points - 1) * step, 3)
        rng, status = promql.duration(step), scheme.status_label
        req = self.api.matrix(
            self.grouped(scheme, rollout, scheme.requests, (status,), rng, scheme.requests_match),
            start,
            end,
            step,
        )
        lat = self.api.matrix(
            self.grouped(scheme, rollout, scheme.latency, ("le",), rng), start, end, step
        )
        times = [round(start + i * step, 3) for i in range(points)]
        return {
            side: {
                **vectors.rate_series(req, side, times, step, status, scheme.is_error),
                **vectors.latency_series(lat, side, times, scheme.latency_ms),
            }
            for side in vectors.SIDES
        }


def api_factory(name: str) -> ProviderFactory:
    """The factory of ``provider.type`` ``name``, a backend speaking the Prometheus HTTP API
    (``address`` required; the context's options go to :class:`PrometheusProvider`)."""

    def make(spec: MetricProviderSpec, ctx: ProviderContext) -> PrometheusProvider:
        address = spec_address(
            spec,
            ctx,
            f"a {name} provider needs an address",
            "e.g. address: http://prometheus.monitoring:9090",
        )
        options = backend_options(ctx)
        return PrometheusProvider(
            address, secret=spec_secret(spec, ctx), name=name, **http_options(spec, ctx), **options
        )

    return make
