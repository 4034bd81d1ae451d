"""The recorder's pre-period covariates: each unit's error rate on the champion before the
challenger served traffic (CUPED, :mod:`modelcanary.analysis._cuped`).

A thin adapter: the rule (what the pre-period is, the rates, the mean, the cap) is
:mod:`modelcanary.analysis._covariates`, which the backtest applies to a request log too, so
a recorded run and its replayed log give each request the same covariate. Here the
recorder's rows are read: numpy over the sealed chunks' columns plus the open rows.

Computed once, when the first window past the pre-period's end is read, from the rows the
recorder still keeps, and fixed from then on: a covariate must not depend on anything after
assignment. Bounded: at most :data:`MAX_COVARIATE_UNITS` units are remembered, those with
the most pre-period requests; any other unit gets the mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..analysis._covariates import MAX_COVARIATE_UNITS as MAX_COVARIATE_UNITS  # re-exported
from ..analysis._covariates import Covariates as Covariates  # re-exported
from ..analysis._covariates import unit_rates


class Columns(Protocol):
    """The sealed-chunk columns read here (the recorder's ``_Chunk``)."""

    flags: Any
    """Bit 0: challenger; bit 1: a mirror copy."""
    status: Any
    units: Any
    """Unit keys as bytes (``b""``: none)."""


def pre_period_rates(
    parts: Sequence[tuple[Columns, int, int]], tail: Sequence[tuple[Any, ...]], end: float
) -> Covariates:
    """Per-unit error rates of the champion's served requests before ``end`` (NaN mean: none).

    ``parts``: sealed chunk slices, ``tail``: open rows (the recorder's row tuples)."""
    import numpy as np

    units, bad = [], []
    for chunk, lo, hi in parts:
        served = chunk.flags[lo:hi] == 0  # champion, not a mirror copy
        units.append(chunk.units[lo:hi][served])
        bad.append(chunk.status[lo:hi][served] >= 500)
    rows = [row for row in tail if row[1] == "champion" and not row[6] and row[0] < end]
    units.append(np.array([row[7].encode() for row in rows], dtype=np.bytes_))
    bad.append(np.array([row[3] >= 500 for row in rows], dtype=bool))
    # the cap is read here, at call time: this module's name is the recorder's setting
    return unit_rates(np.concatenate(units), np.concatenate(bad), end, MAX_COVARIATE_UNITS)
