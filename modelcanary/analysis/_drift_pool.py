"""Drift checks that wait for enough predictions instead of judging noise.

A threshold-judged ``prediction-drift`` check compares the two versions' prediction
distributions over one interval (Flagger's rule). At low traffic an interval holds a handful
of challenger predictions, and the statistic of a handful is noise: at 2 rps and a 5 % share
(about 6 challenger predictions a minute) PSI exceeds 0.2 in almost every interval of a
healthy challenger, so every judge rolled it back.

The rule (documented in docs/analysis.md, "Drift at low traffic"): the check's **window** is
this interval, extended back over the previous intervals of the rollout until it is large
enough, i.e. until the statistic's own no-drift noise at the window's sample sizes stays below
the range's ``max`` (:func:`~modelcanary.analysis._drift_noise.drift_noise`, 999 windows in
1000). A window that is not large enough even with every kept interval makes the check
**waiting** (inconclusive for want of evidence: the step holds, bounded by the hold deadline,
and never promotes); its predictions are kept in :attr:`AnalysisState.pools` for the next
intervals. With enough traffic the window is the interval alone and nothing is kept, so the
check is exactly Flagger's. Both versions' predictions are pooled over the same intervals, so
the comparison stays time-matched.

Storage is bounded: at most :data:`MAX_POOL_INTERVALS` intervals, the champion's predictions
thinned (evenly, in time order) to ``max(200, 10 x the challenger's)`` per interval, numbers
kept to 6 significant digits.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..spec._base import Model
from ..spec._metric_spec import MetricSpec, NoDataPolicy
from ._checks import CheckResult, describe_range, fmt, in_range, metric_key, threshold_check
from ._drift import drift
from ._drift_noise import NOISE_LEVEL, drift_noise
from ._measurements import (
    IntervalData,
    NoData,
    PredictionHistogram,
    Predictions,
    Side,
    VersionData,
)

if TYPE_CHECKING:
    from ._drift import PredictionInput

MAX_POOL_INTERVALS = 60
"""Intervals a drift window may reach back (the hold deadline usually ends the wait first)."""
CHAMPION_KEEP = 10
"""Champion predictions kept per pooled interval: this many per challenger prediction..."""
CHAMPION_MIN_KEEP = 200
"""...and at least this many."""


class PoolChunk(Model):
    """One interval's predictions of both versions, kept for a drift check's window."""

    champion: list[float] | list[str] = []
    """Champion predictions (numbers or labels; thinned)."""
    challenger: list[float] | list[str] = []
    """Challenger predictions."""
    edges: list[float] | None = None
    """Histogram input: numeric bin edges (counts below instead of raw predictions)."""
    labels: list[str] | None = None
    """Histogram input: class labels."""
    champion_counts: list[float] | None = None
    """Histogram input: the champion's count per bin."""
    challenger_counts: list[float] | None = None
    """Histogram input: the challenger's count per bin."""

    @property
    def layout(self) -> tuple[str, tuple[float, ...] | tuple[str, ...] | None]:
        """What the chunk holds: raw predictions, or histogram counts over these bins."""
        if self.champion_counts is None:
            return "raw", None
        return "hist", tuple(self.edges) if self.edges is not None else tuple(self.labels or ())


class PredictionPool(Model):
    """The recent intervals a drift check's window may reach back over (oldest first)."""

    chunks: list[PoolChunk] = []
    """One entry per kept interval."""


def drift_check(
    metric: MetricSpec, data: IntervalData, pool: PredictionPool | None, no_data: NoDataPolicy
) -> tuple[CheckResult, PredictionPool | None]:
    """Judge prediction drift on a window large enough to tell drift from noise (or wait).

    Returns the check and the pool to keep (None when nothing needs keeping). Provider-computed
    values and ranges without ``max`` are judged as Flagger does, on the interval alone.
    """
    rng = metric.effective_range()
    given = metric.name in data.challenger.values or metric.name in data.champion.values
    if rng is None or rng.max is None or given:
        return threshold_check(metric, data, no_data), None
    current = _chunk(data)
    if current is None:  # a provider gap: noData decides this interval, the pool waits
        return threshold_check(metric, data, no_data), pool
    kept = [*(pool.chunks if pool else []), current][-MAX_POOL_INTERVALS:]
    chunks = _same_layout(kept)
    method = metric.method or "psi"
    noise = _noise(chunks, method, rng.max)
    if noise > rng.max:
        waiting = _waiting(metric, chunks, method, noise)
        return waiting, PredictionPool(chunks=_stored(chunks))
    needed = _smallest_window(chunks, method, rng.max)
    if needed == 1:
        return threshold_check(metric, data, no_data), None
    window = chunks[-needed:]
    return _judged(metric, window), PredictionPool(chunks=_stored(window))


def _smallest_window(chunks: list[PoolChunk], method: str, limit: float) -> int:
    """How many of the newest intervals make a window large enough, given that all do.

    The noise only shrinks as intervals are added, so a bisection finds the smallest count.
    """
    if len(chunks) == 1 or _noise(chunks[-1:], method, limit) <= limit:
        return 1
    low, high = 1, len(chunks)  # too few with ``low`` intervals, enough with ``high``
    while high - low > 1:
        mid = (low + high) // 2
        if _noise(chunks[-mid:], method, limit) <= limit:
            high = mid
        else:
            low = mid
    return high


def _noise(window: list[PoolChunk], method: str, limit: float) -> float:
    champion, challenger = _merged(window)
    if champion is None or challenger is None:
        return math.inf
    return drift_noise(champion, challenger, method, limit=limit)  # type: ignore[arg-type]


def _judged(metric: MetricSpec, window: list[PoolChunk]) -> CheckResult:
    """The drift of a pooled window against the range, saying that it was pooled."""
    rng = metric.effective_range()
    assert rng is not None
    champion, challenger = _merged(window)
    assert champion is not None and challenger is not None
    value = drift(champion, challenger, metric.method or "psi")
    ok = in_range(value, rng)
    n, m = _size(challenger), _size(champion)
    reason = (
        f"{metric.name} {fmt(value, metric.name)} {'within' if ok else 'outside'} "
        f"{describe_range(rng, metric.name)} over the last {len(window)} intervals "
        f"({n} challenger / {m} champion predictions; one interval was too few to judge)"
    )
    return CheckResult(
        metric.name,
        metric_key(metric),
        "pass" if ok else "fail",
        reason,
        value=value,
        min=rng.min,
        max=rng.max,
        details={"challenger_predictions": n, "champion_predictions": m, "intervals": len(window)},
    )


def _waiting(metric: MetricSpec, chunks: list[PoolChunk], method: str, noise: float) -> CheckResult:
    """Too few predictions even over every kept interval: hold for more."""
    champion, challenger = _merged(chunks)
    n = _size(challenger) if challenger is not None else 0
    m = _size(champion) if champion is not None else 0
    rng = metric.effective_range()
    assert rng is not None
    in_1000 = round(1 / (1 - NOISE_LEVEL))
    why = (
        f"{metric_key(metric)}: {n} challenger predictions in {len(chunks)} interval(s) are too "
        f"few to judge: with no drift at all {method} would reach {_noise_words(noise)} in 1 of "
        f"{in_1000} windows of this size (vs {m} champion predictions), above "
        f"{describe_range(rng, metric.name)}; pooling with the next intervals: not enough "
        f"evidence yet"
    )
    return CheckResult(
        metric.name,
        metric_key(metric),
        "inconclusive",
        why,
        min=rng.min,
        max=rng.max,
        waiting=True,
        details={"challenger_predictions": n, "champion_predictions": m},
    )


def _noise_words(noise: float) -> str:
    return "any value" if math.isinf(noise) else f"{noise:.3g}"


def _chunk(data: IntervalData) -> PoolChunk | None:
    """This interval's predictions of both versions; None on a provider gap.

    A challenger that served no request has no predictions and that is not a gap (low
    traffic): its side is empty and the champion's predictions still join the window.
    """
    champ, chal = data.champion.predictions, data.challenger.predictions
    if isinstance(champ, NoData):
        return None
    if isinstance(chal, NoData):
        if not _served_nothing(data.challenger):
            return None
        chal = (
            Predictions((), "challenger")
            if isinstance(champ, Predictions)
            else PredictionHistogram(
                tuple(0.0 for _ in champ.counts), champ.edges, champ.labels, "challenger"
            )
        )
    if isinstance(champ, Predictions) and isinstance(chal, Predictions):
        return PoolChunk(champion=_values(champ), challenger=_values(chal))
    if isinstance(champ, PredictionHistogram) and isinstance(chal, PredictionHistogram):
        if (champ.edges, champ.labels) != (chal.edges, chal.labels):
            return None  # different bins cannot be pooled: noData decides
        return PoolChunk(
            edges=list(champ.edges) if champ.edges is not None else None,
            labels=list(champ.labels) if champ.labels is not None else None,
            champion_counts=list(champ.counts),
            challenger_counts=list(chal.counts),
        )
    return None


def _served_nothing(side: VersionData) -> bool:
    counts = side.counts
    if isinstance(counts, NoData):
        return counts.reason == "no requests"
    return counts.total == 0


def _values(pred: Predictions) -> list[float] | list[str]:
    import numpy as np

    if isinstance(pred.values, np.ndarray):
        return [float(v) for v in pred.values]
    return list(pred.values)


def _same_layout(chunks: list[PoolChunk]) -> list[PoolChunk]:
    """The newest chunks that can be pooled with the newest (same kind of data and bins)."""
    layout = chunks[-1].layout
    start = len(chunks) - 1
    while start > 0 and chunks[start - 1].layout == layout:
        start -= 1
    return chunks[start:]


def _merged(window: list[PoolChunk]) -> tuple[PredictionInput | None, PredictionInput | None]:
    """The window's predictions of each version (None for a side without any)."""
    import numpy as np

    first = window[0]
    if first.champion_counts is not None:
        champ = np.sum([c.champion_counts or [] for c in window], axis=0)
        chal = np.sum([c.challenger_counts or [] for c in window], axis=0)
        edges = tuple(first.edges) if first.edges is not None else None
        labels = tuple(first.labels) if first.labels is not None else None
        return (
            PredictionHistogram(tuple(champ), edges, labels, "champion") if champ.sum() else None,
            PredictionHistogram(tuple(chal), edges, labels) if chal.sum() else None,
        )
    return _predictions([c.champion for c in window], "champion"), _predictions(
        [c.challenger for c in window], "challenger"
    )


def _predictions(parts: list[list[float] | list[str]], side: Side) -> Predictions | None:
    """One version's pooled predictions (numbers as one array, labels as text)."""
    import numpy as np

    values = [v for part in parts for v in part]
    if not values:
        return None
    if all(isinstance(part[0], float) for part in parts if part):
        return Predictions(np.asarray(values, dtype=np.float64), side)
    return Predictions(tuple(str(v) for v in values), side)


def _size(pred: PredictionInput) -> int:
    if isinstance(pred, PredictionHistogram):
        return round(sum(pred.counts))
    return len(pred)


def _stored(chunks: list[PoolChunk]) -> list[PoolChunk]:
    """Chunks as kept in the status: the champion thinned, numbers to 6 significant digits."""
    return [_thinned(c) for c in chunks]


def _thinned(chunk: PoolChunk) -> PoolChunk:
    if chunk.champion_counts is not None:
        return chunk
    keep = max(CHAMPION_MIN_KEEP, CHAMPION_KEEP * len(chunk.challenger))
    champion = chunk.champion
    if len(champion) > keep:
        step = len(champion) / keep
        champion = [champion[int(i * step)] for i in range(keep)]  # type: ignore[assignment]
    return PoolChunk(champion=_rounded(champion), challenger=_rounded(chunk.challenger))


def _rounded(values: list[float] | list[str]) -> list[float] | list[str]:
    if values and isinstance(values[0], float):
        return [float(f"{v:.6g}") for v in values]
    return values
