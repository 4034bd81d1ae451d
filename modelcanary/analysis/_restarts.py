"""Restarted sequential tests: a fault that starts late is not drowned by earlier good data.

The request-level tests of :mod:`._judges` are mixture SPRTs on *cumulative* data. A
challenger that is healthy for a while and then fails (intermittent failures, a leak, a bad
cache entry that appears later) starts with a log likelihood ratio driven far below zero
by the good traffic: after a clean mirror minute (6000 requests at 0.2 % errors) the SLO
test needs hundreds of extra errors to come back, so a 10 s burst of 25 % errors at a 5 %
share passed unseen and the challenger served ~50 users' requests per burst before the
cumulative evidence caught up.

The fix is the standard one for changes at unknown times, made anytime-valid by spending
alpha across restart points (a finite union of e-processes, as in the e-detectors of Shin,
Ramdas & Rinaldo, 2023, with a Bonferroni weight per start instead of an average run
length): besides the test from the start (weight :data:`FIRST_WEIGHT` of the metric's
alpha), a **fresh copy of each test starts at the beginning of every judged interval**; the
k-th restart gets the weight ``(1 - FIRST_WEIGHT) * 6 / (pi^2 k^2)`` (these sum to
``1 - FIRST_WEIGHT``). A test rejects when its always-valid p-value is at most its weight
times alpha, so the chance that *any* of them ever rejects a healthy challenger is still at
most alpha (a union bound; Ville's inequality for each). Only the :data:`KEPT` most recent
restarts are kept (dropping a test only removes chances to reject). Restarts cover the odds
mixtures (SLO test and rate-ratio comparison, request-level); the Gaussian difference test
and the unit-level tests run from the start only.
"""

from __future__ import annotations

import math

from ..spec._base import Model
from ._sequential import MixtureState, OddsMixture

FIRST_WEIGHT = 0.75
"""Share of a metric's alpha spent by the tests that run from the first look."""
KEPT = 8
"""Restarted tests kept per metric (the most recent ones)."""
_MIXTURE = OddsMixture()


class Restart(Model):
    """Tests started afresh at the beginning of one interval (JSON-serialisable)."""

    index: int
    """k: the k-th restart of the metric (1 at the start of the second judged interval)."""
    slo: MixtureState | None = None
    """SLO test on the data since this restart."""
    champion: MixtureState | None = None
    """Champion comparison (rate ratio) on the data since this restart."""


def restart_weight(index: int) -> float:
    """Share of the metric's alpha the tests of restart ``index`` may spend (0: the first)."""
    if index == 0:
        return FIRST_WEIGHT
    return (1 - FIRST_WEIGHT) * 6.0 / (math.pi**2 * index**2)


def opened(restarts: list[Restart], made: int) -> list[Restart]:
    """The restarts with a fresh one (index ``made + 1``), the oldest dropped beyond KEPT."""
    return [*restarts, Restart(index=made + 1)][-KEPT:]


def fed(
    restarts: list[Restart],
    slo: tuple[int, int, float] | None,
    comparison: tuple[int, int, float] | None,
) -> list[Restart]:
    """Each restart after one batch: ``slo`` = (bad, requests, null rate) fed to the SLO test,
    ``comparison`` = (challenger's bad, both versions' bad, null share) to the comparison."""
    out = []
    for r in restarts:
        s, c = r.slo, r.champion
        if slo is not None and slo[1] > 0:
            s = _MIXTURE.update(s or _MIXTURE.start(), *slo)
        if comparison is not None and comparison[1] > 0:
            c = _MIXTURE.update(c or _MIXTURE.start(), *comparison)
        out.append(Restart(index=r.index, slo=s, champion=c))
    return out


def restart_p_values(restarts: list[Restart]) -> list[tuple[str, int, MixtureState, float]]:
    """(``slo`` | ``champion``, restart index, the test's state, its p-value over its weight)
    per test with data: comparable with the first tests' ``p / FIRST_WEIGHT``."""
    out = []
    for r in restarts:
        for kind, test in (("slo", r.slo), ("champion", r.champion)):
            if test is not None and test.trials:
                p = OddsMixture.p_value(test) / restart_weight(r.index)
                out.append((kind, r.index, test, p))
    return out
