"""The ``mann-whitney`` judge: Kayenta's NetflixACAJudge semantics, per interval.

Per metric (``MannWhitneyClassifier``): remove NaNs, optionally remove IQR outliers, then
compare the challenger ("experiment") with the champion ("control") with a two-sided
Mann-Whitney U test and the Hodges-Lehmann shift with its 98 % confidence interval. The
metric is **High** when the interval lies above 0 and the mean ratio exceeds
``allowedIncrease`` (default 1.0), **Low** when it lies below 0 and the ratio is under
``allowedDecrease``, else **Pass**; empty data is **Nodata**. Identical samples and a single
distinct value pass without a test, as in Kayenta.

Scoring (``ScoreCalculator``): a group's score is the weighted share of its passing metrics;
the canary score is the ``groupWeights``-weighted mean of group scores (0-100). A failing
critical metric fails the interval whatever the score. Score >= ``pass`` (95) passes,
>= ``marginal`` (75) is inconclusive, below fails. References: Netflix/Spinnaker Kayenta,
``kayenta-judge`` (NetflixACAJudge, MannWhitneyClassifier); Hodges & Lehmann (1963).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..spec._analysis import Analysis
from ..spec._catalogue import HIGHER_IS_BETTER, LATENCY_METRICS, RATE_METRICS
from ..spec._metric_spec import MetricSpec
from ._checks import CheckResult, fmt, metric_key, no_data_result
from ._measurements import Counts, IntervalData, Samples, Scalar, VersionData

if TYPE_CHECKING:
    from ._measurements import FloatArray

CONFIDENCE = 0.98
"""Kayenta's NetflixACAJudge confidence level for the Mann-Whitney interval."""
SCORE_JUDGE = "mann-whitney-score"
MIN_SAMPLES = 3
"""Fewer observations on either side cannot show a difference: treated as no data."""
MAX_PAIRS = 4_000_000
"""Hodges-Lehmann pairwise differences above this are computed on a seeded subsample."""
Classification = Literal["Pass", "High", "Low", "Nodata"]


@dataclass(frozen=True)
class MannWhitneyResult:
    """Mann-Whitney U test of challenger vs champion with the Hodges-Lehmann shift."""

    p_value: float
    estimate: float
    """Hodges-Lehmann estimate of the shift (challenger - champion)."""
    lower: float
    upper: float


def remove_outliers(values: FloatArray, factor: float) -> FloatArray:
    """Drop values outside ``[Q1 - factor*IQR, Q3 + factor*IQR]`` (Kayenta's IQR rule)."""
    import numpy as np

    q1, q3 = np.quantile(values, [0.25, 0.75])
    iqr = q3 - q1
    kept = values[(values >= q1 - factor * iqr) & (values <= q3 + factor * iqr)]
    return np.asarray(kept, dtype=np.float64)


def mann_whitney(
    challenger: FloatArray, champion: FloatArray, confidence: float = CONFIDENCE
) -> MannWhitneyResult:
    """Two-sided U test, Hodges-Lehmann shift and its distribution-free confidence interval.

    The interval takes order statistics of the pairwise differences at
    ``k = n1 n2 / 2 - z sqrt(n1 n2 (n1 + n2 + 1) / 12)`` (normal approximation, as in
    R's ``wilcox.test(conf.int=TRUE)`` and Kayenta); too few pairs give an unbounded interval.
    """
    import numpy as np
    from scipy.stats import mannwhitneyu, norm

    p_value = float(mannwhitneyu(challenger, champion, alternative="two-sided").pvalue)
    x, y = _subsample(challenger), _subsample(champion)
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    n1, n2 = len(x), len(y)
    z = float(norm.ppf(0.5 + confidence / 2))
    k = math.floor(n1 * n2 / 2 - z * math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12))
    if k < 1:
        lower, upper = -math.inf, math.inf
    else:
        lower, upper = float(diffs[k - 1]), float(diffs[n1 * n2 - k])
    return MannWhitneyResult(p_value, float(np.median(diffs)), lower, upper)


def classify(
    metric: MetricSpec,
    challenger: FloatArray,
    champion: FloatArray,
    outlier_factor: float | None = None,
    confidence: float = CONFIDENCE,
) -> tuple[Classification, str, float | None, float | None]:
    """Kayenta's metric classification: (class, reason, effect size, p-value).

    NaN values are gaps and are dropped; +/-Inf is not a measurement, so a side holding one
    is no data (the ``noData`` policy decides) rather than a mean that could pass.
    """
    import numpy as np

    infinite = int(np.count_nonzero(np.isinf(challenger)) + np.count_nonzero(np.isinf(champion)))
    if infinite:
        return "Nodata", f"{infinite} value(s) are +/-Inf, not finite numbers", None, None
    chal = challenger[~np.isnan(challenger)]
    champ = champion[~np.isnan(champion)]
    if outlier_factor is not None:
        chal = remove_outliers(chal, outlier_factor) if len(chal) else chal
        champ = remove_outliers(champ, outlier_factor) if len(champ) else champ
    if len(chal) < MIN_SAMPLES or len(champ) < MIN_SAMPLES:
        return (
            "Nodata",
            f"too few samples (challenger {len(chal)}, champion {len(champ)})",
            None,
            None,
        )
    if np.array_equal(np.sort(chal), np.sort(champ)):
        return "Pass", "challenger and champion data are identical", 1.0, 1.0
    if len(np.unique(np.concatenate([chal, champ]))) == 1:
        return "Pass", "all values are equal", 1.0, 1.0
    mean_champ, mean_chal = float(np.mean(champ)), float(np.mean(chal))
    if not (math.isfinite(mean_champ) and math.isfinite(mean_chal)):
        return "Nodata", "values too large to average (the mean overflows)", None, None
    result = mann_whitney(chal, champ, confidence)
    if mean_champ == 0:
        effect = 1.0 if mean_chal == 0 else math.copysign(math.inf, mean_chal)
    else:
        effect = mean_chal / mean_champ
    direction = _direction(metric)
    up = metric.allowed_increase or 1.0
    down = metric.allowed_decrease or 1.0
    span = f"shift {fmt(result.estimate)} [{fmt(result.lower)}, {fmt(result.upper)}]"
    words = f"mean ratio {fmt(effect)}, {span} at {confidence:.0%}, p={result.p_value:.3g}"
    if direction in ("increase", "either") and result.lower > 0 and effect > up:
        return "High", f"High: {words} > allowed increase {up:g}", effect, result.p_value
    if direction in ("decrease", "either") and result.upper < 0 and effect < down:
        return "Low", f"Low: {words} < allowed decrease {down:g}", effect, result.p_value
    return "Pass", f"Pass: {words}", effect, result.p_value


def kayenta_checks(
    metrics: list[MetricSpec], data: IntervalData, analysis: Analysis
) -> list[CheckResult]:
    """Classify each metric, then score them; the last result is the canary score."""
    results: list[CheckResult] = []
    scored: list[tuple[MetricSpec, bool]] = []
    inconclusive = False
    for metric in metrics:
        chal, champ = _samples(metric, data.challenger), _samples(metric, data.champion)
        if chal is None or champ is None:
            cls: Classification = "Nodata"
            why, effect, p = "mann-whitney needs samples from both versions", None, None
        else:
            cls, why, effect, p = classify(metric, chal, champ, metric.outlier_factor)
        if cls == "Nodata":
            policy = metric.no_data or analysis.no_data
            nodata = no_data_result(metric, policy, why, judge="mann-whitney")
            results.append(nodata)
            if policy == "fail":
                scored.append((metric, False))
            inconclusive |= policy == "inconclusive"
            continue
        key = metric_key(metric)
        results.append(
            CheckResult(
                metric.name,
                key,
                "pass" if cls == "Pass" else "fail",
                f"{key}: {why}",
                value=effect,
                min=metric.allowed_decrease,
                max=metric.allowed_increase,
                judge="mann-whitney",
                p_value=p,
            )
        )
        scored.append((metric, cls == "Pass"))
    unscored = [r.key for r in results if r.verdict in ("skipped", "inconclusive")]
    results.append(_score(scored, analysis, inconclusive, unscored))
    return results


def _score(
    scored: list[tuple[MetricSpec, bool]],
    analysis: Analysis,
    inconclusive: bool,
    unscored: list[str],
) -> CheckResult:
    thresholds = {"pass": 95.0, "marginal": 75.0, **(analysis.score_thresholds or {})}
    base = {"metric": "canary-score", "key": "canary-score", "judge": SCORE_JUDGE}
    critical = [m for m, ok in scored if m.critical and not ok]
    if critical:
        reason = f"critical metric {metric_key(critical[0])} failed: score 0"
        return CheckResult(verdict="fail", reason=reason, value=0.0, **base)  # type: ignore[arg-type]
    groups: dict[str, list[tuple[MetricSpec, bool]]] = {}
    for metric, ok in scored:
        groups.setdefault(metric.group or "default", []).append((metric, ok))
    total_w, score = 0.0, 0.0
    for group, items in groups.items():
        weight = (analysis.group_weights or {}).get(group, 1.0)
        metric_w = sum(m.weight for m, _ in items)
        if weight <= 0 or metric_w <= 0:
            continue
        score += weight * 100.0 * sum(m.weight for m, ok in items if ok) / metric_w
        total_w += weight
    if total_w == 0:
        reason = (
            f"no metric could be scored: every metric lacked data ({', '.join(unscored)}), "
            "so this interval does not count toward promotion"
            if not scored
            else "no metric could be scored (every group or metric weight is zero)"
        )
        return CheckResult(verdict="inconclusive", reason=reason, **base)  # type: ignore[arg-type]
    score /= total_w
    if score >= thresholds["pass"]:
        verdict = "inconclusive" if inconclusive else "pass"
    elif score >= thresholds["marginal"]:
        verdict = "inconclusive"
    else:
        verdict = "fail"
    reason = (
        f"canary score {score:.1f} (pass {thresholds['pass']:g}, marginal "
        f"{thresholds['marginal']:g}, {len(scored)} metric(s) scored)"
    )
    return CheckResult(
        verdict=verdict,  # type: ignore[arg-type]
        reason=reason,
        value=score,
        min=thresholds["pass"],
        **base,  # type: ignore[arg-type]
    )


def _direction(metric: MetricSpec) -> str:
    if metric.allowed_increase is not None and metric.allowed_decrease is None:
        return "increase"
    if metric.allowed_decrease is not None and metric.allowed_increase is None:
        return "decrease"
    if metric.allowed_increase is not None:
        return "either"
    if metric.name in HIGHER_IS_BETTER:
        return "decrease"
    return "increase" if metric.is_builtin else "either"


def _samples(metric: MetricSpec, side: VersionData) -> FloatArray | None:
    """What the classifier compares: a time series, latency samples, or per-request outcomes."""
    import numpy as np

    series = side.series.get(metric.name)
    if series is not None:
        return series.values
    given = side.values.get(metric.name)
    if isinstance(given, Samples):
        return given.values
    if isinstance(given, Scalar):
        return None
    if metric.name in LATENCY_METRICS and isinstance(side.latencies, Samples):
        return side.latencies.values
    if metric.name in RATE_METRICS and isinstance(side.counts, Counts):
        bad = np.zeros(side.counts.total)
        bad[: side.counts.errors] = 1.0
        return bad if metric.name == "error-rate" else 100.0 * (1.0 - bad)
    return None


def _subsample(values: FloatArray) -> FloatArray:
    import numpy as np

    limit = int(math.sqrt(MAX_PAIRS))
    if len(values) <= limit:
        return values
    rng = np.random.default_rng(len(values))
    return np.sort(rng.choice(values, size=limit, replace=False))
