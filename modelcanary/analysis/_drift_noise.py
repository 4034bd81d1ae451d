"""How large a drift statistic gets with no drift at all: the minimum-sample rule of drift checks.

A drift statistic computed on a handful of predictions is mostly sampling noise: two samples
of six predictions from the *same* model give a PSI above 3 on decile bins (an empty bin alone
adds about 0.7), far above the usual 0.2 threshold. So a drift check judges a window only when
the statistic's own noise cannot reach the threshold: :func:`drift_noise` is the value the
statistic stays below in ``level`` (default 999 in 1000) of windows where champion and
challenger predict alike, at these sample sizes and bins. Computed per method:

* **PSI, Jensen-Shannon, total variation** (numbers on the champion's deciles, classes,
  histograms): simulated. Both versions' bin counts are drawn from one multinomial (the
  pooled bin proportions) at the two sample sizes and the statistic is computed as
  :mod:`~modelcanary.analysis._drift` does, floors included; large-sample laws (PSI ~
  ``(1/n + 1/m) chi2(bins - 1)``, Yurdakul 2018) miss the heavy tail that nearly empty bins
  give at small samples. The generator has a fixed seed, so the rule is a pure function of
  the sizes and bins (the same data always gets the same answer).
* **KS**: Kolmogorov's limit, ``c * sqrt(1/n + 1/m)`` with ``c = sqrt(-ln((1 - level)/2)/2)``
  (binned or discrete data only make the statistic smaller).
* **Wasserstein-1**: ``z * sqrt(1/n + 1/m) * integral sqrt(F (1 - F)) dx`` over the pooled
  distribution ``F``, ``z`` the two-sided normal quantile: each point of the gap between the
  two distribution functions is normal with that spread, and the integral of their absolute
  values is never more spread out than one of them.

Given the threshold (``limit``), the simulation runs only where it matters: the large-sample
law (PSI ``(1/n + 1/m) chi2``, JS ``sqrt(PSI law / 8 ln 2)``, total variation
``sqrt(PSI law) / 2``) decides alone when it is at least ``limit`` (too few: small samples
only add to the tail) or at most ``limit / 1.5`` (plenty; ``limit / 3`` when a bin expects
fewer than 10 challenger predictions, whose tail the law underestimates most).

Pure: numpy only, no I/O.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ._drift import PSI_EPSILON, DriftMethod, PredictionInput, decile_edges, prepare

if TYPE_CHECKING:
    from ._measurements import FloatArray

NOISE_LEVEL = 0.999
"""A window is judged when no-drift noise stays below the threshold in 999 of 1000 windows."""
SIMULATIONS = 4000
"""Multinomial draws behind a simulated noise level."""
_SEED = 15_2025


def drift_noise(
    champion: PredictionInput,
    challenger: PredictionInput,
    method: DriftMethod,
    level: float = NOISE_LEVEL,
    limit: float | None = None,
) -> float:
    """The ``level`` quantile of the ``method`` statistic when both versions predict alike.

    Sample sizes and bins are those of the two inputs (numbers are binned at the champion's
    deciles for PSI and JS, as :func:`~modelcanary.analysis._drift.drift` does). ``inf`` when a
    side has no predictions. With ``limit`` the answer only needs to be right about being
    above ``limit`` or not (see the module docstring): the law may stand in for a simulation.
    """
    import numpy as np

    kind, ref, cur = prepare(champion, challenger)
    if kind == "raw-numeric":
        a, b = np.asarray(ref, dtype=np.float64), np.asarray(cur, dtype=np.float64)
        m, n = len(a), len(b)
    else:
        counts_ref = np.asarray(ref, dtype=np.float64)
        counts_cur = np.asarray(cur, dtype=np.float64)
        m, n = round(float(counts_ref.sum())), round(float(counts_cur.sum()))
    if n <= 0 or m <= 0:
        return math.inf
    spread = math.sqrt(1 / n + 1 / m)
    if method == "ks" and kind != "labels":
        return math.sqrt(-math.log((1 - level) / 2) / 2) * spread
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    if kind == "raw-numeric":
        pooled = np.concatenate([a, b])
        if method == "wasserstein":
            return z * spread * _spread_integral(np.sort(pooled))
        edges = decile_edges(a)
        bins = np.bincount(np.searchsorted(edges, pooled, side="left"), minlength=len(edges) + 1)
        return _simulated(method, bins.astype(np.float64), n, m, level, limit)
    pooled_counts = counts_ref + counts_cur
    if method == "wasserstein" and kind == "binned-numeric":
        edges_arr = _edges_of(champion)
        return z * spread * _binned_spread_integral(pooled_counts, edges_arr)
    stat = "tv" if method in ("ks", "wasserstein") else method
    return _simulated(stat, pooled_counts, n, m, level, limit)


def _simulated(
    method: str, pooled: FloatArray, n: int, m: int, level: float, limit: float | None
) -> float:
    """Quantile of the statistic over multinomial draws at the pooled bin proportions."""
    import numpy as np

    total = float(pooled.sum())
    if total <= 0:
        return math.inf
    p = pooled / total
    if limit is not None:
        law = _law(method, int(np.count_nonzero(p)), n, m, level)
        # small expected bin counts fatten the tail beyond the law (up to ~2x seen): margin 3
        margin = 1.5 if n * float(p[p > 0].min()) >= 10 else 3.0
        if law >= limit or law <= limit / margin:
            return law
    rng = np.random.default_rng(_SEED)
    expected = rng.multinomial(m, p, size=SIMULATIONS) / m
    actual = rng.multinomial(n, p, size=SIMULATIONS) / n
    if method == "psi":
        e = np.maximum(expected, PSI_EPSILON)
        f = np.maximum(actual, PSI_EPSILON)
        values = np.sum((f - e) * np.log(f / e), axis=1)
    elif method == "js":
        mid = 0.5 * (expected + actual)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_e = np.where(expected > 0, expected * np.log2(expected / mid), 0.0)
            kl_a = np.where(actual > 0, actual * np.log2(actual / mid), 0.0)
        values = np.sqrt(np.maximum(0.0, 0.5 * (kl_e.sum(axis=1) + kl_a.sum(axis=1))))
    else:  # total variation: KS and Wasserstein on classes
        values = 0.5 * np.sum(np.abs(expected - actual), axis=1)
    return float(np.quantile(values, level))


def _law(method: str, bins: int, n: int, m: int, level: float) -> float:
    """The statistic's large-sample law at ``level`` (chi-square with ``bins - 1`` degrees)."""
    from scipy.special import chdtri

    if bins < 2:
        return 0.0
    psi = (1 / n + 1 / m) * float(chdtri(bins - 1, 1 - level))
    if method == "psi":
        return psi
    if method == "js":
        return math.sqrt(psi / (8 * math.log(2)))
    return 0.5 * math.sqrt(psi)


def _spread_integral(sorted_values: FloatArray) -> float:
    """integral of sqrt(F (1 - F)) dx for the empirical distribution of the values."""
    import numpy as np

    k = len(sorted_values)
    if k < 2:
        return 0.0
    cdf = np.arange(1, k) / k
    return float(np.sum(np.sqrt(cdf * (1 - cdf)) * np.diff(sorted_values)))


def _binned_spread_integral(counts: FloatArray, edges: FloatArray) -> float:
    """The same integral for binned counts (the distribution function at the inner edges)."""
    import numpy as np

    cdf = np.cumsum(counts)[:-1] / counts.sum()
    widths = np.diff(edges)
    # each inner edge carries half of each neighbouring bin's width, as drift() weighs it
    weight = 0.5 * (widths[:-1] + widths[1:])
    return float(np.sum(np.sqrt(cdf * (1 - cdf)) * weight))


def _edges_of(champion: PredictionInput) -> FloatArray:
    import numpy as np

    from ._measurements import PredictionHistogram

    assert isinstance(champion, PredictionHistogram) and champion.edges is not None
    edges = np.asarray(champion.edges, dtype=np.float64)
    if not np.all(np.isfinite(np.diff(edges))):
        raise ValueError("wasserstein on a histogram needs finite bin edges")
    return edges
