"""The recorder's pre-period covariates: each unit's error rate on the champion before the
challenger served traffic (CUPED, :mod:`modelcanary.analysis._cuped`).

Computed once, when the first window past the pre-period's end is read, from the rows the
recorder still keeps (numpy over the sealed chunks), and fixed from then on: a covariate must
not depend on anything after assignment. Bounded: at most :data:`MAX_COVARIATE_UNITS` units
are remembered, those with the most pre-period requests; any other unit gets the mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol


class Columns(Protocol):
    """The sealed-chunk columns read here (the recorder's ``_Chunk``)."""

    flags: Any
    """Bit 0: challenger; bit 1: a mirror copy."""
    status: Any
    units: Any
    """Unit keys as bytes (``b""``: none)."""


MAX_COVARIATE_UNITS = 100_000
"""Units whose pre-period error rate is remembered (the most active; others get the mean)."""


class Covariates:
    """Units' pre-period champion error rates, the pre-period mean, and when it ended."""

    __slots__ = ("end", "mean", "rates")

    def __init__(self, rates: dict[str, float], mean: float, end: float) -> None:
        self.rates, self.mean, self.end = rates, mean, end

    def of(self, timestamp: float, unit: str) -> float:
        """A request's covariate: its unit's rate (the mean if unknown); NaN before the end."""
        if timestamp < self.end:
            return math.nan
        return self.rates.get(unit, self.mean) if unit else self.mean


def pre_period_rates(
    parts: Sequence[tuple[Columns, int, int]], tail: Sequence[tuple[Any, ...]], end: float
) -> Covariates:
    """Per-unit error rates of the champion's served requests before ``end`` (NaN mean: none)."""
    import numpy as np

    units, bad = [], []
    for chunk, lo, hi in parts:
        served = chunk.flags[lo:hi] == 0  # champion, not a mirror copy
        units.append(chunk.units[lo:hi][served])
        bad.append(chunk.status[lo:hi][served] >= 500)
    rows = [row for row in tail if row[1] == "champion" and not row[6] and row[0] < end]
    units.append(np.array([row[7].encode() for row in rows], dtype=np.bytes_))
    bad.append(np.array([row[3] >= 500 for row in rows], dtype=bool))
    keys, errors = np.concatenate(units), np.concatenate(bad)
    if not len(keys):
        return Covariates({}, math.nan, end)
    mean = float(errors.mean())
    keyed = keys != b""
    names, index = np.unique(keys[keyed], return_inverse=True)
    n = np.bincount(index, minlength=len(names))
    b = np.bincount(index, weights=errors[keyed], minlength=len(names))
    kept = np.argsort(-n, kind="stable")[:MAX_COVARIATE_UNITS]
    rates = {names[i].decode(): float(b[i] / n[i]) for i in kept.tolist()}
    return Covariates(rates, mean, end)
