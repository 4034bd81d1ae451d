"""Inference SLIs computed from measurements, in Flagger-compatible units.

Units and quantiles are the catalogue's (:mod:`modelcanary.spec._catalogue`): ``error-rate`` and
``prediction-agreement`` are fractions 0-1, ``request-success-rate`` is a percent 0-100,
latencies are milliseconds, ``throughput`` is requests per second, and ``prediction-drift`` is
the unitless statistic of its method; the LLM SLIs are computed from the window's LLM
exchanges by :mod:`._llm_sli` (unless a provider supplied the value). Every function returns
a number or :class:`NoData`; bad input a provider should never send raises ``ValueError``
(the check turns it into an ``error`` verdict).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..spec._catalogue import LATENCY_QUANTILES as LATENCY_QUANTILES
from ..spec._catalogue import TOKEN_LATENCY_QUANTILES
from ..spec._metric_spec import MetricSpec
from ._drift import DriftMethod, drift
from ._llm_sli import is_llm_sli, llm_sli_value
from ._measurements import (
    Counts,
    IntervalData,
    Label,
    Latencies,
    LatencyHistogram,
    NoData,
    PairedPredictions,
    Predictions,
    Samples,
    Scalar,
    VersionData,
    Window,
    not_finite,
)

if TYPE_CHECKING:
    from ._measurements import FloatArray


def error_rate(counts: Counts | NoData) -> float | NoData:
    """Fraction of requests that failed, 0-1 (NoData when there were no requests)."""
    if isinstance(counts, NoData):
        return counts
    if counts.total == 0:
        return NoData("no requests in the window", counts.side)
    return counts.errors / counts.total


def success_rate(counts: Counts | NoData) -> float | NoData:
    """Percent of requests that succeeded, 0-100 (Flagger's request-success-rate)."""
    rate = error_rate(counts)
    return rate if isinstance(rate, NoData) else 100.0 * (1.0 - rate)


def throughput(counts: Counts | NoData, window: Window) -> float | NoData:
    """Requests per second over the window."""
    if isinstance(counts, NoData):
        return counts
    if window.seconds <= 0:
        raise ValueError("throughput needs a window longer than zero")
    return counts.total / window.seconds


def quantile(samples: FloatArray, q: float) -> float:
    """Sample quantile with linear interpolation (numpy's default, as Prometheus summaries)."""
    import numpy as np

    return float(np.quantile(samples, q))


def histogram_quantile(q: float, hist: LatencyHistogram) -> float | NoData:
    """Prometheus ``histogram_quantile``: linear interpolation inside the target bucket.

    As in Prometheus: the first bucket's lower bound is 0 (when its upper bound is positive);
    a quantile in the ``+Inf`` bucket returns the largest finite upper bound.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"quantile {q} is outside 0-1")
    if not all(math.isfinite(c) for c in hist.cumulative):
        return NoData("histogram has a count that is not a finite number", hist.side)
    total = hist.total
    if total <= 0:
        return NoData("histogram has no observations", hist.side)
    rank = q * total
    bounds, cum = hist.bounds, hist.cumulative
    idx = next(i for i, c in enumerate(cum) if c >= rank)
    if math.isinf(bounds[idx]):
        finite = [b for b in bounds if not math.isinf(b)]
        return finite[-1] if finite else NoData("histogram has only a +Inf bucket", hist.side)
    if idx == 0:
        lower, below = (0.0 if bounds[0] > 0 else bounds[0]), 0.0
    else:
        lower, below = bounds[idx - 1], cum[idx - 1]
    in_bucket = cum[idx] - below
    if in_bucket <= 0:
        return bounds[idx]
    return lower + (bounds[idx] - lower) * (rank - below) / in_bucket


def latency_quantile(latencies: Latencies, q: float) -> float | NoData:
    """The q-quantile of latencies in ms, from per-request samples or histogram buckets."""
    import numpy as np

    if isinstance(latencies, NoData):
        return latencies
    if isinstance(latencies, LatencyHistogram):
        return histogram_quantile(q, latencies)
    values = latencies.values[~np.isnan(latencies.values)]
    if len(values) == 0:
        return NoData("no latency samples", latencies.side)
    return quantile(values, q)


@dataclass(frozen=True)
class Agreement:
    """Agreement on paired predictions, with the class-flip matrix for labels."""

    rate: float
    """Fraction of paired requests where both versions agree, 0-1."""
    pairs: int
    """Paired requests compared."""
    flips: dict[tuple[Label, Label], int]
    """Labels: ``(champion label, challenger label) -> count`` for every pair (empty for scores)."""

    def top_flips(self, n: int = 3) -> list[tuple[Label, Label, int]]:
        """The most frequent disagreements, largest first."""
        off = [(a, b, c) for (a, b), c in self.flips.items() if a != b]
        return sorted(off, key=lambda t: (-t[2], t[0], t[1]))[:n]


def agreement(paired: PairedPredictions, tolerance: float | None = None) -> Agreement | NoData:
    """Agreement rate: labels match exactly; numbers agree within ``tolerance`` (default 0)."""
    import numpy as np

    if len(paired) == 0:
        return NoData("no paired predictions")
    champ, chal = paired.champion, paired.challenger
    if isinstance(champ, np.ndarray) and isinstance(chal, np.ndarray):
        close = np.abs(champ - chal) <= (tolerance or 0.0) + 1e-12
        return Agreement(float(np.mean(close)), len(paired), {})
    left = [f"{v:g}" for v in champ] if isinstance(champ, np.ndarray) else list(champ)
    right = [f"{v:g}" for v in chal] if isinstance(chal, np.ndarray) else list(chal)
    flips: dict[tuple[Label, Label], int] = {}
    for a, b in zip(left, right, strict=True):
        flips[(a, b)] = flips.get((a, b), 0) + 1
    same = sum(c for (a, b), c in flips.items() if a == b)
    return Agreement(same / len(paired), len(paired), flips)


def prediction_drift(
    champion: VersionData, challenger: VersionData, method: DriftMethod = "psi"
) -> float | NoData:
    """Drift of the challenger's predictions from the champion's (NoData when either is empty)."""
    for side in (champion, challenger):
        if isinstance(side.predictions, NoData):
            return side.predictions
        if isinstance(side.predictions, Predictions) and len(side.predictions) == 0:
            return NoData("no predictions", side.side)
    assert not isinstance(champion.predictions, NoData)
    assert not isinstance(challenger.predictions, NoData)
    return drift(champion.predictions, challenger.predictions, method)


def sli_value(metric: MetricSpec, data: IntervalData, side: VersionData) -> float | NoData:
    """The metric's value for one version in this interval (provider values win over raw data).

    ``prediction-drift`` and ``prediction-agreement`` compare the two versions, so their value
    does not depend on ``side``. A value that is not a finite number (NaN, +/-Inf) is
    :class:`NoData`, whatever produced it: no threshold may pass on it (a min-only range
    would on +Inf); the metric's ``noData`` policy decides instead.
    """
    value = _sli_value(metric, data, side)
    if isinstance(value, NoData) or math.isfinite(value):
        return value
    return NoData(not_finite(value, f"{metric.name} is"), side.side)


def _sli_value(metric: MetricSpec, data: IntervalData, side: VersionData) -> float | NoData:
    given = side.values.get(metric.name)
    if given is not None:
        return _from_value(given, metric)
    if not metric.is_builtin:
        return NoData(f"provider returned nothing for {metric.name}", side.side)
    if is_llm_sli(metric):
        return llm_sli_value(metric, data, side.side)
    name = metric.name
    if name == "error-rate":
        return error_rate(side.counts)
    if name == "request-success-rate":
        return success_rate(side.counts)
    if name == "throughput":
        return throughput(side.counts, data.window)
    if name in LATENCY_QUANTILES:
        return latency_quantile(side.latencies, LATENCY_QUANTILES[name])
    if name == "prediction-drift":
        return prediction_drift(data.champion, data.challenger, metric.method or "psi")
    if name == "prediction-agreement":
        if isinstance(data.paired, NoData):
            return data.paired
        result = agreement(data.paired, metric.tolerance)
        return result if isinstance(result, NoData) else result.rate
    raise ValueError(f"no SLI named {name!r}")  # pragma: no cover - rules reject it


def _from_value(value: Scalar | Samples | NoData, metric: MetricSpec) -> float | NoData:
    """A provider-computed value; samples are summarised by the metric's quantile or mean."""
    import numpy as np

    if isinstance(value, NoData):
        return value
    if isinstance(value, Scalar):
        if math.isfinite(value.value):
            return value.value
        return NoData(not_finite(value.value), value.side)
    infinite = int(np.count_nonzero(np.isinf(value.values)))
    if infinite:
        return NoData(f"provider returned {infinite} infinite sample(s) (+/-Inf)", value.side)
    finite = value.values[~np.isnan(value.values)]
    if len(finite) == 0:
        return NoData("no samples", value.side)
    q = LATENCY_QUANTILES.get(metric.name, TOKEN_LATENCY_QUANTILES.get(metric.name))
    return quantile(finite, q) if q is not None else float(np.mean(finite))
