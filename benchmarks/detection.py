"""Detection benchmark: modelcanary's default analysis vs a faithful Flagger reference.

A seeded simulation of request streams through a step plan (one mirror interval, then
5/10/25/50 % canary weights, one 60 s interval each, unless a scenario fixes its share) for
healthy and faulty challengers. Same SLOs for every judge: error rate <= 1 % (Flagger:
request-success-rate >= 99 %), latency p99 <= 250 ms (request-duration), prediction drift
PSI <= 0.2. Judges:

* ``modelcanary``: :func:`modelcanary.analysis.analyse_interval`, no judge set (defaults:
  sequential error rate and latency with the champion as baseline, threshold drift), looking
  at its anytime-valid tests every 5 s (:func:`check_batch`), acting in the tick it decides.
* ``modelcanary_per_interval``: what the controller ships (``rollout/_machine.py`` analyses
  once per tick): the same analysis, once per interval.
* ``flagger_t1`` / ``flagger_t5``: Flagger's scheduler with ``threshold`` 1 and 5 (code
  default 1; its docs use 5, 10 and 2): each tick first rolls back when ``failedChecks >=
  threshold``, else computes every metric over the last **1m** (Flagger's default metric
  interval) of challenger traffic, mirrored copies included, adds one failed check when any
  metric is out of range or has no data and holds, else advances.
* ``flagger_rel_t1`` / ``flagger_rel_t5``: the same plus canary-vs-primary MetricTemplates
  (error rate at most 0.5 points above the primary's, p99 at most 1.2x the primary's): the
  reference's equivalent of modelcanary's champion comparison.

Per scenario and judge: ``false_rollback_rate`` (healthy: any end but promotion) or
``detection_rate`` (fault: rolled back or failed), blast radius (requests *served* by the
challenger before the decision; a missed fault counts what it served until promotion) mean
and p95, median seconds to detect and to promote. No summed medians. ``in_slo`` marks a
fault that stays inside the absolute SLO (only a champion comparison can catch it).

Run: ``python benchmarks/detection.py [--json FILE] [--full] [--healthy N] [--faulty N]``.
The default run (100 healthy, 40 faulty seeds per scenario) takes a few minutes on 2 cores;
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
from numpy.typing import NDArray

from modelcanary.analysis import (
    AnalysisState,
    Counts,
    IntervalData,
    NoData,
    Predictions,
    Samples,
    VersionData,
    Window,
    analyse_interval,
    check_batch,
    drift,
    error_rate,
    latency_quantile,
)
from modelcanary.spec import Analysis

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
INTERVAL, BATCH_S, MAX_TICKS = 60.0, 5.0, 16
BASE_ERROR, LAT_MEDIAN_MS, LAT_SIGMA = 0.002, 50.0, 0.5
SLO_ERROR, SLO_P99_MS, SLO_PSI = 0.01, 250.0, 0.2
REL_ERROR_DIFF, REL_P99_RATIO = 0.005, 1.2
DEFAULT_PLAN: tuple[tuple[int, int], ...] = ((0, 100), (5, 0), (10, 0), (25, 0), (50, 0))
JUDGES = (
    "modelcanary",
    "modelcanary_per_interval",
    "flagger_t1",
    "flagger_t5",
    "flagger_rel_t1",
    "flagger_rel_t5",
)
FLAGGERS = JUDGES[2:]


@dataclass(frozen=True)
class Scenario:
    """A challenger's behaviour and the traffic around it."""

    name: str
    kind: str  # healthy | fault
    in_slo: bool = True
    rps: float = 100.0
    plan: tuple[tuple[int, int], ...] = DEFAULT_PLAN  # (canary weight, mirror weight) stages
    error_add: float = 0.0
    latency_x: float = 1.0
    drift: float = 0.0
    intermittent: bool = False
    incident_s: float = 0.0  # both versions at 25 % errors for this long, once
    sigma: float = LAT_SIGMA
    diurnal: bool = False  # both versions' error rate rises 0.2 -> 0.6 % over 10 minutes
    warmup_s: float = 0.0  # challenger 3x slower for its first seconds (cold caches)
    drift_check: bool = True  # False: judge error rate and p99 only (no PSI metric)


HALF = ((50, 0),) * 5
SMALL = ((5, 0),) * 5
SCENARIOS = [
    Scenario("healthy", "healthy"),
    Scenario("shared incident 10s, 50% share", "healthy", plan=HALF, incident_s=10),
    Scenario("shared incident 60s, 50% share", "healthy", plan=HALF, incident_s=60),
    Scenario("shared incident 10s, 5% share", "healthy", plan=SMALL, incident_s=10),
    Scenario("2 rps, 5% share", "healthy", rps=2, plan=SMALL),
    Scenario("2 rps, 5% share, no drift metric", "healthy", rps=2, plan=SMALL, drift_check=False),
    Scenario("heavy-tailed latency (sigma 0.65)", "healthy", sigma=0.65),
    Scenario("diurnal drift", "healthy", diurnal=True),
    Scenario("warm-up (3x slower first 60s)", "healthy", warmup_s=60),
    Scenario("error +1%", "fault", False, error_add=0.01),
    Scenario("error +3%", "fault", False, error_add=0.03),
    Scenario("error +10%", "fault", False, error_add=0.10),
    Scenario("latency x1.3 (p99 208 ms)", "fault", True, latency_x=1.3),
    Scenario("latency x2", "fault", False, latency_x=2.0),
    Scenario("latency x5", "fault", False, latency_x=5.0),
    Scenario("prediction drift", "fault", False, drift=0.8),
    Scenario("intermittent failures", "fault", False, intermittent=True),
    Scenario("2 rps, error +10%", "fault", False, rps=2, plan=SMALL, error_add=0.10),
]


@dataclass(frozen=True, eq=False)
class Traffic:
    """One interval of simulated requests, sorted by time (per-request arrays)."""

    t: FloatArray
    to_chal: BoolArray
    chal_mask: BoolArray
    champ_score: FloatArray
    chal_score: FloatArray
    champ_lat: FloatArray
    chal_lat: FloatArray
    champ_err: BoolArray
    chal_err: BoolArray
    mirrored: bool

    def served(self, until: float) -> int:
        """Requests the challenger answered for users before ``until``."""
        return int(np.sum(self.to_chal & (self.t < until)))

    def data(self, lo: float, hi: float) -> IntervalData:
        """Measurements of both versions over ``[lo, hi)``."""
        inside = (self.t >= lo) & (self.t < hi)
        c, k = inside & ~self.to_chal, inside & self.chal_mask
        champion = VersionData(
            "champion",
            Counts(int(c.sum()), int(self.champ_err[c].sum()), "champion"),
            Samples(self.champ_lat[c], "champion"),
            Predictions(self.champ_score[c], "champion"),
        )
        none = NoData("no requests")
        challenger = VersionData(
            "challenger",
            Counts(int(k.sum()), int(self.chal_err[k].sum())) if k.any() else none,
            Samples(self.chal_lat[k]) if k.any() else none,
            Predictions(self.chal_score[k]) if k.any() else none,
        )
        return IntervalData(Window(lo, hi), challenger, champion, mirrored=self.mirrored)


@dataclass(frozen=True)
class Outcome:
    """How one simulated rollout ended."""

    result: str  # promoted | rolled_back | timeout
    seconds: float
    served: int


def analysis_spec(drift_check: bool = True) -> Analysis:
    """The analysis modelcanary runs (Flagger's default threshold 1; defaults otherwise)."""
    spec = Analysis.model_validate(
        {
            "interval": "1m",
            "threshold": 1,
            "mirror": True,
            "step_weights": [5, 10, 25, 50],
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


def traffic(sc: Scenario, seed: int, tick: int, weight: int, mirror: int) -> Traffic:
    """Requests of one interval; the same (seed, tick, routing) gives the same requests."""
    rng = np.random.default_rng([seed, tick, weight, mirror])
    n = int(rng.poisson(sc.rps * INTERVAL))
    t = tick * INTERVAL + np.sort(rng.uniform(0, INTERVAL, n))
    to_chal = rng.random(n) < weight / 100
    mirrored = ~to_chal & (rng.random(n) < mirror / 100)
    feature = rng.normal(size=n)
    mu = math.log(LAT_MEDIAN_MS)
    base = np.full(n, BASE_ERROR)
    if sc.diurnal:
        base = BASE_ERROR + 0.004 * np.clip(t / 600.0, 0, 1)
    events = np.random.default_rng([seed, 999])
    if sc.incident_s:
        start = events.uniform(30, 240)
        base = np.where((t >= start) & (t < start + sc.incident_s), 0.25, base)
    p_err = base + sc.error_add
    if sc.intermittent:
        phase = events.uniform(0, 90.0)
        p_err = np.where((t + phase) % 90.0 < 10.0, 0.25, p_err)
    chal_lat = rng.lognormal(mu, sc.sigma, n) * sc.latency_x
    if sc.warmup_s:
        chal_lat = np.where(t < sc.warmup_s, chal_lat * 3.0, chal_lat)
    return Traffic(
        t=t,
        to_chal=to_chal,
        chal_mask=to_chal | mirrored,
        champ_score=1 / (1 + np.exp(-(feature - 1.0))),
        chal_score=1 / (1 + np.exp(-(feature - 1.0 + sc.drift))),
        champ_lat=rng.lognormal(mu, sc.sigma, n),
        chal_lat=chal_lat,
        champ_err=rng.random(n) < base,
        chal_err=rng.random(n) < p_err,
        mirrored=mirror > 0,
    )


def run_modelcanary(sc: Scenario, seed: int, spec: Analysis, batch_s: float) -> Outcome:
    """The default modelcanary analysis, acting in the tick it decides (batches: 5 s looks)."""
    state, stage, served = AnalysisState(), 0, 0
    batches = int(INTERVAL // batch_s) if batch_s > 0 else 0
    for tick in range(MAX_TICKS):
        w = traffic(sc, seed, tick, *sc.plan[stage])
        start = tick * INTERVAL
        for b in range(batches):
            lo, hi = start + b * batch_s, start + (b + 1) * batch_s
            quick = check_batch(spec, w.data(lo, hi), state)
            state = quick.state
            if quick.action == "rollback":
                return Outcome("rolled_back", hi, served + w.served(hi))
        served += w.served(start + INTERVAL)
        result = analyse_interval(
            spec, w.data(start, start + INTERVAL), state, batches_checked=batches > 0
        )
        state = result.state
        now = (tick + 1) * INTERVAL
        if result.action == "advance":
            stage += 1
            if stage == len(sc.plan):
                return Outcome("promoted", now, served)
        elif result.action in ("rollback", "inconclusive"):
            return Outcome("rolled_back", now, served)
    return Outcome("timeout", MAX_TICKS * INTERVAL, served)


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
    for tick in range(1, MAX_TICKS + 1):
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
    return Outcome("timeout", MAX_TICKS * INTERVAL, served)


def summarise(sc: Scenario, outcomes: list[Outcome]) -> dict[str, Any]:
    """One judge on one scenario: rates, blast radius mean/p95, median times."""
    served = np.array([o.served for o in outcomes], dtype=float)
    promoted = [o.seconds for o in outcomes if o.result == "promoted"]
    caught = [o.seconds for o in outcomes if o.result == "rolled_back"]
    out: dict[str, Any] = {
        "runs": len(outcomes),
        "blast_mean": float(served.mean()),
        "blast_p95": float(np.percentile(served, 95)),
        "detect_s_median": float(np.median(caught)) if caught else None,
        "promote_s_median": float(np.median(promoted)) if promoted else None,
        "timeout_rate": float(np.mean([o.result == "timeout" for o in outcomes])),
    }
    if sc.kind == "healthy":
        out["false_rollback_rate"] = 1 - len(promoted) / len(outcomes)
    else:
        out["detection_rate"] = len(caught) / len(outcomes)
    return out


def goals(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """The issue's goals, pass/fail, for each modelcanary judge."""
    healthy = [r for r in rows if r["kind"] == "healthy"]
    faults = [r for r in rows if r["kind"] == "fault" and not r["in_slo"]]
    base = next(r for r in healthy if r["name"] == "healthy")
    out: dict[str, bool] = {}
    for judge in JUDGES[:2]:
        out[f"{judge}: false rollback <= 1% in every healthy scenario"] = all(
            r[judge]["false_rollback_rate"] <= 0.01 for r in healthy
        )
        out[f"{judge}: blast mean <= 1/3 of the better Flagger in every fault outside the SLO"] = (
            all(
                r[judge]["blast_mean"] <= min(r[f]["blast_mean"] for f in FLAGGERS) / 3
                for r in faults
            )
        )
        flagger_promote = min(
            base[f]["promote_s_median"] for f in FLAGGERS if base[f]["promote_s_median"]
        )
        mine = base[judge]["promote_s_median"]
        out[f"{judge}: promotes a healthy challenger no later than Flagger"] = (
            mine is not None and mine <= flagger_promote
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every scenario for each judge, print a table and the goals, optionally JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", help="write the summary to this file")
    parser.add_argument("--full", action="store_true", help="400 healthy / 100 faulty seeds")
    parser.add_argument("--healthy", type=int, help="seeds per healthy scenario (default 100)")
    parser.add_argument("--faulty", type=int, help="seeds per fault scenario (default 40)")
    args = parser.parse_args(argv)
    n_healthy = args.healthy or (400 if args.full else 100)
    n_faulty = args.faulty or (100 if args.full else 40)
    specs = {True: analysis_spec(True), False: analysis_spec(False)}
    judges: dict[str, Callable[[Scenario, int], Outcome]] = {
        "modelcanary": lambda sc, s: run_modelcanary(sc, s, specs[sc.drift_check], BATCH_S),
        "modelcanary_per_interval": lambda sc, s: run_modelcanary(
            sc, s, specs[sc.drift_check], 0.0
        ),
        "flagger_t1": lambda sc, s: run_flagger(sc, s, 1),
        "flagger_t5": lambda sc, s: run_flagger(sc, s, 5),
        "flagger_rel_t1": lambda sc, s: run_flagger(sc, s, 1, relative=True),
        "flagger_rel_t5": lambda sc, s: run_flagger(sc, s, 5, relative=True),
    }
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for i, sc in enumerate(SCENARIOS):
        seeds = range(1000 * i, 1000 * i + (n_healthy if sc.kind == "healthy" else n_faulty))
        row: dict[str, Any] = {"name": sc.name, "kind": sc.kind, "in_slo": sc.in_slo}
        for name, run in judges.items():
            row[name] = summarise(sc, [run(sc, s) for s in seeds])
        rows.append(row)
        _print_row(row)
    result = goals(rows)
    elapsed = time.perf_counter() - started
    for name, ok in result.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print(f"elapsed: {elapsed:.0f}s")
    if args.json:
        payload = {
            "config": {
                "interval_s": INTERVAL,
                "flagger_window_s": 60.0,
                "batch_s": BATCH_S,
                "default_plan": DEFAULT_PLAN,
                "slo": {"error_rate_max": SLO_ERROR, "p99_max_ms": SLO_P99_MS, "psi_max": SLO_PSI},
                "relative_template": {
                    "error_diff_max": REL_ERROR_DIFF,
                    "p99_ratio_max": REL_P99_RATIO,
                },
                "healthy_seeds": n_healthy,
                "faulty_seeds": n_faulty,
            },
            "scenarios": rows,
            "goals": result,
            "elapsed_s": round(elapsed, 1),
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
    return 0


def _print_row(row: dict[str, Any]) -> None:
    rate = "false_rollback_rate" if row["kind"] == "healthy" else "detection_rate"
    tag = " [in SLO]" if row["kind"] == "fault" and row["in_slo"] else ""
    print(f"{row['name']}{tag} ({row['kind']}): {rate}")
    for judge in JUDGES:
        r = row[judge]

        def s(v: float | None) -> str:
            return "-" if v is None else f"{v:.0f}"

        print(
            f"  {judge:<26} {r[rate]:>6.1%}  blast mean {r['blast_mean']:>7.0f} "
            f"p95 {r['blast_p95']:>7.0f}  detect {s(r['detect_s_median']):>5}s  "
            f"promote {s(r['promote_s_median']):>5}s"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
