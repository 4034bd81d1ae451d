"""Pre-period covariates for CUPED: each unit's error rate on the champion before the
challenger first *served* a request (:mod:`modelcanary.analysis._cuped`).

One rule, two adapters, so a recorded run and its replayed log give every request the same
covariate: the local recorder reads its sealed chunk columns
(:mod:`modelcanary.local._covariates`), the backtest a request log (:func:`log_covariates`).

* **End of the pre-period**: the first challenger request that was served, not a mirror copy
  (:func:`pre_period_end`). A mirror phase is part of the pre-period.
* **Rates**: per unit, bad events (status >= 500) over requests among the champion's served
  requests before the end (:func:`unit_rates`); the mean over all of them (keyed or not) is
  what a unit not seen then gets. At most :data:`MAX_COVARIATE_UNITS` units are remembered,
  those with the most pre-period requests (ties: the smaller key).
* **Per request** (:meth:`Covariates.of`): NaN before the end, else its unit's rate.

Pure: numpy only, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._requestlog import mirror_copies

if TYPE_CHECKING:
    from ._measurements import BoolArray
    from ._requestlog import Request

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


def pre_period_end(timestamps: Any, challenger: Any, mirrored: Any) -> float | None:
    """When the pre-period ended: the earliest challenger request that was not a mirror copy
    (aligned columns: timestamps, challenger flags, mirror-copy flags); None: none yet."""
    import numpy as np

    served = np.asarray(challenger, dtype=bool) & ~np.asarray(mirrored, dtype=bool)
    times = np.asarray(timestamps, dtype=np.float64)[served]
    return float(times.min()) if len(times) else None


def unit_rates(keys: Any, bad: BoolArray, end: float, cap: int | None = None) -> Covariates:
    """Per-unit error rates of the champion's served requests before ``end``.

    ``keys``: their unit keys as a numpy bytes array (``b""``: no unit; it counts in the
    mean only), ``bad`` aligned. ``cap``: units remembered (default
    :data:`MAX_COVARIATE_UNITS`). Without any request the mean is NaN (no covariate).
    """
    import numpy as np

    cap = MAX_COVARIATE_UNITS if cap is None else cap
    keys, errors = np.asarray(keys, dtype=np.bytes_), np.asarray(bad, dtype=bool)
    if not len(keys):
        return Covariates({}, math.nan, end)
    mean = float(errors.mean())
    keyed = keys != b""
    names, index = np.unique(keys[keyed], return_inverse=True)
    n = np.bincount(index, minlength=len(names))
    b = np.bincount(index, weights=errors[keyed], minlength=len(names))
    kept = np.argsort(-n, kind="stable")[:cap]
    rates = {names[i].decode(): float(b[i] / n[i]) for i in kept.tolist()}
    return Covariates(rates, mean, end)


def log_covariates(requests: Sequence[Request], cap: int | None = None) -> Covariates | None:
    """The covariates of a keyed request log, as the recorder that wrote it computed them
    (None: no unit keys, no served challenger request, or no champion request before it).

    Mirror copies are the rows :func:`~modelcanary.analysis._requestlog.mirror_copies`
    names (the ``mirrored`` column, else a challenger row whose ``request_id`` a champion row
    also carries), as the backtest counts served requests.
    """
    import numpy as np

    if not any(r.unit for r in requests):
        return None
    end = pre_period_end(
        [r.timestamp for r in requests],
        [r.version == "challenger" for r in requests],
        mirror_copies(requests),
    )
    if end is None:
        return None
    before = [r for r in requests if r.version == "champion" and r.timestamp < end]
    keys = np.array([(r.unit or "").encode() for r in before], dtype=np.bytes_)
    bad = np.array([r.status >= 500 for r in before], dtype=bool)
    found = unit_rates(keys, bad, end, cap)
    return None if math.isnan(found.mean) else found
