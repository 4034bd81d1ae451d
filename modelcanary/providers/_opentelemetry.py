"""OpenTelemetry metric provider: OTLP metrics pushed by model servers, or an OTel backend.

``provider.address`` chooses where the metrics are read (docs/providers.md, OpenTelemetry):

- no address: the process-wide :func:`~.otlp_store.default_store`, fed by an
  :class:`~.otlp_receiver.OTLPReceiver` running in the same process;
- ``otlp+http://host:4318`` (or ``otlp+https://``): a modelcanary OTLP receiver running
  elsewhere (``modelcanary otlp serve``), read through its ``/v1/modelcanary/series`` API;
- ``http(s)://...``: an OTel-compatible backend speaking the Prometheus HTTP API (the
  Collector's Prometheus exporter scraped by Prometheus, Mimir, VictoriaMetrics...): the
  :class:`~.prometheus.PrometheusProvider` under the name ``opentelemetry``.

Built-in SLIs come from series named like the router's metrics (``modelcanary_router_*``,
OTLP sums and histograms with attributes ``rollout``, ``version``, ``status``, ``mirrored``,
``label``), or for LLM rollouts from the GenAI semantic conventions' series
(:mod:`.otlp_genai`); custom queries use the small language of :mod:`.otlp_query`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from ..analysis._measurements import IntervalData, NoData, Scalar, Window
from ..analysis._measurements import scalar as to_scalar
from ..errors import PermanentProviderError, SpecError, SpecIssue
from ..ports import MetricProvider
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from ..spec._base import parse_duration
from . import _otlp_query as otlp_query
from . import _vectors as vectors
from ._context import ProviderContext
from ._credentials import authorization
from ._httpapi import Endpoint, Headers, http_options, render_query, safe_address, spec_secret
from ._online import OnlineCheck
from ._otlp_genai import NAMES as GENAI_NAMES
from ._otlp_genai import genai_collect, reads_genai
from ._otlp_receiver import SERIES_PATH
from ._otlp_series import Series, increase, seconds_increase
from ._otlp_store import default_store
from ._prometheus import api_factory

PREFIX = "modelcanary_router"
NO_PAIRS = (
    "OTLP metrics count predictions per version but cannot pair them per request: "
    "prediction-agreement needs the embedded provider"
)
REMOTE_SCHEMES = {"otlp+http": "http", "otlp+https": "https"}
"""Address schemes of a remote modelcanary OTLP receiver -> the HTTP scheme used."""
RECEIVER_FIX = "point provider.address at `modelcanary otlp serve` (otlp+http://host:port)"


class SeriesSource(Protocol):
    """Where stored OTLP series are read: an in-process store or a remote receiver."""

    def series(self, names: Sequence[str], start: float, end: float) -> list[Series]:
        """The series named ``names`` with the points the window ``(start, end]`` needs."""
        ...


class RemoteSeries:
    """The series of a modelcanary OTLP receiver in another process (its read API), through
    the shared :class:`~.httpapi.Endpoint` (so its errors are classified as every HTTP
    provider's)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        headers: Headers | None = None,
        secret: str | None = None,
        verify: bool = True,
    ) -> None:
        self.api = Endpoint(
            url,
            name="OTLP receiver",
            headers=headers,
            set_headers={"Authorization": authorization(secret)} if secret else None,
            timeout=timeout,
            verify=verify,
            hints={400: RECEIVER_FIX, 404: RECEIVER_FIX},
        )

    def __repr__(self) -> str:
        return f"RemoteSeries({self.api.where!r})"

    def healthy(self) -> bool:
        """True when the receiver answers ``/healthz`` with ``ok``."""
        return self.api.request("GET", "/healthz").text == "ok"

    def series(self, names: Sequence[str], start: float, end: float) -> list[Series]:
        """The receiver's series named ``names`` for the window ``(start, end]``."""
        params = [("name", n) for n in names] + [("start", repr(start)), ("end", repr(end))]
        body = self.api.json("GET", SERIES_PATH, params=params, fix=RECEIVER_FIX)
        try:
            return [Series.from_json(item) for item in body["series"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentProviderError(
                f"{self.api.where} did not answer with modelcanary OTLP series ({exc!r}); "
                "fix: point provider.address at `modelcanary otlp serve`"
            ) from None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.api.close()


class OpenTelemetryProvider(OnlineCheck):
    """Built-in SLIs and custom queries over OTLP series (an in-process store by default)."""

    name = "opentelemetry"

    def __init__(
        self,
        source: SeriesSource | None = None,
        *,
        prefix: str = PREFIX,
        rollout_label: str = "rollout",
        namespace_label: str | None = None,
        scheme: str = "auto",
    ) -> None:
        self.source: SeriesSource = source if source is not None else default_store()
        self.prefix = prefix
        self.rollout_label = rollout_label
        self.namespace_label = namespace_label
        self.scheme = scheme
        """``otel-genai``: the GenAI semantic conventions' series for every rollout
        (:mod:`.otlp_genai`); ``auto``: for LLM routers and annotated rollouts only."""

    def __repr__(self) -> str:
        return f"OpenTelemetryProvider({self.source!r})"

    def probe(self) -> str:
        """Always online with an in-process store; a remote receiver must answer ``/healthz``."""
        if not isinstance(self.source, RemoteSeries) or self.source.healthy():
            return ""
        return "/healthz did not answer ok"

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """The templated query's value over the metric's interval (else the window) ending at
        the window's end (see :mod:`.otlp_query` for the language)."""
        text = render_query(metric, rollout, window, self.name)
        seconds = parse_duration(metric.interval) if metric.interval else window.seconds
        parsed = otlp_query.parse(text)
        start = window.end - seconds
        result = parsed.value(
            self.source.series(parsed.names, start, window.end), start, window.end
        )
        if isinstance(result, NoData):
            return NoData(f"query for {metric.name}: {result.reason}")
        if math.isinf(result):
            return NoData(f"query for {metric.name} divided by zero")
        return to_scalar(result)

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """Both versions' counts, latency and prediction histograms from the router's series."""
        if window.seconds <= 0:
            return vectors.empty_window(window)
        if reads_genai(rollout, self.scheme):
            found = self.source.series(GENAI_NAMES, window.start, window.end)
            return genai_collect(found, rollout, window)
        p, start, end = self.prefix, window.start, window.end
        names = [
            f"{p}_requests_total",
            f"{p}_request_duration_seconds",
            f"{p}_predictions_total",
            f"{p}_prediction",
        ]
        match = {self.rollout_label: rollout.name}
        if self.namespace_label:
            match[self.namespace_label] = rollout.metadata.namespace or "default"
        found = [
            s
            for s in self.source.series(names, start, end)
            if all(s.attributes.get(k) == v for k, v in match.items())
        ]

        def rows(name: str) -> list[vectors.Row]:
            out = []
            for s in found:
                if s.name == name and s.kind == "sum":
                    value = increase(s, start, end)
                    if value is not None:
                        out.append((s.attributes, value))
            return out

        requests = rows(names[0])
        preds = vectors.predictions(rows(names[2]), _bucket_rows(found, names[3], start, end))
        latency = _bucket_rows(found, names[1], start, end)
        sides = vectors.versions(requests, latency, preds)
        mirrored = vectors.mirrored(requests) if requests else None
        return IntervalData(
            window, sides["challenger"], sides["champion"], NoData(NO_PAIRS), mirrored
        )


def _bucket_rows(found: Sequence[Series], name: str, start: float, end: float) -> list[vectors.Row]:
    """Histogram series -> Prometheus-style cumulative ``le`` rows (bounds in seconds)."""
    out: list[vectors.Row] = []
    for s in found:
        if s.name != name or s.kind != "histogram":
            continue
        delta = seconds_increase(s, start, end)
        if delta is not None:
            out += vectors.le_rows(s.attributes, delta[0], delta[1])
    return out


def factory(spec: MetricProviderSpec, ctx: ProviderContext) -> MetricProvider:
    """The provider for ``type: opentelemetry`` (see the module docstring for the address)."""
    opts = {
        k: ctx.options[k]
        for k in ("prefix", "rollout_label", "namespace_label", "scheme")
        if k in ctx.options
    }
    if not spec.address:
        return OpenTelemetryProvider(default_store(), **opts)
    parts = urlsplit(spec.address)
    if parts.scheme in REMOTE_SCHEMES:
        url = urlunsplit((REMOTE_SCHEMES[parts.scheme], parts.netloc, parts.path, "", ""))
        remote = RemoteSeries(url, secret=spec_secret(spec, ctx), **http_options(spec, ctx))
        return OpenTelemetryProvider(remote, **opts)
    if parts.scheme in ("http", "https"):
        return api_factory("opentelemetry")(spec, ctx)
    raise SpecError(
        SpecIssue(
            f"{ctx.path}.address",
            f"opentelemetry address {safe_address(spec.address)!r} has scheme {parts.scheme!r}",
            "omit it (this process's OTLP receiver), use otlp+http://HOST:4318 "
            "(modelcanary otlp serve) or http(s):// (a backend with the Prometheus API)",
        )
    )


__all__ = ["OpenTelemetryProvider", "RemoteSeries", "SeriesSource", "factory"]
