"""SLI expressions: ``mc.sli.error_rate() < "1%"`` builds the MetricSpec of one check.

Comparisons set the threshold range: ``<`` and ``<=`` set ``max``, ``>`` and ``>=`` set
``min``. Ranges are inclusive, as in Flagger, so ``<`` means ``<=``. Every modifier returns
a new :class:`SLI`; nothing is ever changed in place. Values are read in the SLI's fixed
unit (see :mod:`modelcanary.spec._units`; units per SLI: :mod:`modelcanary.spec._catalogue`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict

from modelcanary.spec import MetricProviderSpec, MetricSpec
from modelcanary.spec._catalogue import CATALOGUE

from ._html import describe_check
from ._units import METRIC_UNITS, UNITS, Number, Unit, to_difference, to_number, to_ratio
from ._util import drop_none, fail, set_fields, validated

LATENCY_PERCENTILES: tuple[int, ...] = tuple(
    int(name.removeprefix("latency-p")) for name in CATALOGUE if name.startswith("latency-p")
)
"""Percentiles :func:`latency` offers (the catalogue's ``latency-pNN`` SLIs)."""


class SLI(BaseModel):
    """One SLI and, once compared, the rule it must satisfy. Immutable."""

    model_config = ConfigDict(frozen=True, defer_build=True)  # validators made on first use

    metric: MetricSpec
    """The metric as it will appear in ``spec.analysis.metrics``."""
    unit: Unit = "raw"
    """Unit thresholds are read in (fixed per built-in SLI)."""

    def __repr__(self) -> str:
        return f"SLI({describe_check(self.metric)})"

    __str__ = __repr__

    @property
    def name(self) -> str:
        """The SLI name, e.g. ``latency-p99``."""
        return self.metric.name

    def _with(self, **updates: Any) -> SLI:
        """A copy whose metric has ``updates`` (camelCase keys; ``None`` removes a field)."""
        data = set_fields(self.metric) | updates
        data = {k: v for k, v in data.items() if v is not None}
        return self.model_copy(update={"metric": validated(MetricSpec, data, (self.name,))})

    def _bound(self, side: str, value: object) -> SLI:
        path = f"{self.name}.thresholdRange.{side}"
        if self.metric.relative_to is None:
            number = to_number(value, self.unit, path)
        elif self.metric.comparison == "difference":
            number = to_difference(value, self.unit, path)
        else:
            number = to_ratio(value, path)
        old = self.metric.threshold_range
        rng = set_fields(old) if old is not None else {}
        return self._with(thresholdRange=rng | {side: number})

    def __lt__(self, value: object) -> SLI:
        return self._bound("max", value)

    def __le__(self, value: object) -> SLI:
        return self._bound("max", value)

    def __gt__(self, value: object) -> SLI:
        return self._bound("min", value)

    def __ge__(self, value: object) -> SLI:
        return self._bound("min", value)

    def __bool__(self) -> NoReturn:
        fail(
            self.name,
            "an SLI check has no truth value (chained comparison?)",
            "write sli.X().between(low, high) instead of low <= sli.X() <= high",
        )

    def between(self, low: Number, high: Number) -> SLI:
        """Pass when ``low <= value <= high`` (both inclusive)."""
        return self._bound("min", low)._bound("max", high)

    def relative_to_champion(self, comparison: str = "ratio") -> SLI:
        """Compare the challenger with the champion: ratio (challenger/champion) or difference."""
        if self.metric.threshold_range is not None:
            fail(
                f"{self.name}.relativeTo",
                "must be set before the comparison",
                "write sli.X().relative_to_champion() <= 1.1, not (sli.X() <= ...).relative_...",
            )
        return self._with(relativeTo="champion", comparison=comparison)

    def judge(
        self,
        kind: str = "threshold",
        *,
        alpha: float | None = None,
        allowed_increase: Number | None = None,
        allowed_decrease: Number | None = None,
    ) -> SLI:
        """Choose how the check decides: threshold, mann-whitney (Kayenta) or sequential."""
        base = f"{self.name}.allowed"
        inc = None if allowed_increase is None else to_ratio(allowed_increase, base + "Increase")
        dec = None if allowed_decrease is None else to_ratio(allowed_decrease, base + "Decrease")
        return self._with(judge=kind, alpha=alpha, allowedIncrease=inc, allowedDecrease=dec)

    def over(self, interval: str) -> SLI:
        """Compute the SLI over this window (e.g. ``"5m"``) instead of the analysis interval."""
        return self._with(interval=interval)

    def critical(self, flag: bool = True) -> SLI:
        """A failure of this check fails the interval whatever the other checks say."""
        return self._with(critical=flag)

    def weight(self, value: float) -> SLI:
        """Weight of this check in a weighted (mann-whitney) score."""
        return self._with(weight=value)

    def group(self, name: str) -> SLI:
        """Metric group for Kayenta-style group scoring."""
        return self._with(group=name)

    def on_no_data(self, policy: str) -> SLI:
        """What missing data counts as for this check: fail, skip or inconclusive."""
        return self._with(noData=policy)


def _builtin(name: str, **fields: Any) -> SLI:
    metric = validated(MetricSpec, {"name": name, **drop_none(**fields)}, (name,))
    return SLI(metric=metric, unit=METRIC_UNITS[name])


def error_rate() -> SLI:
    """Fraction of failed requests, 0-1 (``"1%"`` = 0.01)."""
    return _builtin("error-rate")


def success_rate() -> SLI:
    """Flagger's request-success-rate: percent of successful requests, 0-100."""
    return _builtin("request-success-rate")


def request_duration() -> SLI:
    """Flagger's request-duration: p99 latency in milliseconds."""
    return _builtin("request-duration")


def latency(p: int = 99) -> SLI:
    """Latency percentile ``p`` (50, 90, 95 or 99) in milliseconds."""
    if isinstance(p, bool) or p not in LATENCY_PERCENTILES:
        fail(
            "latency.p",
            f"percentile {p!r} is not supported",
            f"use one of {', '.join(map(str, LATENCY_PERCENTILES))}",
        )
    return _builtin(f"latency-p{int(p)}")


def throughput() -> SLI:
    """Requests per second served by the challenger."""
    return _builtin("throughput")


def drift(method: str = "psi") -> SLI:
    """Distance between champion and challenger predictions: psi, ks, js or wasserstein."""
    return _builtin("prediction-drift", method=method)


def agreement(tolerance: float | None = None) -> SLI:
    """Fraction of paired requests where both versions agree, 0-1 (numbers: within tolerance)."""
    return _builtin("prediction-agreement", tolerance=tolerance)


def _provider(provider: str | Mapping[str, Any] | MetricProviderSpec | None, path: str) -> Any:
    if provider is None or isinstance(provider, MetricProviderSpec):
        return provider
    data = {"type": provider} if isinstance(provider, str) else dict(provider)
    return validated(MetricProviderSpec, data, (path,))


def custom(
    name: str,
    query: str | None = None,
    *,
    provider: str | Mapping[str, Any] | MetricProviderSpec | None = None,
    variables: Mapping[str, str] | None = None,
    template: str | None = None,
    unit: str = "raw",
) -> SLI:
    """A custom query (or a Flagger MetricTemplate by name) checked like a built-in SLI."""
    if (query is None) == (template is None):
        fail(
            f"{name}.query",
            "give exactly one of query or template",
            "e.g. custom('conversion', query='sum(rate(...))')",
        )
    if unit not in UNITS:
        fail(f"{name}.unit", f"{unit!r} is not a unit", f"use one of {', '.join(UNITS)}")
    data = drop_none(
        name=name,
        query=query,
        provider=_provider(provider, f"{name}.provider"),
        templateVariables=None if variables is None else dict(variables),
        templateRef=None if template is None else {"name": template},
    )
    return SLI(metric=validated(MetricSpec, data, (name,)), unit=unit)


def kpi(
    name: str,
    query: str | None = None,
    *,
    provider: str | Mapping[str, Any] | MetricProviderSpec | None = None,
    variables: Mapping[str, str] | None = None,
    template: str | None = None,
    unit: str = "raw",
) -> SLI:
    """A business KPI (conversion, revenue per request...): the same as :func:`custom`."""
    return custom(name, query, provider=provider, variables=variables, template=template, unit=unit)


from . import _llm as llm  # noqa: E402 - mc.sli.llm.*; _llm builds on SLI above

__all__ = [
    "LATENCY_PERCENTILES",
    "SLI",
    "agreement",
    "custom",
    "drift",
    "error_rate",
    "kpi",
    "latency",
    "llm",
    "request_duration",
    "success_rate",
    "throughput",
]
