"""Cross-field rules of the metric checks (``spec.analysis.metrics``).

A metric is a built-in SLI (:mod:`._catalogue`) or has a query or a template; it has a
threshold range written in its unit (fractions 0-1, request-success-rate in percent), and only
the options its SLI and its judge use (drift method, agreement tolerance, sequential alpha,
mann-whitney effect sizes and outlier factor).
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from ..errors import SpecIssue
from ._catalogue import BUILTIN_METRICS, DRIFT_METRICS, FRACTION_METRICS, SEQUENTIAL_METRICS
from ._metric_spec import MetricSpec

if TYPE_CHECKING:
    from ._rollout import ModelRollout


def check_metrics(rollout: ModelRollout) -> list[SpecIssue]:
    """Every metric of ``spec.analysis.metrics``, each checked on its own (:func:`_metric`)."""
    analysis = rollout.spec.analysis
    out: list[SpecIssue] = []  # no metrics at all is valid, with a warning (spec/_warnings.py)
    for i, metric in enumerate(analysis.metrics):
        out += _metric(metric, f"spec.analysis.metrics[{i}]")
    return out


def _metric(m: MetricSpec, path: str) -> list[SpecIssue]:
    """One metric: a known SLI or a query, a threshold in its unit, options its judge uses."""
    out: list[SpecIssue] = []
    custom = m.query is not None or m.template_ref is not None
    if not custom and m.name not in BUILTIN_METRICS:
        close = difflib.get_close_matches(m.name, list(BUILTIN_METRICS), n=1, cutoff=0.6)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else f"use a built-in SLI ({', '.join(BUILTIN_METRICS)}) or add a query"
        )
        out.append(
            SpecIssue(f"{path}.name", f"{m.name!r} is not a built-in SLI and has no query", hint)
        )
    if m.query is not None and m.template_ref is not None:
        out.append(
            SpecIssue(
                f"{path}.templateRef",
                "cannot be combined with query",
                "keep the inline query or the template, not both",
            )
        )
    if m.threshold is not None and m.threshold_range is not None:
        out.append(
            SpecIssue(
                f"{path}.threshold",
                "cannot be combined with thresholdRange",
                "remove the deprecated threshold",
            )
        )
    has_effect = m.allowed_increase is not None or m.allowed_decrease is not None
    # win-rate's sequential judge tests non-inferiority by its margin: no range needed
    by_margin = m.name == "win-rate" and not custom and m.judge in (None, "sequential")
    if m.effective_range() is None and not (
        (m.judge == "mann-whitney" and has_effect) or by_margin
    ):
        out.append(
            SpecIssue(
                f"{path}.thresholdRange",
                "is required",
                "add thresholdRange: {max: ...} or {min: ...}",
            )
        )
    rng = m.threshold_range
    if m.name in FRACTION_METRICS and m.relative_to is None and rng is not None and not custom:
        for bound, value in (("min", rng.min), ("max", rng.max)):
            if value is not None and not 0 <= value <= 1:
                out.append(
                    SpecIssue(
                        f"{path}.thresholdRange.{bound}",
                        f"{value:g} is outside 0-1: {m.name} is a fraction",
                        f"write {value / 100:g} for {value:g}%",
                    )
                )
    if m.name == "request-success-rate" and rng is not None and m.relative_to is None:
        for bound, value in (("min", rng.min), ("max", rng.max)):
            if value is not None and not 0 <= value <= 100:
                out.append(
                    SpecIssue(
                        f"{path}.thresholdRange.{bound}",
                        f"{value:g} is outside 0-100: request-success-rate is a percent",
                        "write 99 for 99%",
                    )
                )
    if m.method is not None and m.name not in DRIFT_METRICS:
        out.append(
            SpecIssue(
                f"{path}.method",
                "only applies to prediction-drift and output-length-drift",
                "remove method",
            )
        )
    if m.tolerance is not None and m.name != "prediction-agreement":
        out.append(
            SpecIssue(
                f"{path}.tolerance", "only applies to prediction-agreement", "remove tolerance"
            )
        )
    if m.comparison is not None and m.relative_to is None:
        out.append(
            SpecIssue(
                f"{path}.comparison", "needs relativeTo: champion", "add relativeTo: champion"
            )
        )
    if m.judge == "sequential" and (custom or m.name not in SEQUENTIAL_METRICS | {"win-rate"}):
        out.append(
            SpecIssue(
                f"{path}.judge",
                "the sequential judge needs per-request data",
                "use it with error-rate, request-success-rate, a request-latency SLI "
                "(latency-pNN, request-duration) or win-rate",
            )
        )
    if m.alpha is not None and m.judge not in (None, "sequential"):
        out.append(
            SpecIssue(
                f"{path}.alpha",
                f"is not used by the {m.judge} judge",
                "remove alpha or use judge: sequential",
            )
        )
    if m.outlier_factor is not None and m.judge != "mann-whitney":
        out.append(
            SpecIssue(
                f"{path}.outlierFactor",
                "only applies to the mann-whitney judge",
                "add judge: mann-whitney, or remove outlierFactor",
            )
        )
    if has_effect and m.judge not in (None, "mann-whitney"):
        out.append(
            SpecIssue(
                f"{path}.allowedIncrease",
                f"is not used by the {m.judge} judge",
                "use judge: mann-whitney",
            )
        )
    return out
