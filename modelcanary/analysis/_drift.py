"""Prediction drift between champion and challenger: PSI, KS, Jensen-Shannon, Wasserstein.

The champion is the reference ("expected") distribution. Numeric scores are compared on
bins cut at the champion's deciles (PSI, JS) or on the raw values (KS, Wasserstein); class
labels (and numeric predictions with at most :data:`MAX_CLASSES` distinct values) are
compared on class frequencies. Conventions follow the usual references: PSI as in
Yurdakul (2018, "Statistical properties of population stability index"), KS as
``scipy.stats.ks_2samp``'s statistic, Jensen-Shannon *distance* with base 2 (0-1, as
``scipy.spatial.distance.jensenshannon``), Wasserstein-1 as ``scipy.stats.wasserstein_distance``.
For labels, KS and Wasserstein reduce to the total variation distance (the 0/1 metric).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ._measurements import Label, PredictionHistogram, Predictions

if TYPE_CHECKING:
    from ._measurements import FloatArray

DriftMethod = Literal["psi", "ks", "js", "wasserstein"]
PSI_BINS = 10
"""Numeric PSI/JS bins: the champion's deciles."""
PSI_EPSILON = 1e-4
"""Floor on bin proportions so empty bins give a large but finite PSI."""
MAX_CLASSES = 20
"""Numeric predictions with at most this many distinct values are treated as classes."""

PredictionInput = Predictions | PredictionHistogram


def drift(champion: PredictionInput, challenger: PredictionInput, method: DriftMethod) -> float:
    """Distance between the two versions' prediction distributions by ``method``."""
    import numpy as np

    kind, ref, cur = prepare(champion, challenger)
    if kind == "raw-numeric":
        a, b = np.asarray(ref), np.asarray(cur)
        if method == "ks":
            return ks_statistic(a, b)
        if method == "wasserstein":
            return wasserstein(a, b)
        edges = decile_edges(a)
        p, q = _hist(a, edges), _hist(b, edges)
    elif kind == "binned-numeric":
        p, q = np.asarray(ref), np.asarray(cur)
        if method == "ks":
            return float(np.max(np.abs(np.cumsum(_norm(p)) - np.cumsum(_norm(q)))))
        if method == "wasserstein":
            assert isinstance(champion, PredictionHistogram) and champion.edges is not None
            edges_arr = np.asarray(champion.edges, dtype=np.float64)
            widths = np.diff(edges_arr)
            if not np.all(np.isfinite(widths)):
                raise ValueError("wasserstein on a histogram needs finite bin edges")
            cdf_gap = np.abs(np.cumsum(_norm(p)) - np.cumsum(_norm(q)))[:-1]
            return float(np.sum(cdf_gap * widths[1:] * 0.5 + cdf_gap * widths[:-1] * 0.5))
    else:  # labels
        p, q = np.asarray(ref), np.asarray(cur)
        if method in ("ks", "wasserstein"):
            return total_variation(p, q)
    if method == "psi":
        return psi(p, q)
    if method == "js":
        return js_distance(p, q)
    raise ValueError(f"unknown drift method {method!r}; use psi, ks, js or wasserstein")


def psi(expected: FloatArray, actual: FloatArray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index: sum over bins of (a - e) * ln(a / e) on proportions."""
    import numpy as np

    e = np.maximum(_norm(expected), epsilon)
    a = np.maximum(_norm(actual), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(p: FloatArray, q: FloatArray) -> float:
    """Jensen-Shannon distance, base 2 (square root of the JS divergence), in 0-1."""
    import numpy as np

    p, q = _norm(p), _norm(q)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0)
    divergence = max(0.0, 0.5 * float(np.sum(kl_p) + np.sum(kl_q)))
    return float(np.sqrt(divergence))


def ks_statistic(a: FloatArray, b: FloatArray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two ECDFs."""
    import numpy as np

    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def wasserstein(a: FloatArray, b: FloatArray) -> float:
    """Wasserstein-1 (earth mover's) distance: the area between the two ECDFs."""
    import numpy as np

    a, b = np.sort(a), np.sort(b)
    grid = np.sort(np.concatenate([a, b]))
    deltas = np.diff(grid)
    cdf_a = np.searchsorted(a, grid[:-1], side="right") / len(a)
    cdf_b = np.searchsorted(b, grid[:-1], side="right") / len(b)
    return float(np.sum(np.abs(cdf_a - cdf_b) * deltas))


def total_variation(p: FloatArray, q: FloatArray) -> float:
    """Total variation distance between two class distributions: half the L1 gap."""
    import numpy as np

    return float(0.5 * np.sum(np.abs(_norm(p) - _norm(q))))


def decile_edges(reference: FloatArray, bins: int = PSI_BINS) -> FloatArray:
    """Inner bin edges at the reference's quantiles (duplicates dropped for tied scores)."""
    import numpy as np

    inner = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(inner)


def _hist(values: FloatArray, inner_edges: FloatArray) -> FloatArray:
    """Counts per bin, bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    import numpy as np

    idx = np.searchsorted(inner_edges, values, side="left")
    return np.bincount(idx, minlength=len(inner_edges) + 1).astype(np.float64)


def _norm(x: FloatArray) -> FloatArray:
    import numpy as np

    total = float(np.sum(x))
    if total <= 0:
        raise ValueError("a distribution with no observations cannot be compared")
    return np.asarray(x, dtype=np.float64) / total


def prepare(
    champion: PredictionInput, challenger: PredictionInput
) -> tuple[str, FloatArray | list[float], FloatArray | list[float]]:
    """Bring both sides to one comparable form: raw numbers, aligned bins or label counts."""
    import numpy as np

    if isinstance(champion, PredictionHistogram) or isinstance(challenger, PredictionHistogram):
        if not (
            isinstance(champion, PredictionHistogram)
            and isinstance(challenger, PredictionHistogram)
        ):
            raise ValueError("compare a prediction histogram with a histogram, not raw values")
        if champion.edges is not None:
            if champion.edges != challenger.edges:
                raise ValueError("champion and challenger histograms have different bin edges")
            return "binned-numeric", np.asarray(champion.counts), np.asarray(challenger.counts)
        return "labels", *_align_labels(
            dict(zip(champion.labels or (), champion.counts, strict=True)),
            dict(zip(challenger.labels or (), challenger.counts, strict=True)),
        )
    if len(champion) == 0 or len(challenger) == 0:
        raise ValueError("a distribution with no observations cannot be compared")
    if champion.is_numeric and challenger.is_numeric:
        a = np.asarray(champion.values, dtype=np.float64)
        b = np.asarray(challenger.values, dtype=np.float64)
        if len(np.unique(np.concatenate([a, b]))) > MAX_CLASSES:
            return "raw-numeric", a, b
    return "labels", *_align_labels(_label_counts(champion), _label_counts(challenger))


def _label_counts(pred: Predictions) -> dict[Label, float]:
    import numpy as np

    values = pred.values
    keys = [f"{v:g}" for v in values] if isinstance(values, np.ndarray) else list(values)
    uniq, counts = np.unique(np.asarray(keys, dtype=object).astype(str), return_counts=True)
    return {str(k): float(c) for k, c in zip(uniq, counts, strict=True)}


def _align_labels(
    ref: dict[Label, float], cur: dict[Label, float]
) -> tuple[list[float], list[float]]:
    labels = sorted(set(ref) | set(cur))
    return [ref.get(k, 0.0) for k in labels], [cur.get(k, 0.0) for k in labels]
