"""SLIs the analysis checks: built-in inference SLIs and custom queries.

Units are fixed and documented: modelcanary's own rates (``error-rate``,
``prediction-agreement``) are fractions 0-1; Flagger's ``request-success-rate`` is a percent
0-100; ``request-duration`` and ``latency-pNN`` are milliseconds; ``throughput`` is requests
per second; ``prediction-drift`` is the unitless statistic of its ``method``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Duration, MaybeEmpty, SpecModel
from .wire import EnvName, HeaderValue, Token

BUILTIN_METRICS: dict[str, str] = {
    "error-rate": "fraction of requests that failed (HTTP 5xx or error), 0-1",
    "request-success-rate": "percent of requests that succeeded, 0-100 (Flagger)",
    "request-duration": "p99 latency in milliseconds (Flagger)",
    "latency-p50": "median latency in milliseconds",
    "latency-p90": "90th percentile latency in milliseconds",
    "latency-p95": "95th percentile latency in milliseconds",
    "latency-p99": "99th percentile latency in milliseconds",
    "throughput": "requests per second served by the challenger",
    "prediction-drift": "distance between champion and challenger prediction distributions",
    "prediction-agreement": "fraction of paired requests where both versions agree, 0-1",
}
"""Built-in SLI names and what they measure (with units)."""

LATENCY_METRICS = frozenset(
    {"request-duration", "latency-p50", "latency-p90", "latency-p95", "latency-p99"}
)
PAIRED_METRICS = frozenset({"prediction-drift", "prediction-agreement"})
"""SLIs that compare both versions' predictions and therefore need mirrored or split traffic."""

ProviderType = Literal[
    "embedded",
    "prometheus",
    "datadog",
    "cloudwatch",
    "stackdriver",
    "newrelic",
    "graphite",
    "influxdb",
    "opentelemetry",
    "kayenta",
    "victoriametrics",
    "thanos",
    "mimir",
]
PROVIDER_TYPES: tuple[str, ...] = ProviderType.__args__  # type: ignore[attr-defined]

Judge = Literal["threshold", "mann-whitney", "sequential"]
DriftMethod = Literal["psi", "ks", "js", "wasserstein"]
NoDataPolicy = Literal["fail", "skip", "inconclusive"]


class SecretRef(SpecModel):
    """Credentials by reference, never inline: a Kubernetes Secret or an environment variable."""

    name: str | None = Field(
        default=None, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
    )
    """Kubernetes Secret name (operator)."""
    env: EnvName | None = None
    """Environment variable holding the credential (local runtime)."""

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.name is None) == (self.env is None):
            raise ValueError("give exactly one of name (Kubernetes Secret) or env (variable)")
        return self


class MetricProviderSpec(SpecModel):
    """Where a custom query runs (Flagger's MetricTemplate ``provider``)."""

    type: ProviderType = "prometheus"
    """Backend: embedded, prometheus, datadog, cloudwatch, stackdriver, newrelic, graphite, influxdb, opentelemetry, kayenta, or a Prometheus-API store: victoriametrics, thanos, mimir."""
    address: str | None = None
    """Backend address, e.g. ``http://prometheus.monitoring:9090`` (http, https, or otlp+http(s) for opentelemetry)."""
    secret_ref: SecretRef | None = None
    """Credentials for the backend."""
    region: str | None = None
    """Cloud region (CloudWatch)."""
    insecure_skip_verify: bool | None = None
    """Skip TLS verification (not recommended)."""
    headers: dict[Token, list[HeaderValue]] | None = None
    """Extra HTTP headers sent with every query (e.g. a tenant id)."""


class ThresholdRange(SpecModel):
    """Accepted range of a metric's value (or of the challenger/champion comparison)."""

    min: float | None = None
    """Lowest passing value (inclusive)."""
    max: float | None = None
    """Highest passing value (inclusive)."""

    @model_validator(mode="after")
    def _bounds(self) -> ThresholdRange:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both, e.g. thresholdRange: {max: 0.01}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g}); swap them")
        return self


class TemplateRef(SpecModel):
    """A Flagger MetricTemplate holding the query and provider."""

    name: str = Field(min_length=1)
    """MetricTemplate name."""
    namespace: str | None = None
    """MetricTemplate namespace (default: the rollout's)."""


class MetricSpec(SpecModel):
    """One SLI and the rule it must satisfy during analysis."""

    multiline_fields = frozenset({"query"})

    name: str = Field(min_length=1)
    """A built-in SLI (error-rate, request-success-rate, request-duration, latency-p50/p90/p95/p99, throughput, prediction-drift, prediction-agreement) or any name with a ``query``/``templateRef``."""
    interval: Duration | None = None
    """Window the SLI is computed over (default: the analysis interval)."""
    threshold_range: ThresholdRange | None = None
    """Passing range of the value (or of the comparison when ``relativeTo`` is set)."""
    threshold: float | None = None
    """Deprecated Flagger form: a minimum for request-success-rate, a maximum otherwise."""
    query: str | None = None
    """Custom query; templated with {{ namespace }}, {{ target }}, {{ interval }}, {{ variables.X }}."""
    provider: MetricProviderSpec | None = None
    """Backend the custom query runs on (default: the runtime's, embedded locally)."""
    template_ref: TemplateRef | None = None
    """A Flagger MetricTemplate to take query and provider from."""
    template_variables: dict[str, MaybeEmpty] | None = None
    """Values for {{ variables.X }} in the query."""
    relative_to: Literal["champion"] | None = None
    """Compare the challenger with the champion instead of an absolute value."""
    comparison: Literal["ratio", "difference"] | None = None
    """With relativeTo: challenger/champion (ratio, default) or challenger-champion (difference)."""
    judge: Judge | None = None
    """How the check decides: threshold (Flagger), mann-whitney (Kayenta) or sequential (anytime-valid test; default for error-rate and latency with a champion baseline)."""
    alpha: float | None = Field(default=None, gt=0, lt=1)
    """False-alarm rate of the sequential judge (default: the rollout's 0.05, shared by sequential metrics without their own alpha)."""
    method: DriftMethod | None = None
    """prediction-drift only: psi, ks, js or wasserstein (default psi)."""
    tolerance: float | None = Field(default=None, ge=0)
    """prediction-agreement only: numeric predictions within this distance agree (labels: exact match)."""
    no_data: NoDataPolicy | None = None
    """Override of the analysis noData policy for this metric."""
    critical: bool = False
    """A failure of this metric fails the interval regardless of other metrics' scores."""
    weight: float = Field(default=1.0, ge=0)
    """Weight of this metric in a weighted score (mann-whitney judge)."""
    group: str | None = None
    """Metric group for Kayenta-style weighted group scoring."""
    allowed_increase: float | None = Field(default=None, gt=0)
    """mann-whitney: largest challenger/champion ratio still passing (e.g. 1.1 = +10 %)."""
    allowed_decrease: float | None = Field(default=None, gt=0)
    """mann-whitney: smallest challenger/champion ratio still passing (e.g. 0.9 = -10 %)."""
    outlier_factor: float | None = Field(default=None, gt=0)
    """mann-whitney: drop values beyond this many IQRs outside the quartiles before testing (Kayenta's outlier removal; e.g. 3)."""

    @property
    def is_builtin(self) -> bool:
        """True for a built-in SLI computed by modelcanary (no custom query)."""
        return self.name in BUILTIN_METRICS and self.query is None and self.template_ref is None

    def effective_range(self) -> ThresholdRange | None:
        """The threshold range, turning Flagger's deprecated ``threshold`` into a range."""
        if self.threshold_range is not None or self.threshold is None:
            return self.threshold_range
        if self.name == "request-success-rate":
            return ThresholdRange(min=self.threshold)
        return ThresholdRange(max=self.threshold)
