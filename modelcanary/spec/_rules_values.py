"""Value rules that need more than one field, or a field of a class checked elsewhere.

- A bound on a built-in SLI must be a value the SLI can take: latencies, throughput, drift
  and the challenger/champion *ratio* are never negative, so ``max: -1`` would fail every
  interval (and ``min: -1`` checks nothing) - a typo, reported instead of run.
- A drift (prediction-drift, output-length-drift) is not compared with the champion: it
  already compares the two versions, and both have the same value (the ratio is always 1).
- Metric backend addresses get that check too (http, https, or otlp+http(s)). It runs here,
  on the whole rollout, rather than on ``MetricProviderSpec`` itself, so that a provider built
  directly in Python still reaches its factory, which explains a bad address in its own terms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import SpecIssue
from ._catalogue import DRIFT_METRICS
from ._metric_spec import BUILTIN_METRICS, MetricSpec
from ._wire import check_provider_url

if TYPE_CHECKING:
    from ._rollout import ModelRollout


def check_values(rollout: ModelRollout) -> list[SpecIssue]:
    """Every problem of the rules above, with its field path and fix."""
    analysis = rollout.spec.analysis
    out: list[SpecIssue] = []
    providers = [("spec.metricsProvider", rollout.spec.metrics_provider)]
    for i, metric in enumerate(analysis.metrics):
        out += _signs(metric, f"spec.analysis.metrics[{i}]")
        providers.append((f"spec.analysis.metrics[{i}].provider", metric.provider))
    for path, provider in providers:
        if provider is not None and provider.address is not None:
            out += _problem(f"{path}.address", check_provider_url, provider.address)
    return out


def _signs(m: MetricSpec, path: str) -> list[SpecIssue]:
    custom = m.query is not None or m.template_ref is not None
    if m.relative_to is not None and m.name in DRIFT_METRICS and not custom:
        return [
            SpecIssue(
                f"{path}.relativeTo",
                f"{m.name} already compares the challenger with the champion (both versions "
                "have the same value, so the comparison is always 1)",
                "remove relativeTo and bound the drift itself, e.g. thresholdRange: {max: 0.2}",
            )
        ]
    if custom or m.name not in BUILTIN_METRICS or m.comparison == "difference":
        return []  # a custom query, or challenger - champion, can be negative
    rng = m.effective_range()
    if rng is None:
        return []
    field = "thresholdRange" if m.threshold_range is not None else "threshold"
    what = "the challenger/champion ratio" if m.relative_to else m.name
    out: list[SpecIssue] = []
    for bound, value in (("min", rng.min), ("max", rng.max)):
        if value is not None and value < 0:
            where = f"{path}.{field}.{bound}" if field == "thresholdRange" else f"{path}.{field}"
            out.append(
                SpecIssue(
                    where,
                    f"{value:g} is negative, but {what} never is",
                    "give a bound of 0 or more"
                    + (" (or use comparison: difference)" if m.relative_to else ""),
                )
            )
    return out


def _problem(path: str, check: Callable[[str], object], value: str) -> list[SpecIssue]:
    """The ValueError of ``check(value)`` as an issue (message; fix) at ``path``, or nothing."""
    try:
        check(value)
    except ValueError as exc:
        message, _, hint = str(exc).partition("; ")
        return [SpecIssue(path, message, hint)]
    return []
