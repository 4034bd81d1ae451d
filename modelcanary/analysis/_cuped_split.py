"""How the CUPED-adjusted champion comparison spends its alpha share: one plan per rollout.

The unit-level error-rate comparison (:mod:`modelcanary.analysis._clustered`) can run two
statistics: the unadjusted one, and the CUPED-adjusted one (:mod:`modelcanary.analysis._cuped`)
once requests carry a pre-period covariate. Each is always valid on its own; a single
running minimum over both (the unadjusted statistic's through a mirror phase, the adjusted
one's after) is the union of two tests, whose false-rejection rate is bounded by the sum of
their levels, twice the share. So the share is allotted once, from a fact of the rollout's
design rather than of its outcomes, when the comparison's first batch with challenger
requests arrives (before it no look can reject: the challenger has no user bucket):

* ``adjusted``: that batch carries covariates (the pre-period ended before the challenger's
  first request was judged: a canary after keyed champion traffic). One statistic, the
  adjusted one, from the first look to the last (``theta = 0``, i.e. the unadjusted
  estimate, until a covariate varies), at the full share: no cost.
* ``split``: it carries none, but the window was mirrored (a mirror phase is a pre-period:
  covariates arrive once the challenger serves). Both statistics run, each with its own
  running minimum, and the comparison's p is ``min(p_u / w, p_c / (1 - w))`` with ``w`` =
  :data:`UNADJUSTED_WEIGHT` (weighted Bonferroni): ``P(reject) <= w s + (1 - w) s = s`` for
  the share ``s``, whatever the dependence between the two.
* ``unadjusted``: neither (no covariate, no mirror, so the local runtime will never compute
  one: the pre-period ended at the challenger's first served request without a keyed
  champion request before it). The unadjusted statistic alone at the full share; a covariate
  that arrives anyway later (``Recorder.end_pre_period`` called by hand) is not used by the
  test (its sums are still kept, for the report).

The plan is chosen by :func:`plan_of` and kept in :attr:`ClusteredState.split
<modelcanary.analysis._clustered.ClusteredState.split>`; a status written before plans
existed (no field) chooses at its next batch, which still depends on design alone.
"""

from __future__ import annotations

from typing import Literal

from ..spec._base import Model

Plan = Literal["adjusted", "split", "unadjusted"]

UNADJUSTED_WEIGHT = 0.25
"""The unadjusted statistic's part of the comparison's share in a ``split`` plan; the adjusted
one gets the rest. The unadjusted statistic runs alone only through the mirror phase (short
beside the canary, and a fault its copies show clearly still rejects there at a quarter of
the share); after it, both read the same requests and the adjusted one has the smaller
variance, so the share goes where the evidence comes from (``benchmarks/cuped.py``: a quarter
lost less detection than an even split in every mirror scenario)."""


class CupedSplit(Model):
    """The comparison's plan and, in a ``split`` plan, each statistic's running minimum."""

    plan: Plan
    """``adjusted``, ``split`` or ``unadjusted`` (see :mod:`modelcanary.analysis._cuped_split`)."""
    unadjusted_p: float = 1.0
    """Running minimum of the unadjusted statistic's p (``split`` only)."""
    adjusted_p: float = 1.0
    """Running minimum of the CUPED-adjusted statistic's p (``split`` only; 1 until a
    covariate varies)."""


def plan_of(covariates: bool, mirrored: bool | None) -> Plan:
    """The plan, from the comparison's first batch with challenger requests: does it carry a
    covariate; was its window mirrored (None: unknown, counted as not)."""
    if covariates:
        return "adjusted"
    return "split" if mirrored else "unadjusted"


def split_p(split: CupedSplit) -> float:
    """The comparison's p in a ``split`` plan: weighted Bonferroni over both running minima."""
    return min(
        1.0,
        split.unadjusted_p / UNADJUSTED_WEIGHT,
        split.adjusted_p / (1.0 - UNADJUSTED_WEIGHT),
    )
