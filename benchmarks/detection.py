"""Detection benchmark: modelcanary's default analysis vs a faithful Flagger-style reference.

A seeded simulation of request streams (100 rps, 30 s intervals) through one step plan -
one mirror interval (100 % mirrored, as Flagger's ``mirror: true``), then 5/10/25/50 %
canary weights - for a suite of challengers. Both analyses use the same SLOs and plan:

* error-rate <= 1 % (Flagger: request-success-rate >= 99 %), latency p99 <= 250 ms
  (Flagger: request-duration), prediction drift PSI <= 0.2; ``threshold`` failed checks
  (default 3, the repository's example; Flagger's own examples use 10-15).
* **modelcanary**: :func:`modelcanary.analysis.analyse_interval` with no judge set, so the
  defaults apply (sequential for error rate and latency with the champion as baseline,
  sharing alpha 0.05; threshold for drift); it acts in the tick it decides, and its
  anytime-valid tests also look at every 5 s batch (:func:`check_batch`, ``--batch-seconds``).
* **modelcanary_per_interval**: the same, looking only once per interval.
* **flagger_style**: Flagger's scheduler (``advanceCanary``): each tick first rolls back
  when ``failedChecks >= threshold``, else computes every SLI over the last interval's
  window of challenger traffic (mirrored copies included, as the mesh reports them), adds
  ONE failed check when any metric is out of range or has no data and holds, otherwise
  advances (mirror -> first weight -> ... -> promote after the last weight passes).
  The rollback therefore lands one tick after the threshold-th failure, as in Flagger.
* **flagger_same_tick**: the same, but rolling back in the tick of the threshold-th failure,
  to show how much of the difference is statistics and how much is scheduling.

Reported per scenario: rollback rate, median requests *served* by the challenger before
the decision (blast radius; mirrored copies are not served; a missed faulty challenger
counts what it served until promotion), median time to decision. Summary: blast-radius
ratio (sum over faulty scenarios of medians, modelcanary / flagger_style), false-rollback
rate on healthy runs (any outcome other than promotion), promote-time ratio.

Run: ``.venv/bin/python benchmarks/detection.py [--json FILE] [--healthy 2000] [--faulty 200]
[--threshold 3] [--no-mirror]`` (about 30 s on 2 cores).
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
    StepPlan,
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
RPS, INTERVAL, WEIGHTS = 100.0, 30.0, [5, 10, 25, 50]
BASE_ERROR, LAT_MEDIAN_MS, LAT_SIGMA = 0.002, 50.0, 0.5
SLO_ERROR, SLO_P99_MS, SLO_PSI = 0.01, 250.0, 0.2
MAX_TICKS = 40
POLICIES = ("modelcanary", "modelcanary_per_interval", "flagger_style", "flagger_same_tick")
BURST_EVERY, BURST_LEN, BURST_ERROR = 90.0, 10.0, 0.25


@dataclass(frozen=True)
class Scenario:
    """A challenger's behaviour relative to the champion."""

    name: str
    faulty: bool
    error_add: float = 0.0
    latency_x: float = 1.0
    drift: float = 0.0
    intermittent: bool = False


SCENARIOS = [
    Scenario("healthy", False),
    Scenario("error +1%", True, error_add=0.01),
    Scenario("error +3%", True, error_add=0.03),
    Scenario("error +10%", True, error_add=0.10),
    Scenario("latency x1.3", True, latency_x=1.3),
    Scenario("latency x2", True, latency_x=2.0),
    Scenario("latency x5", True, latency_x=5.0),
    Scenario("prediction drift", True, drift=0.8),
    Scenario("intermittent failures", True, intermittent=True),
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


def analysis_spec(threshold: int, mirror: bool = True) -> Analysis:
    """The rollout both analyses follow (modelcanary reads it; the reference mirrors it)."""
    return Analysis.model_validate(
        {
            "interval": "30s",
            "threshold": threshold,
            **({"mirror": True, "mirror_weight": 100} if mirror else {}),
            "step_weights": WEIGHTS,
            "metrics": [
                {"name": "error-rate", "threshold_range": {"max": SLO_ERROR}},
                {"name": "latency-p99", "threshold_range": {"max": SLO_P99_MS}},
                {"name": "prediction-drift", "method": "psi", "threshold_range": {"max": SLO_PSI}},
            ],
        }
    )


def traffic(sc: Scenario, seed: int, tick: int, weight: int, mirror: int) -> Traffic:
    """Requests of one interval; the same (seed, tick, routing) gives the same requests."""
    rng = np.random.default_rng([seed, tick, weight, mirror])
    n = int(rng.poisson(RPS * INTERVAL))
    t = tick * INTERVAL + np.sort(rng.uniform(0, INTERVAL, n))
    to_chal = rng.random(n) < weight / 100
    mirrored = ~to_chal & (rng.random(n) < mirror / 100)
    feature = rng.normal(size=n)
    mu = math.log(LAT_MEDIAN_MS)
    p_err = np.full(n, BASE_ERROR + sc.error_add)
    if sc.intermittent:
        phase = np.random.default_rng([seed, 999]).uniform(0, BURST_EVERY)
        p_err = np.where((t + phase) % BURST_EVERY < BURST_LEN, BURST_ERROR, p_err)
    return Traffic(
        t=t,
        to_chal=to_chal,
        chal_mask=to_chal | mirrored,
        champ_score=1 / (1 + np.exp(-(feature - 1.0))),
        chal_score=1 / (1 + np.exp(-(feature - 1.0 + sc.drift))),
        champ_lat=rng.lognormal(mu, LAT_SIGMA, n),
        chal_lat=rng.lognormal(mu, LAT_SIGMA, n) * sc.latency_x,
        champ_err=rng.random(n) < BASE_ERROR,
        chal_err=rng.random(n) < p_err,
        mirrored=mirror > 0,
    )


def run_modelcanary(sc: Scenario, seed: int, spec: Analysis, batch_s: float) -> Outcome:
    """The default modelcanary analysis, acting in the tick it decides.

    With ``batch_s`` > 0 the sequential tests also see every ``batch_s`` seconds of traffic
    (:func:`check_batch`) and may roll back within the interval.
    """
    plan = StepPlan.from_analysis(spec)
    state, passes, served = AnalysisState(), 0, 0
    batches = int(INTERVAL // batch_s) if batch_s > 0 else 0
    for tick in range(MAX_TICKS):
        stage = plan.stage_after(passes)
        assert stage is not None
        w = traffic(sc, seed, tick, stage.weight, stage.mirror_weight)
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
            passes += 1
            if plan.stage_after(passes) is None:
                return Outcome("promoted", now, served)
        elif result.action in ("rollback", "inconclusive"):
            return Outcome("rolled_back", now, served)
    return Outcome("timeout", MAX_TICKS * INTERVAL, served)


def flagger_checks_pass(data: IntervalData) -> bool:
    """Flagger's runAnalysis: every metric in range over the window; no data fails."""
    chal, champ = data.challenger, data.champion
    rate = error_rate(chal.counts)
    p99 = latency_quantile(chal.latencies, 0.99)
    if isinstance(rate, NoData) or isinstance(p99, NoData):
        return False
    if isinstance(chal.predictions, NoData) or isinstance(champ.predictions, NoData):
        return False
    psi = drift(champ.predictions, chal.predictions, "psi")
    return 100 * (1 - rate) >= 100 * (1 - SLO_ERROR) and p99 <= SLO_P99_MS and psi <= SLO_PSI


def run_flagger(
    sc: Scenario, seed: int, threshold: int, same_tick: bool = False, mirror: bool = True
) -> Outcome:
    """Flagger's scheduler: rollback check, then analysis, then advance, once per tick."""
    # tick 0 ("Starting canary analysis") turned mirroring on, or set the first weight
    weight, mirrored, failed, served = (0 if mirror else WEIGHTS[0]), mirror, 0, 0
    for tick in range(1, MAX_TICKS + 1):
        w = traffic(sc, seed, tick - 1, weight, 100 if mirrored else 0)
        now = tick * INTERVAL
        served += w.served(now)
        if failed >= threshold:
            return Outcome("rolled_back", now, served)
        if not flagger_checks_pass(w.data(now - INTERVAL, now)):
            failed += 1
            if same_tick and failed >= threshold:
                return Outcome("rolled_back", now, served)
            continue
        if mirrored:
            mirrored, weight = False, WEIGHTS[0]
        elif weight < WEIGHTS[-1]:
            weight = WEIGHTS[WEIGHTS.index(weight) + 1]
        else:
            return Outcome("promoted", now, served)
    return Outcome("timeout", MAX_TICKS * INTERVAL, served)


def summarise(outcomes: list[Outcome]) -> dict[str, Any]:
    """Rollback rate, median blast radius and median time to decision of a set of runs."""
    return {
        "runs": len(outcomes),
        "rollback_rate": float(np.mean([o.result == "rolled_back" for o in outcomes])),
        "promoted_rate": float(np.mean([o.result == "promoted" for o in outcomes])),
        "timeout_rate": float(np.mean([o.result == "timeout" for o in outcomes])),
        "median_blast_radius": float(np.median([o.served for o in outcomes])),
        "median_time_to_decision_s": float(np.median([o.seconds for o in outcomes])),
    }


def main(argv: list[str] | None = None) -> int:
    """Run every scenario for each policy, print a table, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write results to this file")
    parser.add_argument("--healthy", type=int, default=2000, help="seeds of the healthy scenario")
    parser.add_argument("--faulty", type=int, default=200, help="seeds of each faulty scenario")
    parser.add_argument("--threshold", type=int, default=3, help="failed checks to roll back")
    parser.add_argument("--no-mirror", action="store_true", help="skip the mirror interval")
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=5.0,
        help="modelcanary also checks its sequential tests every N seconds (0: per interval)",
    )
    args = parser.parse_args(argv)
    mirror = not args.no_mirror
    spec = analysis_spec(args.threshold, mirror)
    policies: dict[str, Callable[[Scenario, int], Outcome]] = {
        "modelcanary": lambda sc, s: run_modelcanary(sc, s, spec, args.batch_seconds),
        "modelcanary_per_interval": lambda sc, s: run_modelcanary(sc, s, spec, 0.0),
        "flagger_style": lambda sc, s: run_flagger(sc, s, args.threshold, mirror=mirror),
        "flagger_same_tick": lambda sc, s: run_flagger(
            sc, s, args.threshold, same_tick=True, mirror=mirror
        ),
    }
    started = time.perf_counter()
    scenarios: dict[str, Any] = {}
    for i, sc in enumerate(SCENARIOS):
        seeds = range(1000 * i, 1000 * i + (args.faulty if sc.faulty else args.healthy))
        scenarios[sc.name] = {"faulty": sc.faulty}
        for name, run in policies.items():
            scenarios[sc.name][name] = summarise([run(sc, s) for s in seeds])
    summary = _summary(scenarios)
    elapsed = time.perf_counter() - started
    _print(scenarios, summary, args, elapsed)
    if args.json:
        payload = {
            "config": {
                "rps": RPS,
                "interval_s": INTERVAL,
                "weights": WEIGHTS,
                "mirror_intervals": int(mirror),
                "threshold": args.threshold,
                "baseline_error": BASE_ERROR,
                "latency_median_ms": LAT_MEDIAN_MS,
                "latency_sigma": LAT_SIGMA,
                "slo": {"error_rate_max": SLO_ERROR, "p99_max_ms": SLO_P99_MS, "psi_max": SLO_PSI},
                "healthy_seeds": args.healthy,
                "faulty_seeds": args.faulty,
            },
            "scenarios": scenarios,
            "summary": summary,
            "elapsed_s": round(elapsed, 1),
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
    return 0


def _summary(scenarios: dict[str, Any]) -> dict[str, Any]:
    faulty = [s for s in scenarios.values() if s["faulty"]]
    healthy = [s for s in scenarios.values() if not s["faulty"]]

    def blast(policy: str) -> float:
        return float(sum(s[policy]["median_blast_radius"] for s in faulty))

    def ratio(a: float, b: float) -> float | None:
        return None if b == 0 else a / b

    def false_rb(policy: str) -> float:
        return float(np.mean([1 - s[policy]["promoted_rate"] for s in healthy]))

    promote = {
        p: healthy[0][p]["median_time_to_decision_s"] for p in ("modelcanary", "flagger_style")
    }
    return {
        "blast_radius_ratio": ratio(blast("modelcanary"), blast("flagger_style")),
        "blast_radius_ratio_vs_same_tick": ratio(blast("modelcanary"), blast("flagger_same_tick")),
        "blast_radius_total": {
            p: blast(p) for p in ("modelcanary", "flagger_style", "flagger_same_tick")
        },
        "false_rollback_rate": {p: false_rb(p) for p in ("modelcanary", "flagger_style")},
        "false_rollback_rate_all": {p: false_rb(p) for p in POLICIES},
        "promote_time_ratio": ratio(promote["modelcanary"], promote["flagger_style"]),
        "detection_rate": {
            p: float(np.mean([s[p]["rollback_rate"] for s in faulty]))
            for p in ("modelcanary", "flagger_style")
        },
    }


def _print(scenarios: dict[str, Any], summary: dict[str, Any], args: Any, elapsed: float) -> None:
    head = f"{'scenario':<22} {'policy':<24} {'rollback':>8} {'blast':>8} {'decide s':>9}"
    plan = f"{'mirror then ' if not args.no_mirror else ''}{WEIGHTS}"
    print(
        f"detection benchmark: {RPS:g} rps, {INTERVAL:g}s intervals, {plan}, "
        f"threshold {args.threshold}"
    )
    print(head)
    print("-" * len(head))
    for name, s in scenarios.items():
        for policy in POLICIES:
            r = s[policy]
            print(
                f"{name:<22} {policy:<24} {r['rollback_rate']:>8.1%} "
                f"{r['median_blast_radius']:>8.0f} {r['median_time_to_decision_s']:>9.0f}"
            )
    print("-" * len(head))
    for key, value in summary.items():
        print(f"{key}: {json.dumps(value)}")
    print(f"elapsed: {elapsed:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
