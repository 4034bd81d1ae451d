"""Checks: an SLI value against its rule, with a verdict and a one-line human reason.

A check compares the challenger's value with ``thresholdRange`` (absolute), or the
challenger/champion comparison (``relativeTo: champion``; ratio or difference) with it.
Missing data follows the ``noData`` policy: fail (default: never promote blind), skip or
inconclusive. Every judge returns a :class:`CheckResult`, convertible to the stored
:class:`~modelcanary.spec._status.CheckRecord`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..spec._catalogue import CATALOGUE
from ..spec._metric_spec import MetricSpec, NoDataPolicy, ThresholdRange
from ..spec._rules_keys import metric_identity
from ..spec._status import CheckRecord
from ..spec._units import REASON_SUFFIX
from ._measurements import IntervalData, NoData
from ._sli import sli_value

Verdict = Literal["pass", "fail", "inconclusive", "error", "skipped"]

_NO_DATA_VERDICTS: dict[str, Verdict] = {
    "fail": "fail",
    "skip": "skipped",
    "inconclusive": "inconclusive",
}
UNITS: dict[str, str] = {
    name: REASON_SUFFIX[row.unit] for name, row in CATALOGUE.items() if row.unit in REASON_SUFFIX
}
"""Suffix of each built-in SLI's values in reason lines (from the catalogue's units)."""


@dataclass(frozen=True)
class CheckResult:
    """One metric's result in one interval, whatever the judge."""

    metric: str
    """Metric name."""
    key: str
    """Unique key of the metric in the analysis (:func:`metric_key`: ``name``,
    ``name@champion``, ``name[errorClass]``)."""
    verdict: Verdict
    """pass, fail, inconclusive, error or skipped."""
    reason: str
    """One line: which value, which rule or test, why."""
    value: float | None = None
    """Challenger value, or the comparison (ratio/difference) for relative checks."""
    champion_value: float | None = None
    """Champion value when the check compares the two versions."""
    min: float | None = None
    """Lower bound applied."""
    max: float | None = None
    """Upper bound applied."""
    judge: str = "threshold"
    """Judge that decided: threshold, sequential or mann-whitney."""
    decisive: bool = False
    """True when the judge's evidence is final (sequential rejection): roll back now."""
    p_value: float | None = None
    """(Always-valid) p-value of the statistical judges."""
    details: Mapping[str, float] = field(default_factory=dict)
    """Extra numbers for explanations (sample sizes, effect sizes, scores)."""
    waiting: bool = False
    """Inconclusive for want of evidence (too little traffic, a noisy interval the
    sequential test does not confirm, an incident the champion shares): the step holds,
    bounded by the hold deadline, instead of counting toward ``inconclusiveLimit``."""

    def to_record(self) -> CheckRecord:
        """The status record the engine stores."""
        return CheckRecord(
            metric=self.key,
            value=_finite(self.value),
            champion_value=_finite(self.champion_value),
            min=self.min,
            max=self.max,
            judge=self.judge,
            verdict=self.verdict,
            reason=self.reason,
            p_value=_finite(self.p_value),
        )

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output (non-finite numbers become None)."""
        return {
            "metric": self.key,
            "value": _finite(self.value),
            "champion_value": _finite(self.champion_value),
            "threshold": {"min": self.min, "max": self.max},
            "judge": self.judge,
            "verdict": self.verdict,
            "reason": self.reason,
            **({"p_value": _finite(self.p_value)} if self.p_value is not None else {}),
        }


def metric_key(metric: MetricSpec) -> str:
    """The metric's identity in the analysis: ``error-rate`` or ``error-rate@champion`` (a
    metric may be checked both ways), ``error-rate[rate-limit]`` for the error rate of one
    ``errorClass`` (checked next to the rate of all errors, with its own bound)."""
    return metric_identity(metric)  # the spec's duplicate rule: one check per key


def reason_name(metric: MetricSpec) -> str:
    """How a value's reason line names its check: ``error-rate``, ``error-rate[rate-limit]``.

    The check's identity (:func:`metric_key`) without ``@champion``, which a comparison's
    reason says in its own words (``ratio ... vs champion``): two checks of one metric (all
    errors and one ``errorClass``) never read alike in a reason column."""
    key = metric_key(metric)
    return key.removesuffix(f"@{metric.relative_to}") if metric.relative_to else key


def fmt(value: float | None, metric: str = "") -> str:
    """A number for a reason line, with the metric's unit."""
    if value is None:
        return "none"
    if math.isinf(value):
        return "inf"
    return f"{value:.4g}{UNITS.get(metric, '')}"


def in_range(value: float, rng: ThresholdRange) -> bool:
    """True when ``value`` is within the inclusive range (NaN never is)."""
    if math.isnan(value):
        return False
    return (rng.min is None or value >= rng.min) and (rng.max is None or value <= rng.max)


def describe_range(rng: ThresholdRange, unit_of: str = "") -> str:
    """``max 0.01`` / ``min 99 %`` / ``0.9..1.1``."""
    if rng.min is not None and rng.max is not None:
        return f"{fmt(rng.min, unit_of)}..{fmt(rng.max, unit_of)}"
    if rng.max is not None:
        return f"max {fmt(rng.max, unit_of)}"
    return f"min {fmt(rng.min, unit_of)}"


def no_data_result(
    metric: MetricSpec, policy: NoDataPolicy, why: str, judge: str = "threshold"
) -> CheckResult:
    """Turn missing data into the verdict the ``noData`` policy asks for."""
    verdict = _NO_DATA_VERDICTS[policy]
    rng = metric.effective_range()
    return CheckResult(
        metric=metric.name,
        key=metric_key(metric),
        verdict=verdict,
        reason=f"{metric_key(metric)}: no data ({why}); noData={policy}",
        min=rng.min if rng else None,
        max=rng.max if rng else None,
        judge=judge,
    )


def compare(challenger: float, champion: float, how: str) -> float:
    """challenger/champion (ratio) or challenger-champion (difference).

    A ratio over a zero champion is 1 when both are zero, +inf otherwise (any regression
    from a perfect champion is unbounded in ratio terms).
    """
    if how == "difference":
        return challenger - champion
    if champion == 0:
        return 1.0 if challenger == 0 else math.inf
    return challenger / champion


def threshold_check(
    metric: MetricSpec, data: IntervalData, no_data: NoDataPolicy, judge: str = "threshold"
) -> CheckResult:
    """Flagger semantics: the interval's value (or comparison) must lie within the range."""
    policy = metric.no_data or no_data
    rng = metric.effective_range()
    if rng is None:
        return CheckResult(
            metric.name,
            metric_key(metric),
            "error",
            f"{metric_key(metric)}: no thresholdRange to check against",
            judge=judge,
        )
    if metric.name == "prediction-agreement" and data.mirrored is False:
        return CheckResult(
            metric.name,
            metric_key(metric),
            "skipped",
            f"{metric_key(metric)}: needs mirrored traffic; none in this step",
            min=rng.min,
            max=rng.max,
            judge=judge,
        )
    try:
        value = sli_value(metric, data, data.challenger)
        champion = (
            sli_value(metric, data, data.champion)
            if metric.relative_to == "champion"
            else NoData("not compared")
        )
    except ValueError as exc:
        return CheckResult(
            metric.name, metric_key(metric), "error", f"{metric_key(metric)}: {exc}", judge=judge
        )
    if isinstance(value, NoData):
        return no_data_result(metric, policy, f"challenger: {value.reason}", judge)
    if metric.relative_to != "champion":
        ok = in_range(value, rng)
        reason = (
            f"{reason_name(metric)} {fmt(value, metric.name)} "
            f"{'within' if ok else 'outside'} {describe_range(rng, metric.name)}"
        )
        return CheckResult(
            metric.name,
            metric_key(metric),
            "pass" if ok else "fail",
            reason,
            value=value,
            min=rng.min,
            max=rng.max,
            judge=judge,
        )
    if isinstance(champion, NoData):
        return no_data_result(metric, policy, f"champion: {champion.reason}", judge)
    how = metric.comparison or "ratio"
    rel = compare(value, champion, how)
    ok = in_range(rel, rng)
    unit = metric.name if how == "difference" else ""
    reason = (
        f"{reason_name(metric)} {how} {fmt(rel, unit)} (challenger {fmt(value, metric.name)} "
        f"vs champion {fmt(champion, metric.name)}) {'within' if ok else 'outside'} "
        f"{describe_range(rng, unit)}"
    )
    return CheckResult(
        metric.name,
        metric_key(metric),
        "pass" if ok else "fail",
        reason,
        value=rel,
        champion_value=champion,
        min=rng.min,
        max=rng.max,
        judge=judge,
    )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
