"""One analysis interval: run every metric's judge, aggregate, and say what the rollout does.

The engine calls :func:`analyse_interval` once per interval with that window's measurements
and the :class:`AnalysisState` it stored in the status last time; it stores the returned
state again. The state is a small JSON-serialisable model (counters plus the sequential
tests' sufficient statistics), so a restarted runtime resumes exactly where it was.

Rules (Flagger's, plus modelcanary's explicit no-data and sequential handling):

* a **decisive** failure (a sequential test rejected) rolls back at once;
* a **failed** interval adds one failed check; ``failedChecks >= threshold`` rolls back
  (in the same tick - Flagger notices it one interval later);
* an **inconclusive** or **errored** interval holds the weight and counts towards
  ``inconclusiveLimit`` consecutive ones, after which the rollout fails as inconclusive;
* a **waiting** interval (inconclusive only because evidence is still lacking: too little
  challenger traffic, a breach the champion shares, an out-of-range value the sequential
  test does not confirm, a threshold check on fewer samples than its kind needs
  (:mod:`._min_sample`), a sequential metric's one-window fallback to its interval value)
  holds the weight without counting towards either limit; only waiting longer than the
  hold deadline (``progressDeadlineSeconds``, default 600 s) in a row fails the rollout as
  inconclusive, so missing evidence never promotes;
* a **passing** interval advances to the next step (and resets the inconclusive streak);
* a mirror interval whose challenger was sent under 90 % of its copies (at least 20 asked
  for: it could not keep up or was unreachable) cannot pass: its would-be passes are
  inconclusive, with the coverage in their reasons (:mod:`._mirror_coverage`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from ..spec._analysis import Analysis
from ..spec._base import Model, parse_duration
from ..spec._catalogue import SEQUENTIAL_METRICS
from ..spec._metric_spec import MetricSpec
from ..spec._plan import serves_challenger
from ..spec._status import AnalysisRecord, Phase
from ._checks import CheckResult, Verdict, metric_key, threshold_check
from ._drift_pool import PredictionPool, drift_check
from ._judges import (
    DEFAULT_ALPHA,
    SequentialState,
    evaluate_sequential,
    open_restart,
    rejection_reason,
    select_judge,
    sequential_check,
    update_sequential,
)
from ._kayenta import SCORE_JUDGE, kayenta_checks
from ._measurements import IntervalData
from ._min_sample import hold_small_sample
from ._mirror_coverage import coverage_hold
from ._warmup import started_at, warmup_checks, warmup_left, warmup_message

DEFAULT_HOLD_DEADLINE_S = 600.0
"""How long a step may wait for evidence by default (Flagger's progressDeadlineSeconds)."""
Action = Literal["advance", "hold", "rollback", "inconclusive"]
"""advance: next step; hold: stay; rollback: fail now; inconclusive: fail as inconclusive."""


class AnalysisState(Model):
    """Analysis state carried from interval to interval (kept in the rollout status)."""

    iterations: int = 0
    """Intervals analysed so far."""
    failed_checks: int = 0
    """Failed intervals counted towards ``threshold``."""
    inconclusive_checks: int = 0
    """Consecutive inconclusive or errored intervals."""
    sequential: dict[str, SequentialState] = {}
    """Sequential tests' state by metric key."""
    held: int = 0
    """Consecutive intervals that waited for evidence (bounded by the hold deadline)."""
    pools: dict[str, PredictionPool] = {}
    """Drift checks' recent predictions by metric key, while one interval is too few to judge."""
    started: float | None = None
    """Start of the first window analysed (seconds, the windows' clock): where the warm-up
    (``analysis.warmup``) is counted from."""


@dataclass(frozen=True)
class IntervalResult:
    """What one interval decided, why, and the state to store."""

    verdict: Verdict
    """pass, fail, inconclusive or error."""
    action: Action
    """What the rollout should do next."""
    checks: list[CheckResult]
    """Every metric's result (plus the canary score with the mann-whitney judge)."""
    state: AnalysisState
    """State to store and pass to the next interval."""
    message: str
    """One line summarising the interval."""
    decisive: bool = False
    """True when a sequential test decided (rollback without waiting for ``threshold``)."""
    failing: list[str] = field(default_factory=list)
    """Keys of the checks that failed."""

    def to_record(
        self,
        time: str,
        phase: Phase = Phase.PROGRESSING,
        canary_weight: int = 0,
        mirror_weight: int = 0,
    ) -> AnalysisRecord:
        """The history record the engine stores in ``status.history``."""
        return AnalysisRecord(
            time=time,
            phase=phase,
            canary_weight=canary_weight,
            mirror_weight=mirror_weight,
            verdict=self.verdict,
            checks=[c.to_record() for c in self.checks],
            message=self.message,
        )


def analyse_interval(
    analysis: Analysis,
    data: IntervalData,
    state: AnalysisState | None = None,
    *,
    batches_checked: bool = False,
    hold_deadline_s: float = DEFAULT_HOLD_DEADLINE_S,
) -> IntervalResult:
    """Judge every metric on this interval's data and decide the rollout's next move.

    ``batches_checked``: the interval's traffic was already fed to the sequential tests
    batch by batch with :func:`check_batch`, so it is not counted twice.
    ``hold_deadline_s``: how long the step may wait for evidence in a row (the rollout's
    ``progressDeadlineSeconds``) before it fails as inconclusive.
    """
    state = state or AnalysisState()
    started = started_at(state, data.window)
    left = warmup_left(analysis, started, data.window)
    if left is not None:
        warm = state.model_copy(update={"iterations": state.iterations + 1, "started": started})
        message = warmup_message(analysis, left)
        return IntervalResult("inconclusive", "hold", warmup_checks(analysis, data), warm, message)
    checks: list[CheckResult] = []
    seq_state = dict(state.sequential)
    serves = serves_challenger(analysis)  # the plan's, not the metric's: once per call
    pools = dict(state.pools)
    kayenta_metrics = []
    for metric in analysis.metrics:
        judge = select_judge(metric, data)
        key = metric_key(metric)
        if judge == "mann-whitney":
            kayenta_metrics.append(metric)
        elif judge == "sequential":
            result, seq_state[key] = sequential_check(
                metric,
                data,
                seq_state.get(key),
                analysis.no_data,
                metric.alpha or shared_alpha(analysis),
                update=not batches_checked,
                serves=serves,
            )
            seq_state[key] = open_restart(seq_state[key])  # fresh tests from the next interval
            checks.append(result)
        elif metric.is_builtin and metric.name == "prediction-drift":
            result, pool = drift_check(metric, data, pools.pop(key, None), analysis.no_data)
            if pool is not None:
                pools[key] = pool
            checks.append(result)
        else:
            result = hold_small_sample(
                metric, data, threshold_check(metric, data, analysis.no_data)
            )
            checks.append(governed_by_sequential(metric, result, seq_state.get(key), analysis))
    if kayenta_metrics:
        checks += kayenta_checks(kayenta_metrics, data, analysis)
    checks = coverage_hold(checks, data.mirror_coverage)  # never a pass on copies not seen
    verdict = aggregate(checks, has_metrics=bool(analysis.metrics))
    decisive = any(c.decisive and c.verdict == "fail" for c in checks)
    failing = [c.key for c in checks if c.verdict == "fail" and c.judge != "mann-whitney"]
    failed = state.failed_checks + (1 if verdict == "fail" else 0)
    waiting = verdict == "inconclusive" and all(
        c.waiting for c in checks if c.verdict == "inconclusive" and c.judge != "mann-whitney"
    )
    waiting = waiting and any(c.waiting for c in checks)
    streak = state.inconclusive_checks
    if verdict in ("inconclusive", "error") and not waiting:
        streak += 1
    elif verdict in ("pass", "fail"):
        streak = 0
    held = state.held + 1 if waiting else 0 if verdict == "pass" else state.held
    limit = hold_limit(analysis, hold_deadline_s)
    action: Action
    if decisive:
        action = "rollback"
    elif verdict == "fail":
        action = "rollback" if failed >= analysis.threshold else "hold"
    elif waiting:
        action = "inconclusive" if held >= limit else "hold"
    elif verdict in ("inconclusive", "error"):
        action = "inconclusive" if streak >= analysis.inconclusive_limit else "hold"
    else:
        action = "advance"
    new_state = AnalysisState(
        iterations=state.iterations + 1,
        failed_checks=failed,
        inconclusive_checks=streak,
        sequential=seq_state,
        held=held,
        pools=pools,
        started=started,
    )
    if waiting:
        message = _held_message(action, checks, held, limit, analysis)
    else:
        message = _message(verdict, action, checks, failed, streak, analysis)
    return IntervalResult(verdict, action, checks, new_state, message, decisive, failing)


def governed_by_sequential(
    metric: MetricSpec, check: CheckResult, state: SequentialState | None, analysis: Analysis
) -> CheckResult:
    """A metric the sequential judge has been judging (it has a test state and a band) that
    falls back to its interval value for one window (e.g. the champion's latencies are missing
    from it) waits instead of failing on that value: only its sequential test may fail it, so
    the verdict never contradicts the test's p-value and band shown beside it."""
    if check.verdict != "fail" or state is None or metric.judge is not None:
        return check
    alpha = metric.alpha or shared_alpha(analysis)
    evidence = evaluate_sequential(metric, state, alpha)
    if evidence is not None and evidence[0]:
        return check
    p_value = evidence[2] if evidence is not None else 1.0
    reason = (
        f"{check.reason} in this interval only, which the sequential test could not use "
        f"(it judges this metric: always-valid p={p_value:.3g} > alpha {alpha:g}): not enough "
        f"evidence yet"
    )
    return replace(check, verdict="inconclusive", reason=reason, p_value=p_value, waiting=True)


def hold_limit(analysis: Analysis, hold_deadline_s: float = DEFAULT_HOLD_DEADLINE_S) -> int:
    """Intervals a step may wait for evidence in a row: the deadline over the interval."""
    interval = parse_duration(analysis.interval)
    return max(1, math.ceil(hold_deadline_s / interval - 1e-9))


def _held_message(
    action: Action, checks: list[CheckResult], held: int, limit: int, analysis: Analysis
) -> str:
    waiting = [c for c in checks if c.waiting]
    first = waiting[0].reason
    more = f" (+{len(waiting) - 1} more)" if len(waiting) > 1 else ""
    head = f"holding {held}/{limit}"
    if action == "inconclusive":
        deadline = held * parse_duration(analysis.interval)
        return (
            f"{head}, rollout fails as inconclusive: waited {deadline:g}s for evidence, the "
            f"hold deadline: {first}{more}"
        )
    return f"{head} (the step waits for evidence, it neither passes nor fails): {first}{more}"


def shared_alpha(analysis: Analysis) -> float:
    """Default alpha of one sequential metric: the rollout's 0.01 budget, shared.

    Metrics that set ``alpha`` keep it; the others split :data:`DEFAULT_ALPHA` evenly
    (Bonferroni), so the false-rollback rate of the whole rollout stays at most 0.01 however
    many sequential metrics it checks (restarted tests included, :mod:`._restarts`; the
    ``win-rate`` non-inferiority test on judged pairs counts as one of them).
    """
    shared = [
        m
        for m in analysis.metrics
        if m.alpha is None
        and m.judge in (None, "sequential")
        and m.is_builtin
        and (m.name in SEQUENTIAL_METRICS or m.name == "win-rate")
    ]
    return DEFAULT_ALPHA / max(1, len(shared))


def check_batch(
    analysis: Analysis, batch: IntervalData, state: AnalysisState | None = None
) -> IntervalResult:
    """Feed a batch of traffic (e.g. the last 5 s) to the sequential tests between intervals.

    Anytime-valid tests may be looked at after every batch without raising the
    false-rollback rate (Ville's inequality), so a clear regression rolls back within
    seconds instead of at the end of the interval. Returns ``rollback`` (verdict ``fail``,
    decisive) or ``hold`` (nothing decided; verdict ``pass``); only the sequential state
    changes - failed checks and iterations are counted by :func:`analyse_interval`, which
    must then be called with ``batches_checked=True``.
    """
    state = state or AnalysisState()
    started = started_at(state, batch.window)
    left = warmup_left(analysis, started, batch.window)
    if left is not None:
        warm = state.model_copy(update={"started": started})
        return IntervalResult("pass", "hold", [], warm, warmup_message(analysis, left))
    seq_state = dict(state.sequential)
    serves = serves_challenger(analysis)  # the plan's, not the metric's: once per call
    checks: list[CheckResult] = []
    for metric in analysis.metrics:
        if metric.judge not in (None, "sequential") or select_judge(metric, batch) != "sequential":
            continue
        key = metric_key(metric)
        seq_state[key] = update_sequential(metric, batch, seq_state.get(key), serves=serves)
        alpha = metric.alpha or shared_alpha(analysis)
        verdict = evaluate_sequential(metric, seq_state[key], alpha)
        if verdict is not None and verdict[0]:
            checks.append(
                CheckResult(
                    metric.name,
                    key,
                    "fail",
                    rejection_reason(metric, verdict[1], verdict[2], alpha),
                    judge="sequential",
                    decisive=True,
                    p_value=verdict[2],
                )
            )
    new_state = state.model_copy(update={"sequential": seq_state, "started": started})
    if checks:
        message = f"rollback: {checks[0].reason}"
        return IntervalResult("fail", "rollback", checks, new_state, message, True, [checks[0].key])
    return IntervalResult("pass", "hold", checks, new_state, "no sequential test rejected")


def aggregate(checks: list[CheckResult], has_metrics: bool = True) -> Verdict:
    """Interval verdict: any fail > any error > any inconclusive > pass.

    Per-metric mann-whitney classifications are explanations; their canary score decides.
    An analysis whose every metric was skipped for lack of data is inconclusive (it never
    passes blind); an analysis without metrics passes (as in Flagger).
    """
    deciding = [c for c in checks if c.judge != "mann-whitney"]
    verdicts = {c.verdict for c in deciding}
    order: tuple[Verdict, ...] = ("fail", "error", "inconclusive")
    for worst in order:
        if worst in verdicts:
            return worst
    if has_metrics and "pass" not in verdicts:
        return "inconclusive"
    return "pass"


def all_skipped_reason(checks: list[CheckResult], shown: int = 3) -> str:
    """Why an interval whose every metric was skipped is inconclusive, naming each metric.

    Such an interval judged nothing, so it must never count toward promotion (it holds, and
    counts toward ``inconclusiveLimit``); the message says so instead of an empty reason.
    """
    skipped = [c for c in checks if c.verdict == "skipped" and c.judge != "mann-whitney"]
    reasons = " | ".join(c.reason for c in skipped[:shown])
    more = f" | and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return (
        f"every metric was skipped for lack of data ({', '.join(c.key for c in skipped)}), "
        f"so this interval does not count toward promotion: {reasons}{more}"
    )


def _message(
    verdict: Verdict,
    action: Action,
    checks: list[CheckResult],
    failed: int,
    streak: int,
    analysis: Analysis,
) -> str:
    decisive = [c for c in checks if c.decisive and c.verdict == "fail"]
    if decisive:
        return f"rollback: {decisive[0].reason}"
    bad = [c for c in checks if c.verdict == verdict and c.judge != "mann-whitney"]
    first = bad[0].reason if bad and verdict != "pass" else ""
    if verdict == "inconclusive" and not bad:
        first = all_skipped_reason(checks)
    if verdict == "fail":
        head = f"failed checks {failed}/{analysis.threshold}"
        return f"{head}, rollback: {first}" if action == "rollback" else f"{head}: {first}"
    if verdict in ("inconclusive", "error"):
        head = f"{verdict} {streak}/{analysis.inconclusive_limit}"
        return (
            f"{head}, rollout fails as inconclusive: {first}"
            if action == "inconclusive"
            else (f"{head}: {first}")
        )
    score = next((c for c in checks if c.judge == SCORE_JUDGE), None)
    extra = f" ({score.reason})" if score else ""
    return f"all {len([c for c in checks if c.verdict == 'pass'])} checks passed{extra}"
