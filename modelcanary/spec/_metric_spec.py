"""SLIs the analysis checks: built-in inference SLIs and custom queries.

What each built-in SLI is (unit, direction, judges) lives in :mod:`.catalogue`; units are read
by :mod:`.units`. ``thresholdRange`` bounds may be written with their unit, as in the SDK
(``max: "1%"``, ``max: "250ms"``, ``max: "+10%"`` relative to the champion): they are converted
once, at validation, into the canonical number the spec stores. Flagger's deprecated
``threshold`` is likewise turned into a range once, at validation (see
:meth:`MetricSpec.effective_range`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, GetJsonSchemaHandler, PrivateAttr, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from ._base import Duration, MaybeEmpty, SpecModel
from ._catalogue import BUILTIN_METRICS as BUILTIN_METRICS  # re-exported: older imports
from ._catalogue import threshold_bound, unit_of
from ._llm import ErrorClassName, EvaluatorName
from ._units import Unit, UnitError, bound
from ._wire import EnvName, HeaderValue, HttpUrl, Token

BOUND_PATTERN = (
    r"^ *[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)? *"
    r"(%|rps|(ms|s|m|h)([0-9]+([.][0-9]+)?(ms|s|m|h))*) *$"
)
"""Strings a ``thresholdRange`` bound may hold in the CRD: a number with a unit (``1%``,
``250ms``, ``1m30s``, ``100rps``); plain numbers are written without quotes."""


class _Unreadable:
    """A bound string the metric's unit cannot read: fails at the bound's own path."""

    def __init__(self, error: UnitError) -> None:
        self.error = error


def _bound_value(value: object) -> object:
    if isinstance(value, _Unreadable):
        raise ValueError(str(value.error))
    return value


def _with_unit(text: str, unit: Unit, relative: bool, comparison: object) -> float:
    """A bound string read in the metric's unit; a quoted plain number stays an error (as in
    every other numeric field of the spec: a quoted value is text)."""
    try:
        float(text)
    except ValueError:
        return bound(text, unit, relative, comparison if isinstance(comparison, str) else None)
    raise UnitError(
        f"{text!r} is a quoted number", "write it without quotes: a quoted value is text"
    )


class _NumberOrUnitString:
    """JSON schema of a bound: a number or a string matching :data:`BOUND_PATTERN`.

    A CRD's structural schema cannot say "number or string" (``x-kubernetes-int-or-string``
    refuses fractions such as 0.01), so the field keeps any scalar and the pattern refuses
    unreadable strings at the API server; validation then reads the unit.
    """

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"x-kubernetes-preserve-unknown-fields": True, "pattern": BOUND_PATTERN}

    def __repr__(self) -> str:
        return "NumberOrUnitString"


Bound = Annotated[float, BeforeValidator(_bound_value), _NumberOrUnitString()]
"""A number, or (in a metric) a string with the metric's unit such as ``"1%"`` or ``"250ms"``."""

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
    "keptn",
    "externalmetrics",
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
    """Backend: embedded, prometheus, datadog, cloudwatch, stackdriver, newrelic, graphite, influxdb, opentelemetry, kayenta, keptn and externalmetrics (Kubernetes APIs: operator only), or a Prometheus-API store: victoriametrics, thanos, mimir."""
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

    min: Bound | None = None
    """Lowest passing value (inclusive): a number or a string with the SLI's unit (`"99%"`, `"1%"`, `"250ms"`, relative: `"+10%"`)."""
    max: Bound | None = None
    """Highest passing value (inclusive): a number or a string with the SLI's unit (`"1%"`, `"250ms"`, `"1.5s"`, relative: `"+10%"`)."""

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
    """A built-in SLI (error-rate, request-success-rate, request-duration, latency-p50/p90/p95/p99, throughput, prediction-drift, prediction-agreement; LLM: ttft-p50/p95/p99, tpot-p50/p95/p99, output-tokens-per-second, cost-per-1k-requests, refusal-rate, json-valid-rate, output-length-drift, win-rate) or any name with a ``query``/``templateRef``."""
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
    """False-alarm rate of the sequential judge (default: the rollout's 0.01, shared by sequential metrics without their own alpha)."""
    method: DriftMethod | None = None
    """prediction-drift and output-length-drift only: psi, ks, js or wasserstein (default psi)."""
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
    error_class: ErrorClassName | None = None
    """error-rate of an OpenAI-compatible version only: count only this class of error (rate-limit, context-length, timeout, content-filter, server, client)."""
    prompt_buckets: list[Annotated[int, Field(ge=1)]] | None = Field(
        default=None, min_length=1, max_length=32
    )
    """ttft-* and tpot-* only: prompt-length bucket edges in tokens (default [128, 512, 2048]); the value is stratified by these buckets so a version that got longer prompts is not blamed."""
    evaluator: EvaluatorName | None = None
    """win-rate only: how answers are judged: reference (against each request's reference answer), pairwise (an LLM judge at evaluatorUrl) or a deterministic judge (exact, normalised, contains, json, regex, refusal, length)."""
    evaluator_url: HttpUrl | None = None
    """win-rate with evaluator pairwise: base URL of the OpenAI-compatible judge, e.g. ``http://127.0.0.1:8000/v1``."""
    evaluator_model: str | None = None
    """win-rate with evaluator pairwise: model name sent to the judge."""
    margin: float | None = Field(default=None, ge=0, lt=0.5)
    """win-rate only: non-inferiority margin: the challenger passes unless its win rate is below 0.5 - margin (default 0.05)."""
    judge_budget: int | None = Field(default=None, ge=1)
    """win-rate only: most answer pairs judged during the rollout (LLM-as-judge calls cost money)."""

    _range: ThresholdRange | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _read_units(cls, data: Any) -> Any:
        """Read string bounds in the metric's unit, as the SDK does (``max: "1%"`` -> 0.01)."""
        if not isinstance(data, Mapping):
            return data
        key = "thresholdRange" if "thresholdRange" in data else "threshold_range"
        rng = data.get(key)
        if not isinstance(rng, Mapping) or not any(isinstance(v, str) for v in rng.values()):
            return data
        name = data.get("name")
        unit = unit_of(name) if isinstance(name, str) else "raw"
        if data.get("query") is not None or data.get("templateRef", data.get("template_ref")):
            unit = "raw"
        relative = data.get("relativeTo", data.get("relative_to")) is not None
        comparison = data.get("comparison")
        read: dict[object, object] = {}
        for side, value in rng.items():
            if isinstance(value, str):
                try:
                    value = _with_unit(value, unit, relative, comparison)
                except UnitError as exc:
                    value = _Unreadable(exc)
            read[side] = value
        return {**data, key: read}

    @model_validator(mode="after")
    def _deprecated_threshold(self) -> MetricSpec:
        """Turn Flagger's deprecated ``threshold`` into a range once (it is kept as written)."""
        if self.threshold_range is None and self.threshold is not None:
            side = threshold_bound(self.name)
            self._range = ThresholdRange.model_validate({side: self.threshold})
        return self

    @property
    def is_builtin(self) -> bool:
        """True for a built-in SLI computed by modelcanary (no custom query)."""
        return self.name in BUILTIN_METRICS and self.query is None and self.template_ref is None

    def effective_range(self) -> ThresholdRange | None:
        """The threshold range: ``thresholdRange``, or the deprecated ``threshold`` as read at
        validation (a minimum for request-success-rate, a maximum otherwise, as Flagger does)."""
        return self.threshold_range if self.threshold_range is not None else self._range
