"""Detection benchmark: modelcanary's default analysis vs a faithful Flagger reference.

A seeded simulation of request streams through a step plan (one mirror interval, then
5/10/25/50 % canary weights, one 60 s interval each, unless a scenario fixes its share) for
healthy and faulty challengers. Same SLOs for every judge: error rate <= 1 % (Flagger:
request-success-rate >= 99 %), latency p99 <= 250 ms (request-duration), prediction drift
PSI <= 0.2. Judges:

* ``modelcanary``: what the local runtime ships: :func:`modelcanary.analysis.analyse_interval`,
  no judge set (defaults: sequential error rate and latency with the champion as baseline,
  threshold drift), with the engine's looks between intervals every
  ``modelcanary.local._runtime.LOOK_INTERVAL_S`` (5 s): each look feeds the traffic since the
  last one to the anytime-valid tests (:func:`check_batch`, as ``rollout/_looks.py`` does) and
  rolls back when one rejects; the interval tick feeds the rest of the interval, then analyses
  it with ``batches_checked=True`` (tests/engine/test_batch_looks.py checks that the engine
  feeds every request exactly once, crashes included).
* ``modelcanary_operator``: the same with the operator's look interval
  (``modelcanary.controller._runtime.LOOK_INTERVAL_S``, 15 s; fewer with many rollouts).
* ``modelcanary_per_interval``: the same analysis once per interval, without looks (what both
  runtimes shipped before the engine looked between intervals; ``look_interval=0``).
* ``flagger_t1`` / ``flagger_t5``: Flagger's scheduler with ``threshold`` 1 and 5 (code
  default 1; its docs use 5, 10 and 2): each tick first rolls back when ``failedChecks >=
  threshold``, else computes every metric over the last **1m** (Flagger's default metric
  interval) of challenger traffic, mirrored copies included, adds one failed check when any
  metric is out of range or has no data and holds, else advances.
* ``flagger_rel_t1`` / ``flagger_rel_t5``: the same plus canary-vs-primary MetricTemplates
  (error rate at most 0.5 points above the primary's, p99 at most 1.2x the primary's): the
  reference's equivalent of modelcanary's champion comparison.

modelcanary gets what docs/analysis.md advises where a scenario needs it: ``warmup: 1m`` for
the cold-start scenarios, a 45-minute hold deadline at 2 rps, the user keys with sticky
sessions (scenarios and traffic: ``detection_traffic.py``).

Per scenario and judge: ``false_rollback_rate`` (healthy: any end but promotion) or
``detection_rate`` (fault: rolled back or failed), ``inconclusive_rate`` (the hold deadline
ended the wait for evidence), blast radius (requests *served* by the challenger before the
decision; a missed fault counts what it served until promotion) mean and p95, median seconds
to detect and to promote, and for modelcanary in healthy scenarios ``band_miss_rate`` (its
running always-valid band excluded the true difference at some look). No summed medians.
``in_slo`` marks a fault that stays inside the absolute SLO (only a champion comparison can
catch it).

Run: ``python benchmarks/detection.py [--json FILE] [--full] [--healthy N] [--faulty N]
[--only TEXT]`` (``--only``: a reduced run of the scenarios whose name contains TEXT, no goals).
The JSON has ``scenarios``, ``goals`` (name -> pass) and ``goal_misses`` (name -> the scenarios
that miss it, with value and limit).
The default run (100 healthy, 40 faulty seeds per scenario) takes about 3 minutes on 2 cores;
``--full`` runs 400 and 100.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from detection_traffic import DEFAULT_PLAN, INTERVAL, SCENARIOS, Scenario, traffic

from modelcanary.analysis import (
    AnalysisState,
    Band,
    IntervalData,
    NoData,
    analyse_interval,
    check_batch,
    drift,
    error_rate,
    intersect,
    latency_quantile,
)
from modelcanary.analysis._bands import current_band
from modelcanary.analysis._judges import DEFAULT_ALPHA
from modelcanary.analysis._restarts import restart_weight
from modelcanary.controller._runtime import LOOK_INTERVAL_S as OPERATOR_LOOK_S
from modelcanary.local._runtime import LOOK_INTERVAL_S as LOCAL_LOOK_S
from modelcanary.spec import Analysis

BATCH_S = LOCAL_LOOK_S
BAND_LEVEL = DEFAULT_ALPHA / 2 / 2 * restart_weight(0)
"""The bands' alpha: each metric's share of the rollout's budget (two sequential metrics),
half of it for the comparison, of which the tests from the first look spend FIRST_WEIGHT."""
SLO_ERROR, SLO_P99_MS, SLO_PSI = 0.01, 250.0, 0.2
REL_ERROR_DIFF, REL_P99_RATIO = 0.005, 1.2
JUDGES = (
    "modelcanary",
    "modelcanary_operator",
    "modelcanary_per_interval",
    "flagger_t1",
    "flagger_t5",
    "flagger_rel_t1",
    "flagger_rel_t5",
)
MODELCANARY = JUDGES[:3]
FLAGGERS = JUDGES[3:]


@dataclass(frozen=True)
class Outcome:
    """How one simulated rollout ended."""

    result: str  # promoted | rolled_back | inconclusive | timeout
    seconds: float
    served: int
    band_missed: bool = False  # a running band excluded the true difference (0) at some look


def analysis_spec(drift_check: bool = True, warmup: str | None = None) -> Analysis:
    """The analysis modelcanary runs (Flagger's default threshold 1; defaults otherwise)."""
    spec = Analysis.model_validate(
        {
            "interval": "1m",
            "threshold": 1,
            "mirror": True,
            "step_weights": [5, 10, 25, 50],
            "warmup": warmup,
            "metrics": [
                {"name": "error-rate", "threshold_range": {"max": SLO_ERROR}},
                {"name": "latency-p99", "threshold_range": {"max": SLO_P99_MS}},
                {"name": "prediction-drift", "method": "psi", "threshold_range": {"max": SLO_PSI}},
            ],
        }
    )
    if drift_check:
        return spec
    return spec.model_copy(update={"metrics": spec.metrics[:2]})


class BandWatch:
    """The running always-valid band of each sequential metric, as the widget draws it: does it
    ever exclude the true difference (0: a healthy challenger is the champion's twin)?"""

    def __init__(self, spec: Analysis) -> None:
        self.spec, self.bands, self.missed = spec, dict[str, Band](), False

    def look(self, state: AnalysisState) -> None:
        for key, seq in state.sequential.items():
            band = current_band(self.spec, key, seq)
            if band is None:
                continue
            self.bands[key] = running = intersect(self.bands.get(key), band)
            self.missed = self.missed or not running.low <= 0.0 <= running.high


def run_modelcanary(sc: Scenario, seed: int, spec: Analysis, batch_s: float) -> Outcome:
    """The default modelcanary analysis as the engine runs it: a look every ``batch_s``
    seconds between interval ticks (0: none), each fed the traffic since the last look; the
    tick feeds the rest and analyses the interval; acting in the look or tick it decides."""
    state, stage, served = AnalysisState(), 0, 0
    watch = BandWatch(spec)
    batches = math.ceil(INTERVAL / batch_s - 1e-9) if batch_s > 0 else 0
    for tick in range(sc.max_ticks):
        w = traffic(sc, seed, tick, *sc.plan[stage])
        start = tick * INTERVAL
        for b in range(batches):
            lo, hi = start + b * batch_s, min(start + (b + 1) * batch_s, start + INTERVAL)
            quick = check_batch(spec, w.data(lo, hi), state)
            state = quick.state
            watch.look(state)
            if quick.action == "rollback":
                return Outcome("rolled_back", hi, served + w.served(hi), watch.missed)
        served += w.served(start + INTERVAL)
        result = analyse_interval(
            spec,
            w.data(start, start + INTERVAL),
            state,
            batches_checked=batches > 0,
            hold_deadline_s=sc.deadline_s,
        )
        state = result.state
        watch.look(state)
        now = (tick + 1) * INTERVAL
        if result.action == "advance":
            stage += 1
            if stage == len(sc.plan):
                return Outcome("promoted", now, served, watch.missed)
        elif result.action == "rollback":
            return Outcome("rolled_back", now, served, watch.missed)
        elif result.action == "inconclusive":
            return Outcome("inconclusive", now, served, watch.missed)
    return Outcome("timeout", sc.max_ticks * INTERVAL, served, watch.missed)


def flagger_checks_pass(data: IntervalData, relative: bool, drift_check: bool = True) -> bool:
    """Flagger's runAnalysis: every metric in range over the window; no data fails."""
    chal, champ = data.challenger, data.champion
    rate = error_rate(chal.counts)
    p99 = latency_quantile(chal.latencies, 0.99)
    if isinstance(rate, NoData) or isinstance(p99, NoData):
        return False
    psi = 0.0
    if drift_check:
        if isinstance(chal.predictions, NoData) or isinstance(champ.predictions, NoData):
            return False
        psi = drift(champ.predictions, chal.predictions, "psi")
    ok = 100 * (1 - rate) >= 100 * (1 - SLO_ERROR) and p99 <= SLO_P99_MS and psi <= SLO_PSI
    if relative and ok:
        rate0 = error_rate(champ.counts)
        p99_0 = latency_quantile(champ.latencies, 0.99)
        if isinstance(rate0, NoData) or isinstance(p99_0, NoData):
            return False
        ok = rate - rate0 <= REL_ERROR_DIFF and p99 <= REL_P99_RATIO * p99_0
    return ok


def run_flagger(sc: Scenario, seed: int, threshold: int, relative: bool = False) -> Outcome:
    """Flagger's scheduler over a 1m metric window: rollback check, analysis, advance."""
    stage, failed, served = 0, 0, 0
    for tick in range(1, sc.max_ticks + 1):
        w = traffic(sc, seed, tick - 1, *sc.plan[stage])
        now = tick * INTERVAL
        served += w.served(now)
        if failed >= threshold:
            return Outcome("rolled_back", now, served)
        if not flagger_checks_pass(w.data(now - 60.0, now), relative, sc.drift_check):
            failed += 1
            continue
        stage += 1
        if stage == len(sc.plan):
            return Outcome("promoted", now, served)
    return Outcome("timeout", sc.max_ticks * INTERVAL, served)


def summarise(sc: Scenario, outcomes: list[Outcome], band: bool = False) -> dict[str, Any]:
    """One judge on one scenario: rates, blast radius mean/p95, median times.

    Any end but promotion counts against a healthy challenger (``false_rollback_rate``) and
    for a faulty one (``detection_rate``); ``inconclusive_rate`` (the hold deadline ended the
    wait for evidence) and ``timeout_rate`` (the simulation's horizon) say how much of it was
    not a "faulty" verdict. ``band_miss_rate`` (modelcanary, healthy): runs whose running
    always-valid band excluded the true difference at some look.
    """
    served = np.array([o.served for o in outcomes], dtype=float)
    promoted = [o.seconds for o in outcomes if o.result == "promoted"]
    caught = [o.seconds for o in outcomes if o.result in ("rolled_back", "inconclusive")]
    out: dict[str, Any] = {
        "runs": len(outcomes),
        "blast_mean": float(served.mean()),
        "blast_p95": float(np.percentile(served, 95)),
        "detect_s_median": float(np.median(caught)) if caught else None,
        "promote_s_median": float(np.median(promoted)) if promoted else None,
        "inconclusive_rate": float(np.mean([o.result == "inconclusive" for o in outcomes])),
        "timeout_rate": float(np.mean([o.result == "timeout" for o in outcomes])),
    }
    if sc.kind == "healthy":
        out["false_rollback_rate"] = (len(outcomes) - len(promoted)) / len(outcomes)  # exact
        if band:
            out["band_miss_rate"] = float(np.mean([o.band_missed for o in outcomes]))
    else:
        out["detection_rate"] = len(caught) / len(outcomes)
    return out


def goals(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """The issue's goals, pass/fail, for each modelcanary judge."""
    return {name: not misses for name, misses in goal_misses(rows).items()}


def goal_misses(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each goal and the scenarios that miss it (``name: value vs limit``; empty: met)."""
    healthy = [r for r in rows if r["kind"] == "healthy"]
    faults = [r for r in rows if r["kind"] == "fault" and not r["in_slo"]]
    base = next(r for r in healthy if r["name"] == "healthy")
    out: dict[str, list[str]] = {}
    for judge in MODELCANARY:
        out[f"{judge}: false rollback <= 1% in every healthy scenario"] = [
            f"{r['name']}: {r[judge]['false_rollback_rate']:.1%} "
            f"({r[judge]['inconclusive_rate']:.1%} inconclusive) vs 1%"
            for r in healthy
            if r[judge]["false_rollback_rate"] > 0.01
        ]
        blast = []
        for r in faults:
            limit = min(r[f]["blast_mean"] for f in FLAGGERS) / 3
            if r[judge]["blast_mean"] > limit:
                blast.append(f"{r['name']}: {r[judge]['blast_mean']:.0f} vs {limit:.0f}")
        out[f"{judge}: blast mean <= 1/3 of the better Flagger in every fault outside the SLO"] = (
            blast
        )
        flagger_promote = min(
            base[f]["promote_s_median"] for f in FLAGGERS if base[f]["promote_s_median"]
        )
        mine = base[judge]["promote_s_median"]
        out[f"{judge}: promotes a healthy challenger no later than Flagger"] = (
            [] if mine is not None and mine <= flagger_promote else [f"{mine} vs {flagger_promote}"]
        )
        out[f"{judge}: the always-valid band holds its level in every healthy scenario"] = [
            f"{r['name']}: {r[judge]['band_miss_rate']:.1%} vs {BAND_LEVEL:.2%}"
            for r in healthy
            if r[judge]["band_miss_rate"] > BAND_LEVEL
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every scenario for each judge, print a table and the goals, optionally JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", help="write the summary to this file")
    parser.add_argument("--full", action="store_true", help="400 healthy / 100 faulty seeds")
    parser.add_argument("--healthy", type=int, help="seeds per healthy scenario (default 100)")
    parser.add_argument("--faulty", type=int, help="seeds per fault scenario (default 40)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="run only scenarios whose name contains TEXT (repeatable; goals need them all)",
    )
    args = parser.parse_args(argv)
    n_healthy = args.healthy or (400 if args.full else 100)
    n_faulty = args.faulty or (100 if args.full else 40)
    judges: dict[str, Callable[[Scenario, int], Outcome]] = {
        "modelcanary": lambda sc, s: run_modelcanary(sc, s, _spec(sc), LOCAL_LOOK_S),
        "modelcanary_operator": lambda sc, s: run_modelcanary(sc, s, _spec(sc), OPERATOR_LOOK_S),
        "modelcanary_per_interval": lambda sc, s: run_modelcanary(sc, s, _spec(sc), 0.0),
        "flagger_t1": lambda sc, s: run_flagger(sc, s, 1),
        "flagger_t5": lambda sc, s: run_flagger(sc, s, 5),
        "flagger_rel_t1": lambda sc, s: run_flagger(sc, s, 1, relative=True),
        "flagger_rel_t5": lambda sc, s: run_flagger(sc, s, 5, relative=True),
    }
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for i, sc in enumerate(SCENARIOS):
        if args.only and not any(text in sc.name for text in args.only):
            continue
        seeds = range(1000 * i, 1000 * i + (n_healthy if sc.kind == "healthy" else n_faulty))
        row: dict[str, Any] = {"name": sc.name, "kind": sc.kind, "in_slo": sc.in_slo}
        for name, run in judges.items():
            row[name] = summarise(sc, [run(sc, s) for s in seeds], band=name in MODELCANARY)
        rows.append(row)
        _print_row(row)
    misses = goal_misses(rows) if len(rows) == len(SCENARIOS) else {}
    result = {name: not missed for name, missed in misses.items()}
    elapsed = time.perf_counter() - started
    for name, missed in misses.items():
        print(
            f"{'FAIL' if missed else 'PASS'}  {name}" + (f": {'; '.join(missed)}" if missed else "")
        )
    print(f"elapsed: {elapsed:.0f}s")
    if args.json:
        payload = {
            "config": {
                "interval_s": INTERVAL,
                "flagger_window_s": 60.0,
                "batch_s": BATCH_S,
                "look_s": {"local": LOCAL_LOOK_S, "operator": OPERATOR_LOOK_S},
                "default_plan": DEFAULT_PLAN,
                "slo": {"error_rate_max": SLO_ERROR, "p99_max_ms": SLO_P99_MS, "psi_max": SLO_PSI},
                "relative_template": {
                    "error_diff_max": REL_ERROR_DIFF,
                    "p99_ratio_max": REL_P99_RATIO,
                },
                "healthy_seeds": n_healthy,
                "faulty_seeds": n_faulty,
                "band_level": BAND_LEVEL,
            },
            "scenarios": rows,
            "goals": result,
            "goal_misses": misses,
            "elapsed_s": round(elapsed, 1),
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
    return 0


def _spec(sc: Scenario) -> Analysis:
    """modelcanary's analysis for the scenario (its metrics and the warm-up it advises)."""
    return analysis_spec(sc.drift_check, sc.warmup)


def _print_row(row: dict[str, Any]) -> None:
    rate = "false_rollback_rate" if row["kind"] == "healthy" else "detection_rate"
    tag = " [in SLO]" if row["kind"] == "fault" and row["in_slo"] else ""
    print(f"{row['name']}{tag} ({row['kind']}): {rate}")
    for judge in JUDGES:
        r = row[judge]

        def s(v: float | None) -> str:
            return "-" if v is None else f"{v:.0f}"

        extra = f"  inconclusive {r['inconclusive_rate']:.0%}" if r["inconclusive_rate"] else ""
        if "band_miss_rate" in r:
            extra += f"  band misses {r['band_miss_rate']:.1%}"
        print(
            f"  {judge:<26} {r[rate]:>6.1%}  blast mean {r['blast_mean']:>7.0f} "
            f"p95 {r['blast_p95']:>7.0f}  detect {s(r['detect_s_median']):>5}s  "
            f"promote {s(r['promote_s_median']):>5}s{extra}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
