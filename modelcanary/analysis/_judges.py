"""Per-metric judges: threshold (Flagger) and sequential (anytime-valid), and which applies.

Every judge returns a :class:`~modelcanary.analysis._checks.CheckResult`. The sequential judge
also returns its new serialisable state, which the engine keeps in the rollout status.

The sequential judge runs, on cumulative data since the rollout started:

1. the **SLO test** (absolute ranges): is the challenger certainly outside ``thresholdRange``?
   Errors: H0 ``error rate <= max``. Latency ``pNN <= max`` is H0 ``P(latency > max) <= 1 - q``.
2. the **champion comparison** (when the champion was measured): is the challenger certainly
   worse than the champion? Errors: H0 ``rate ratio <= r0`` (``r0`` = the ratio ``max`` of a
   relative check, else 1) or, for ``comparison: difference``, H0 ``p1 - p0 <= max`` (Johari
   et al.'s Gaussian mSPRT). Latency: H0 "the challenger is no more often slower than the
   batch's pooled q-quantile (times the allowed ratio, plus the allowed difference) than the
   champion".

``alpha`` is split evenly between the two tests, so the metric's false-rollback rate is at
most ``alpha`` (see :mod:`modelcanary.analysis._sequential`); metrics without their own
``alpha`` share the rollout's 0.01 (:func:`~modelcanary.analysis._interval.shared_alpha`).
A rejection is decisive: the rollout rolls back at once. Otherwise the interval's value
inside the range passes and outside it waits (holds the step). With data keyed by user or
session the tests are unit-level (:mod:`modelcanary.analysis._judge_units`). What a batch
counts as bad, the nulls and the evidence's words are :mod:`._sequential_events`.

``win-rate`` (LLM answer quality) has its own sequential test: the betting non-inferiority
test on the judged answer pairs of ``IntervalData.judged`` (:mod:`._winrate`), kept in
:attr:`SequentialState.win_rate` and fed, looked at and carried like the others.
"""

from __future__ import annotations

from dataclasses import replace

from ..spec._base import Model
from ..spec._catalogue import LATENCY_METRICS, SEQUENTIAL_METRICS
from ..spec._llm import DEFAULT_MARGIN
from ..spec._metric_spec import MetricSpec, NoDataPolicy
from ._checks import CheckResult, fmt, in_range, reason_name, threshold_check
from ._clustered import ClusteredState
from ._measurements import Counts, IntervalData, NoData
from ._restarts import Restart, fed, opened, restart_p_values, restart_weight
from ._sequential import GaussianState, MixtureState, OddsMixture, update_gaussian
from ._sequential_events import (
    bad_events,
    batch_comparison,
    champion_breaches,
    comparison_words,
    describe_bound,
    difference_margin,
    no_requests,
    pair_counts,
    raw_values,
    slo_null,
    slo_words,
)
from ._sli import sli_value
from ._winrate import (
    WinRateState,
    feed_judged,
    inferiority_p_value,
    judged_by,
    win_rate_check,
    win_rate_verdict,
)

DEFAULT_ALPHA = 0.01
"""Default false-rollback budget of a rollout's sequential judge (shared by its metrics)."""
_MIXTURE = OddsMixture()


class SequentialState(Model):
    """Resumable state of one metric's sequential tests."""

    slo: MixtureState | None = None
    """SLO test (challenger alone against the range)."""
    champion: MixtureState | None = None
    """Champion comparison by rate ratio (odds mixture)."""
    difference: GaussianState | None = None
    """Champion comparison by difference (Gaussian mSPRT)."""
    pairs: GaussianState | None = None
    """Cumulative requests and bad events of both versions (no test: for confidence bands)."""
    incidents: int = 0
    """Batches kept out of the SLO test because the champion breached the SLO in the same
    window too (an environment incident, not the challenger's fault)."""
    clustered: ClusteredState | None = None
    """Unit-level tests (data keyed by user or session): used instead of the request-level
    ones once present (see :mod:`modelcanary.analysis._clustered`)."""
    restarts: list[Restart] = []
    """The SLO test and comparison restarted at the start of recent intervals (a fault that
    starts late, :mod:`modelcanary.analysis._restarts`)."""
    restarts_made: int = 0
    """Restarts opened so far (the next one's index is this plus one)."""
    win_rate: WinRateState | None = None
    """``win-rate`` only: the non-inferiority test on judged answer pairs
    (:mod:`modelcanary.analysis._winrate`; it runs from the start, without restarts)."""


WIN_RATE = "win-rate"
"""The metric judged by the sequential win-rate test on judged answer pairs."""


def select_judge(metric: MetricSpec, data: IntervalData) -> str:
    """The judge of a metric: the spec's, else sequential when it can run, else threshold.

    Sequential is the default for error-rate, request-success-rate and latency SLIs when the
    champion was measured in the same window (a baseline) and both versions have per-request
    data (counts, latency samples); provider-computed scalars fall back to threshold.
    """
    if metric.judge is not None:
        return metric.judge
    if metric.is_builtin and metric.name == WIN_RATE:
        return "sequential"  # judged pairs or not: missing pairs never pass (win_rate_check)
    if not (metric.is_builtin and metric.name in SEQUENTIAL_METRICS):
        return "threshold"
    if metric.error_class is not None:
        return "threshold"  # one class of LLM errors: the per-request tests count them all
    if metric.name in data.challenger.values or metric.name in data.champion.values:
        return "threshold"
    if raw_values(metric, data.champion) is None:
        return "threshold"
    if raw_values(metric, data.challenger) is None and not no_requests(metric, data.challenger):
        return "threshold"
    return "sequential"


def sequential_check(
    metric: MetricSpec,
    data: IntervalData,
    state: SequentialState | None,
    no_data: NoDataPolicy,
    alpha: float | None = None,
    *,
    update: bool = True,
    serves: bool = True,
) -> tuple[CheckResult, SequentialState]:
    """The interval check plus the anytime-valid tests (fed this window unless ``update`` is
    False, i.e. when its batches were already fed by :func:`update_sequential`).

    Only the anytime-valid tests fail a sequential metric, so its false-rollback rate is
    ``alpha`` whatever the number of looks. An interval whose value is outside the range
    without a rejection is *waiting* (inconclusive, holds the step): one noisy interval is
    not evidence, and the check never fails while its p-value says "no difference shown".
    A breach the champion shares in the same window is reported as an environment incident;
    a challenger that served no requests yet is waiting too (low traffic, not missing data).
    """
    from ._judge_units import has_units, within_unit_noise

    alpha = alpha or metric.alpha or DEFAULT_ALPHA
    if metric.name == WIN_RATE:
        old = (state or SequentialState()).win_rate
        result, win_rate = win_rate_check(metric, data.judged, old, no_data, alpha)
        return result, (state or SequentialState()).model_copy(update={"win_rate": win_rate})
    point = threshold_check(metric, data, no_data, judge="sequential")
    if raw_values(metric, data.challenger) is None:
        if raw_values(metric, data.champion) is not None and no_requests(metric, data.challenger):
            point = _waiting(metric, "no challenger requests in this window yet", None)
        return point, state or SequentialState()
    new_state = (
        update_sequential(metric, data, state, serves=serves)
        if update
        else state or SequentialState()
    )
    verdict = evaluate_sequential(metric, new_state, alpha)
    p_adj = verdict[2] if verdict is not None else 1.0
    if verdict is not None and verdict[0]:
        reason = rejection_reason(metric, verdict[1], p_adj, alpha)
        result = replace(point, verdict="fail", reason=reason, decisive=True, p_value=p_adj)
        return result, new_state
    if point.verdict != "fail":
        reason = f"{point.reason}; sequential p={p_adj:.3g} (alpha {alpha:g})"
        return replace(point, reason=reason, p_value=p_adj), new_state
    noise = within_unit_noise(metric, data) if has_units(data) else None
    if noise is not None:
        reason = (
            f"{point.reason} on the users this window served, within their per-user noise "
            f"({noise}); the sequential tests show no fault (p={p_adj:.3g} > alpha {alpha:g})"
        )
        return replace(point, verdict="pass", reason=reason, p_value=p_adj), new_state
    shared = _shared_breach(metric, data)
    if shared is not None:
        why = (
            f"{reason_name(metric)}: environment incident - the champion is outside the SLO in the "
            f"same window ({shared}; challenger {fmt(point.value, metric.name)}), so this is "
            f"not held against the challenger; the sequential tests show no challenger fault "
            f"(p={p_adj:.3g} > alpha {alpha:g})"
        )
    else:
        why = (
            f"{point.reason} in this interval only; the sequential test does not show it "
            f"(always-valid p={p_adj:.3g} > alpha {alpha:g}): not enough evidence yet"
        )
    return replace(point, verdict="inconclusive", reason=why, p_value=p_adj, waiting=True), (
        new_state
    )


def rejection_reason(metric: MetricSpec, evidence: str, p_value: float, alpha: float) -> str:
    """The reason line of a sequential rejection (the interval's check and a batch's look):
    ``error-rate: sequential test rejects - <evidence>; always-valid p=... <= alpha ...``."""
    return (
        f"{reason_name(metric)}: sequential test rejects - {evidence}; "
        f"always-valid p={p_value:.3g} <= alpha {alpha:g}"
    )


def _waiting(metric: MetricSpec, why: str, p_value: float | None) -> CheckResult:
    """A check that holds for more evidence (never a pass, never a failure)."""
    from ._checks import metric_key

    rng = metric.effective_range()
    return CheckResult(
        metric.name,
        metric_key(metric),
        "inconclusive",
        f"{metric_key(metric)}: {why}: not enough evidence yet",
        min=rng.min if rng else None,
        max=rng.max if rng else None,
        judge="sequential",
        p_value=p_value,
        waiting=True,
    )


def _shared_breach(metric: MetricSpec, data: IntervalData) -> str | None:
    """``champion 8.4 % outside max 1 %`` when the champion breaches the metric's absolute
    range in the same window (an environment incident), else None."""
    rng = metric.effective_range()
    if metric.relative_to is not None or rng is None:
        return None
    try:
        champion = sli_value(metric, data, data.champion)
    except ValueError:
        return None
    if isinstance(champion, NoData) or in_range(champion, rng):
        return None
    return f"champion {fmt(champion, metric.name)} outside {describe_bound(metric)}"


def update_sequential(
    metric: MetricSpec, data: IntervalData, state: SequentialState | None, *, serves: bool = True
) -> SequentialState:
    """Feed one batch (an interval, or a few seconds of it) to the metric's tests
    (``serves``: the plan sends the challenger client requests at some stage)."""
    from ._judge_units import has_units, update_units

    state = state or SequentialState()
    if metric.name == WIN_RATE:
        if not data.judged:
            return state
        margin = metric.margin if metric.margin is not None else DEFAULT_MARGIN
        judged = judged_by(metric, data.judged)
        win_rate = feed_judged(state.win_rate or WinRateState(), judged, margin)
        return state.model_copy(update={"win_rate": win_rate})
    if state.clustered is not None or has_units(data):
        return update_units(metric, data, state, serves=serves)
    chal = raw_values(metric, data.challenger)
    if chal is None:
        return state
    champ = raw_values(metric, data.champion)
    slo, comp, diff, pairs = state.slo, state.champion, state.difference, state.pairs
    slo_p0 = slo_null(metric) if metric.relative_to is None else None
    incidents = state.incidents
    slo_batch: tuple[int, int, float] | None = None
    comparison_batch: tuple[int, int, float] | None = None
    if slo_p0 is not None:
        if champ is not None and champion_breaches(metric, champ, slo_p0):
            incidents += 1  # time-matched: the champion breached in this very window too
        else:
            events, trials = bad_events(metric, chal)
            slo = _MIXTURE.update(slo or _MIXTURE.start(), events, trials, slo_p0)
            slo_batch = (events, trials, slo_p0)
    if champ is not None:
        n0, e0, n1, e1 = pair_counts(metric, chal, champ)
        pairs = GaussianState(
            n0=(pairs.n0 if pairs else 0) + n0,
            x0=(pairs.x0 if pairs else 0) + e0,
            n1=(pairs.n1 if pairs else 0) + n1,
            x1=(pairs.x1 if pairs else 0) + e1,
        )
        if metric.comparison == "difference" and metric.name not in LATENCY_METRICS:
            assert isinstance(chal, Counts) and isinstance(champ, Counts)
            diff = update_gaussian(
                diff or GaussianState(),
                (champ.total, champ.errors),
                (chal.total, chal.errors),
                difference_margin(metric),
            )
        else:
            e1, e0, n1, n0, r0 = batch_comparison(metric, chal, champ)
            if n1 > 0 and n0 > 0 and e0 + e1 > 0:
                p0 = r0 * n1 / (r0 * n1 + n0)
                comp = _MIXTURE.update(comp or _MIXTURE.start(), e1, e0 + e1, p0)
                comparison_batch = (e1, e0 + e1, p0)
    return state.model_copy(
        update={
            "slo": slo,
            "champion": comp,
            "difference": diff,
            "pairs": pairs,
            "incidents": incidents,
            "restarts": fed(state.restarts, slo_batch, comparison_batch),
        }
    )


def open_restart(state: SequentialState) -> SequentialState:
    """Start fresh copies of the request-level tests from the next batch on (called at the
    end of each judged interval; :mod:`modelcanary.analysis._restarts`)."""
    if state.clustered is not None or (state.slo is None and state.champion is None):
        return state
    return state.model_copy(
        update={
            "restarts": opened(state.restarts, state.restarts_made),
            "restarts_made": state.restarts_made + 1,
        }
    )


def evaluate_sequential(
    metric: MetricSpec, state: SequentialState, alpha: float
) -> tuple[bool, str, float] | None:
    """(rejected?, what the strongest evidence says, Bonferroni-adjusted always-valid p).

    None when no test has data yet. ``alpha`` is split over the tests the metric can run
    (SLO test for absolute ranges, plus the champion comparison).
    """
    from ._judge_units import unit_evidence

    if metric.name == WIN_RATE:
        if state.win_rate is None or not state.win_rate.pairs:
            return None
        p_adj = min(1.0, 2 * inferiority_p_value(state.win_rate))  # alpha/2 each way
        rate = state.win_rate.win_rate or 0.0
        words = f"challenger's answers worse than the champion's (win rate {rate:.2f})"
        return win_rate_verdict(state.win_rate, alpha) == "fail", words, p_adj
    evidence: list[tuple[str, float]] = []
    if state.clustered is not None:
        evidence = unit_evidence(metric, state.clustered)
    if state.slo is not None:
        evidence.append((slo_words(metric, state.slo), OddsMixture.p_value(state.slo)))
    if state.difference is not None:
        diff = state.difference
        words = (
            f"error-rate difference > {fmt(difference_margin(metric))} vs champion "
            f"({diff.x1}/{diff.n1} vs {diff.x0}/{diff.n0}, Gaussian mSPRT)"
        )
        evidence.append((words, diff.min_p_value))
    if state.champion is not None:
        evidence.append(
            (comparison_words(metric, state.champion), OddsMixture.p_value(state.champion))
        )
    # the tests from the first look spend FIRST_WEIGHT of alpha, the restarts the rest
    evidence = [(words, p / restart_weight(0)) for words, p in evidence]
    for kind, index, test, p in restart_p_values(state.restarts):
        words = slo_words(metric, test) if kind == "slo" else comparison_words(metric, test)
        evidence.append((f"{words}, since restart {index} (a fresh test from a later interval)", p))
    if not evidence:
        return None
    words, p = min(evidence, key=lambda e: e[1])
    p_adj = min(1.0, p * sequential_tests(metric))
    return p_adj <= alpha, words, p_adj


def sequential_tests(metric: MetricSpec) -> int:
    """How many tests share the metric's ``alpha`` (Bonferroni): the champion comparison,
    plus the SLO test when the metric has an absolute range."""
    return 2 if metric.relative_to is None and slo_null(metric) is not None else 1


def comparison_alpha(metric: MetricSpec, alpha: float) -> float:
    """The part of the metric's ``alpha`` the champion comparison from the first look spends
    (its Bonferroni share, times the first tests' weight beside the restarted ones): the
    level of its always-valid confidence band (:mod:`modelcanary.analysis._bands`)."""
    return alpha / sequential_tests(metric) * restart_weight(0)
