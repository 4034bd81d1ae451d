"""Sample size each stage needs: how many challenger requests until a regression is caught.

:func:`samples_to_detect` answers "with this baseline, this share and this effect, how many
challenger requests does the shipped sequential champion comparison need to reject with
probability ``power``?". It simulates the same test the judges run
(:class:`modelcanary.analysis._sequential.OddsMixture` on the conditional binomial of bad
events, rejecting at ``alpha * 0.75 / tests``, the share the tests from the first look
spend) on a stream of batches and takes the ``power``
quantile of the challenger requests seen at rejection: exact for the shipped test up to
simulation noise (``runs`` rollouts), not a normal approximation.

:func:`sample_plan` lays that number along a plan: the challenger requests each stage brings
at ``rps`` (served and mirrored copies: both are judged), their running total, and the first
stage at which the total reaches what is needed. A stage whose running total falls short is
where a regression of that size would most likely still pass unnoticed.

**The champion's pre-period.** :func:`pre_period` reads the champion's own request log from
before the rollout (the same CSV/DataFrame :func:`modelcanary.analysis.parse_log` reads) for
the baseline bad-event rate and, when requests carry a unit key (user or session), the
*design effect* of correlated units ``1 + (m - 1) * ICC`` (``m`` requests per unit on
average, ``ICC`` the intra-unit correlation of bad events, one-way ANOVA estimator). The
shipped judges use cluster-robust variance over units, so correlated users need that many
times more requests; the needed sample is multiplied by it.

**CUPED.** The unit-level error-rate comparison regresses each request's pre-period
covariate (its user's error rate on the champion before the challenger served traffic) out
of both versions' rates (:mod:`modelcanary.analysis._cuped`), which removes the persistent
part of the users' differences. :func:`pre_period` measures how much: it splits the log in
two halves by time, takes each unit's first-half rate as the covariate of its second-half
requests (the first-half mean for a unit new in the second half) and computes the judge's
own variance reduction on the second half, ``rho^2 = 1 - V_adjusted / V_unadjusted`` (the
cluster-robust variance of the users' totals, ``theta`` the request-level slope as in the
judge). A half-length covariate is noisier than the whole pre-period the judge uses, so
``rho`` is if anything understated. :func:`samples_to_detect` multiplies the needed sample by
``max(1, design_effect * (1 - rho^2))`` for ``error-rate`` (the judge adjusts no latency
comparison, and never goes below the binomial variance of independent requests by more
than the covariate's request-level fit, which the ``1`` conservatively ignores).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..spec._plan import StepPlan
from ._cuped import cuped_rho
from ._judges import DEFAULT_ALPHA
from ._restarts import restart_weight
from ._sequential import OddsMixture

if TYPE_CHECKING:
    from ._clustered import ClusteredState

Metric = Literal["error-rate", "latency"]


@dataclass(frozen=True)
class PrePeriod:
    """What the champion's pre-period says about the variance the judges will face."""

    baseline: float
    """Champion bad-event rate (errors per request)."""
    requests: int
    """Requests in the pre-period."""
    units: int
    """Distinct unit keys (0: requests carry none, treated as independent)."""
    design_effect: float
    """Variance inflation of correlated units, ``1 + (m - 1) * ICC`` (1.0 without units)."""
    rho: float = 0.0
    """CUPED: ``sqrt(1 - V_adjusted / V_unadjusted)`` of the unit-level comparison with the
    unit's earlier rate as covariate, measured across the log's two halves (0 without units)."""

    @property
    def variance_factor(self) -> float:
        """What the needed sample is multiplied by: ``max(1, design_effect * (1 - rho^2))``."""
        return variance_factor(self.design_effect, self.rho)

    def describe(self) -> str:
        """``unit design effect 3.1, with CUPED (rho = 0.62)`` (how the plan was sized)."""
        return describe_variance(self.design_effect, self.rho)


@dataclass(frozen=True)
class StageSamples:
    """One stage of a plan against the sample a regression needs."""

    stage: str
    """The stage, e.g. ``canary 20%``."""
    intervals: int
    """Analysis intervals the stage lasts at least."""
    challenger_requests: float
    """Expected challenger requests (served + mirrored) during the stage."""
    cumulative: float
    """Expected challenger requests from the start to the end of this stage."""
    needed: float | None
    """Challenger requests the test needs if all came at this stage's share (None: more
    than the simulation's cap)."""
    enough: bool
    """True when ``cumulative >= needed``: a regression of that size is caught by here."""


def _bad_probabilities(
    metric: Metric, baseline: float, effect: float, quantile: float, latency_sigma: float
) -> tuple[float, float]:
    """(champion, challenger) bad-event probabilities, as :func:`estimate_power` models them."""
    if metric == "error-rate":
        if not 0 < baseline < 1:
            raise ValueError(f"baseline error rate {baseline} must be between 0 and 1")
        return baseline, min(1.0, baseline * effect)
    from scipy.stats import norm

    z_q = float(norm.ppf(quantile))
    return 1.0 - quantile, float(1.0 - norm.cdf(z_q - math.log(effect) / latency_sigma))


def samples_to_detect(
    baseline: float,
    effect: float,
    share: float,
    *,
    metric: Metric = "error-rate",
    quantile: float = 0.99,
    latency_sigma: float = 0.5,
    alpha: float = DEFAULT_ALPHA,
    tests: int = 1,
    power: float = 0.8,
    design_effect: float = 1.0,
    cuped_rho: float = 0.0,
    batch: int = 50,
    runs: int = 300,
    cap: int = 2_000_000,
    seed: int = 0,
) -> float | None:
    """Challenger requests the champion comparison needs to reject with probability ``power``.

    ``share`` is the challenger's fraction of the requests both versions see (0.2 at a 20 %
    canary; 0.5 for a full mirror). ``tests`` is how many sequential tests share the metric's
    ``alpha`` (2 with an SLO test, as the judges split it). None when fewer than ``power`` of
    the simulated streams reject within ``cap`` challenger requests. ``design_effect`` and
    ``cuped_rho`` (from :func:`pre_period`) scale the simulated need by
    ``max(1, design_effect * (1 - cuped_rho^2))`` (CUPED: ``error-rate`` only, as the judge).
    """
    import numpy as np

    if effect <= 1 or not 0 < share < 1 or not 0 < power < 1:
        raise ValueError("need effect > 1, 0 < share < 1 and 0 < power < 1")
    p0, p1 = _bad_probabilities(metric, baseline, effect, quantile, latency_sigma)
    mixture = OddsMixture()
    rng = np.random.default_rng(seed)
    champ_batch = max(1, round(batch * (1 - share) / share))
    null_share = batch / (batch + champ_batch)
    level = alpha * restart_weight(0) / tests  # the judges' first-look share of alpha
    stops: list[float] = []
    for _ in range(runs):
        state, seen = mixture.start(), 0
        while seen < cap:
            e1 = int(rng.binomial(batch, p1))
            e0 = int(rng.binomial(champ_batch, p0))
            seen += batch
            if e0 + e1:
                state = mixture.update(state, e1, e0 + e1, null_share)
                if OddsMixture.rejects(state, level):
                    stops.append(seen)
                    break
    if len(stops) < power * runs:
        return None
    needed = float(np.quantile(np.array(stops, dtype=float), power * runs / len(stops)))
    rho = cuped_rho if metric == "error-rate" else 0.0
    return float(math.ceil(needed * variance_factor(design_effect, rho)))


def variance_factor(design_effect: float, rho: float) -> float:
    """``max(1, design_effect * (1 - rho^2))``: the unit-level variance over the binomial one
    after CUPED (``rho`` 0: none)."""
    if not 0 <= rho < 1:
        raise ValueError(f"cuped_rho {rho} must be in [0, 1)")
    return max(1.0, design_effect * (1.0 - rho * rho))


def describe_variance(design_effect: float, rho: float) -> str:
    """``unit design effect 3.1, with CUPED (rho = 0.62)``; ``independent requests`` when
    neither applies."""
    parts = []
    if design_effect > 1:
        parts.append(f"unit design effect {design_effect:.2g}")
    if rho > 0:
        parts.append(f"with CUPED (rho = {rho:.2f})")
    return ", ".join(parts) or "independent requests"


def sample_plan(
    plan: StepPlan,
    rps: float,
    *,
    baseline: float,
    effect: float,
    **kwargs: Any,
) -> list[StageSamples]:
    """Each stage's expected challenger requests at ``rps`` against what ``effect`` needs.

    Keyword arguments go to :func:`samples_to_detect` (``metric``, ``power``,
    ``design_effect``, ``alpha``...). A/B stages are refused, as in :func:`estimate_power`:
    the share of matching requests is unknown here.
    """
    if rps <= 0:
        raise ValueError("rps must be positive")
    if any(s.match for s in plan.stages):
        raise ValueError(
            "an A/B stage routes only the requests matching its conditions and their share is "
            "unknown here: simulate it as StepPlan.canary([share], interval_s)"
        )
    rows: list[StageSamples] = []
    cumulative = 0.0
    cache: dict[int, float | None] = {}
    for stage in plan.stages:
        copies = stage.mirror_weight * (100 - stage.weight) / 100
        challenger_percent = stage.weight + copies  # of the requests clients send
        share = min(0.99, challenger_percent / (100 + copies))
        key = round(share * 1000)
        if key not in cache:
            cache[key] = samples_to_detect(baseline, effect, share, **kwargs) if share > 0 else None
        during = rps * plan.interval_s * stage.intervals * challenger_percent / 100
        cumulative += during
        needed = cache[key]
        rows.append(
            StageSamples(
                stage=stage.describe(),
                intervals=stage.intervals,
                challenger_requests=during,
                cumulative=cumulative,
                needed=needed,
                enough=needed is not None and cumulative >= needed,
            )
        )
    return rows


def pre_period(log: Any, unit: str = "unit") -> PrePeriod:
    """Baseline error rate and unit design effect from the champion's pre-period log.

    ``log`` is a DataFrame, CSV path or rows with an ``error`` (or ``status``) column, as
    :func:`modelcanary.analysis.parse_log` reads; ``unit`` names the column with each
    request's unit key (user or session), if any.
    """
    from ._requestlog import parse_log

    requests = parse_log(log)
    keys = _unit_keys(log, unit, len(requests))
    champion = [i for i, r in enumerate(requests) if r.version == "champion"]
    if not champion:
        raise ValueError("the pre-period log has no champion requests")
    units = [keys[i] for i in champion] if keys else []
    # an error is what the backtest counts as one: HTTP status >= 500
    bad = [1.0 if requests[i].status >= 500 else 0.0 for i in champion]
    baseline = sum(bad) / len(bad)
    if not units:
        return PrePeriod(baseline, len(bad), 0, 1.0)
    groups: dict[str, list[float]] = {}
    for key, value in zip(units, bad, strict=True):
        groups.setdefault(key, []).append(value)
    order = sorted(range(len(champion)), key=lambda j: requests[champion[j]].timestamp)
    rho = cuped_rho([units[j] for j in order], [bad[j] for j in order])
    return PrePeriod(baseline, len(bad), len(groups), design_effect_of(groups.values()), rho)


def design_effect_of(groups: Iterable[list[float]]) -> float:
    """``1 + (m0 - 1) * ICC`` with the one-way ANOVA ICC estimator (floored at 0).

    ``m0`` is the ANOVA's effective group size ``(N - sum(n_i^2) / N) / (k - 1)``.
    """
    sizes_values = [g for g in groups if g]
    k = len(sizes_values)
    total = sum(len(g) for g in sizes_values)
    if k < 2 or total <= k:
        return 1.0
    grand = sum(sum(g) for g in sizes_values) / total
    between = sum(len(g) * (sum(g) / len(g) - grand) ** 2 for g in sizes_values) / (k - 1)
    within = sum(sum((v - sum(g) / len(g)) ** 2 for v in g) for g in sizes_values) / (total - k)
    m0 = (total - sum(len(g) ** 2 for g in sizes_values) / total) / (k - 1)
    if between + (m0 - 1) * within <= 0:
        return 1.0
    icc = max(0.0, (between - within) / (between + (m0 - 1) * within))
    return 1.0 + (m0 - 1) * icc


def _unit_keys(log: Any, unit: str, count: int) -> list[str]:
    """The unit column of ``log`` as strings ([] when it has none or it is blank)."""
    column: Iterable[Any] | None = None
    if hasattr(log, "columns") and unit in log.columns:
        column = log[unit].tolist()
    elif isinstance(log, list) and log and isinstance(log[0], Mapping):
        column = [row.get(unit) for row in log]
    if column is None:
        return []
    keys = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in column]
    if len(keys) != count or not any(keys):
        return []
    return keys


@dataclass(frozen=True)
class Progress:
    """How far a sequential metric's challenger sample is toward catching ``effect``."""

    seen: int
    """Challenger requests judged so far."""
    needed: float | None
    """Requests the test needs at the traffic's current share to catch ``effect`` with
    ``power`` (None: more than the simulation's cap, or no champion baseline yet)."""
    effect: float
    power: float
    design_effect: float = 1.0
    """The unit-level test's variance over the binomial one (1: requests judged one by one)."""
    cuped_rho: float = 0.0
    """The CUPED correlation the judge realises (0: no pre-period covariate)."""

    @property
    def basis(self) -> str:
        """`` with CUPED (rho = 0.62)`` (and the design effect) when they shaped ``needed``;
        empty for requests judged one by one."""
        if self.design_effect <= 1 and self.cuped_rho <= 0:
            return ""
        return " " + describe_variance(self.design_effect, self.cuped_rho)


def _rounded(value: float) -> float:
    """Two significant digits: keys of the cache (the need barely moves between looks)."""
    return float(f"{value:.2g}")


@functools.lru_cache(maxsize=256)
def _needed(baseline: float, effect: float, share: float, power: float) -> float | None:
    return samples_to_detect(baseline, effect, share, power=power, runs=150, batch=25, cap=200_000)


def evidence_progress(
    n0: int,
    x0: int,
    n1: int,
    *,
    effect: float = 2.0,
    power: float = 0.8,
    clustered: ClusteredState | None = None,
) -> Progress:
    """The widget's "n of ~N needed" for a metric with ``n0`` champion requests (``x0`` bad
    events) and ``n1`` challenger requests: N from the champion's observed rate (half-count
    floor, so a clean champion still gives a baseline) at the current traffic share.

    ``clustered``: the metric's unit-level test state, when it judges per user; N is then
    scaled by the variance that test has, its design effect times what CUPED leaves
    (``1 - rho^2``, the ratio of the judge's adjusted to unadjusted variance)."""
    design, rho = 1.0, 0.0
    if clustered is not None:
        from ._clustered import design_effects
        from ._cuped import variance_ratio

        design = max(design_effects(clustered))
        ratio = variance_ratio(clustered)
        rho = 0.0 if ratio is None else min(0.99, 1.0 - ratio) ** 0.5
    if n0 <= 0 or n1 <= 0:
        return Progress(max(0, n1), None, effect, power, design, rho)
    baseline = min(0.5, (x0 + 0.5) / (n0 + 1.0))
    share = min(0.95, max(0.01, n1 / (n0 + n1)))
    if baseline * effect >= 1:
        return Progress(n1, None, effect, power, design, rho)
    needed = _needed(_rounded(baseline), effect, round(share, 2), power)
    if needed is not None:
        needed = float(math.ceil(needed * variance_factor(design, rho)))
    return Progress(n1, needed, effect, power, design, rho)
