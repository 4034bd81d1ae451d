"""CUPED benchmark: the unit-level champion comparison with and without the pre-period covariate.

A seeded simulation of sticky, heterogeneous users. Each run draws a fresh population:
``USERS`` users with lognormal activity and a persistent error rate from a Beta with strong
dispersion (mean 2 %, ``Beta(0.4, 19.6)``: intra-user correlation 1/21). During the
pre-period every user sends requests to the champion only; each user's covariate is its
pre-period error rate (the pre-period mean for users it did not see). Then users are pinned
to the challenger with probability ``share`` and the judge is fed batches of ``BATCH``
requests through the shipped code path (:func:`modelcanary.analysis._judge_units.update_units`
with :class:`~modelcanary.analysis.UnitRequests` carrying the covariates).

Per run and test (``adjusted``: CUPED; ``unadjusted``: the same state's comparison without the
covariate, what the judge does without a pre-period) the always-valid p-value's running
minimum is compared with the level after each batch. Healthy challenger (same error rates):
``false_rejection_rate`` with its Monte-Carlo standard error. Faulty (each user's rate times
``effect``): ``detection_rate`` and the median (and 80th percentile) challenger requests to
reject. ``variance_ratio``: the judge's adjusted over unadjusted variance at the end
(``1 - rho^2`` as realised), against ``1 - rho^2`` the sample plan reads from the pre-period log
(:func:`modelcanary.analysis.pre_period`).

``mirror_*`` scenarios: a mirror phase first (``MIRROR_LOOKS`` looks: the champion serves
every request, the challenger answers a copy), which is the pre-period (each user's
covariate is its error rate on the champion in it), then the canary. The comparison's plan
is then ``split`` (:mod:`modelcanary.analysis._cuped_split`): ``split`` is the shipped
comparison (each statistic's running minimum at half the share), ``single`` the rule before
it (one running minimum, the unadjusted statistic's in the mirror phase, the adjusted one's
after: a union of two tests at the full share each), ``unadjusted`` the unadjusted statistic
alone at the full share. Requests to detect count the challenger's served requests (0: caught
on the copies of the mirror phase).

Run: ``python benchmarks/cuped.py [--runs N] [--json FILE]`` (default 300 runs per scenario,
about 6 minutes on a shared core).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelcanary.analysis import IntervalData, UnitRequests, Window, pre_period
from modelcanary.analysis._clustered import comparison_p, rate_and_variance
from modelcanary.analysis._cuped import adjusted, cuped_comparison_p, variance_ratio
from modelcanary.analysis._judge_units import update_units
from modelcanary.analysis._judges import SequentialState
from modelcanary.analysis._measurements import VersionData
from modelcanary.spec import MetricSpec

USERS = 2000
PRE_REQUESTS = 40_000
"""Champion requests in the pre-period (20 per user on average)."""
BATCH = 2000
"""Requests (both versions) per look."""
LOOKS = 60
MIRROR_LOOKS = 3
"""Looks of the mirror phase in the ``mirror_*`` scenarios (6,000 requests: copies are
paired, so a long one catches most faults before the canary; its covariates are weaker
than the 40,000-request pre-period of the others)."""
METRIC = MetricSpec.model_validate({"name": "error-rate", "threshold_range": {"max": 0.2}})
"""Absolute SLO far away: the champion comparison tests H0 ``p1 <= p0``."""
RATIO = MetricSpec.model_validate(
    {"name": "error-rate", "relative_to": "champion", "threshold_range": {"max": 1.5}}
)
"""Relative check: H0 ``p1 <= 1.5 p0`` (the centring of the covariate does not cancel)."""


@dataclass
class Population:
    """Sticky users with persistent error rates, and their pre-period covariates."""

    activity: Any
    rate: Any
    covariate: Any
    mean: float
    pre_log: list[dict[str, Any]]

    @classmethod
    def draw(cls, rng: np.random.Generator, *, users: int = USERS, log: bool = False) -> Population:
        activity = rng.lognormal(0.0, 1.0, users)
        activity /= activity.sum()
        rate = rng.beta(0.4, 19.6, users)
        requests = PRE_REQUESTS * users // USERS
        who = rng.choice(users, size=requests, p=activity)
        bad = rng.random(requests) < rate[who]
        n = np.bincount(who, minlength=users)
        b = np.bincount(who, weights=bad, minlength=users)
        mean = float(bad.mean())
        covariate = np.where(n > 0, b / np.maximum(n, 1), mean)
        rows = []
        if log:  # the pre-period as the request log a user would give the sample plan
            rows = [
                {"timestamp": float(i), "version": "champion", "latency_ms": 10.0,
                 "status": 500 if e else 200, "unit": f"user-{u}"}
                for i, (u, e) in enumerate(zip(who.tolist(), bad.tolist(), strict=True))
            ]  # fmt: skip
        return cls(activity, rate, covariate, mean, rows)


def run(
    rng: np.random.Generator,
    share: float,
    effect: float,
    level: float,
    users: int = USERS,
    metric: MetricSpec = METRIC,
) -> dict[str, Any]:
    """One rollout: challenger requests at rejection per test (None: not rejected)."""
    pop = Population.draw(rng, users=users)
    pinned = rng.random(users) < share
    keys = np.array([f"user-{u}" for u in range(users)])
    r0 = 1.5 if metric is RATIO else 1.0
    state = SequentialState()
    raw_min, stops = 1.0, {"adjusted": None, "unadjusted": None}
    for look in range(LOOKS):
        who = rng.choice(users, size=BATCH, p=pop.activity)
        to_chal = pinned[who]
        rate = pop.rate[who] * np.where(to_chal, effect, 1.0)
        err = rng.random(BATCH) < np.minimum(rate, 1.0)

        rows = (keys[who], err, pop.covariate[who])
        data = IntervalData(
            Window(look, look + 1),
            side("challenger", rows, to_chal),
            side("champion", rows, ~to_chal),
        )
        state = update_units(metric, data, state)
        clustered = state.clustered
        assert clustered is not None
        raw_min = min(raw_min, comparison_p(clustered, r0, 0.0))
        seen = sum(clustered.n1)
        if stops["adjusted"] is None and clustered.comparison_p <= level:
            stops["adjusted"] = seen
        if stops["unadjusted"] is None and raw_min <= level:
            stops["unadjusted"] = seen
        if all(v is not None for v in stops.values()):
            break
    assert state.clustered is not None
    ratio = variance_ratio(state.clustered, r0)
    p1, v1, _ = rate_and_variance(state.clustered.n1, state.clustered.b1)
    p0, v0, _ = rate_and_variance(state.clustered.n0, state.clustered.b0)
    z_raw = (p1 - r0 * p0) / (v1 + r0 * r0 * v0) ** 0.5
    fit = adjusted(state.clustered, state.clustered.cuped, r0, 0.0)  # type: ignore[arg-type]
    z_adj = fit[0] / fit[1] ** 0.5 if fit else z_raw
    return {**stops, "ratio": ratio, "z": (z_adj, z_raw)}


def side(name: Any, rows: tuple[Any, Any, Any | None], mask: Any) -> VersionData:
    """One version's unit rows of a batch (no latencies), covariates attached if any."""
    keys, err, covariate = rows
    count = int(mask.sum())
    x = None if covariate is None else covariate[mask]
    units = UnitRequests(tuple(keys[mask]), err[mask], np.full(count, np.nan), name, x)
    return VersionData(name, units=units)


def run_mirror(
    rng: np.random.Generator, share: float, effect: float, level: float, late: bool
) -> dict[str, Any]:
    """A mirror phase (the pre-period), then the canary: challenger requests served at
    rejection per rule (None: not rejected; 0: on the mirror phase's copies). ``late``: the
    fault shows only once the challenger serves (its copies are healthy)."""
    pop = Population.draw(rng)
    users = len(pop.rate)
    pinned = rng.random(users) < share
    keys = np.array([f"user-{u}" for u in range(users)])
    everyone = np.ones(BATCH, dtype=bool)
    state, pre_n, pre_b = SequentialState(), np.zeros(users), np.zeros(users)
    mins = {"raw": 1.0, "single": 1.0}
    stops: dict[str, int | None] = {"split": None, "single": None, "unadjusted": None}
    served = 0
    for look in range(MIRROR_LOOKS + LOOKS):
        who = rng.choice(users, size=BATCH, p=pop.activity)
        if look < MIRROR_LOOKS:  # copies of every request: paired users, no covariate
            err0 = rng.random(BATCH) < pop.rate[who]
            err1 = rng.random(BATCH) < np.minimum(pop.rate[who] * (1 if late else effect), 1)
            pre_n += np.bincount(who, minlength=users)
            pre_b += np.bincount(who, weights=err0, minlength=users)
            data = IntervalData(
                Window(look, look + 1),
                side("challenger", (keys[who], err1, None), everyone),
                side("champion", (keys[who], err0, None), everyone),
                mirrored=True,
            )
        else:
            mean = pre_b.sum() / pre_n.sum()
            covariate = np.where(pre_n > 0, pre_b / np.maximum(pre_n, 1), mean)
            to_chal = pinned[who]
            rate = pop.rate[who] * np.where(to_chal, effect, 1.0)
            err = rng.random(BATCH) < np.minimum(rate, 1.0)
            rows = (keys[who], err, covariate[who])
            data = IntervalData(
                Window(look, look + 1),
                side("challenger", rows, to_chal),
                side("champion", rows, ~to_chal),
                mirrored=False,
            )
            served += int(to_chal.sum())
        state = update_units(METRIC, data, state)
        clustered = state.clustered
        assert clustered is not None
        raw = comparison_p(clustered, 1.0, 0.0)
        cuped = cuped_comparison_p(clustered, 1.0, 0.0)
        mins["raw"] = min(mins["raw"], raw)
        mins["single"] = min(mins["single"], raw if cuped is None else cuped)
        for test, p in (("split", clustered.comparison_p), ("single", mins["single"]),
                        ("unadjusted", mins["raw"])):  # fmt: skip
            if stops[test] is None and p <= level:
                stops[test] = served
        if all(v is not None for v in stops.values()):
            break
    return stops


def mirror_scenario(
    runs: int, effect: float, level: float, seed: int, late: bool = False
) -> dict[str, Any]:
    """A mirror phase then a canary (30 % of users): each rule's rejections."""
    rng = np.random.default_rng(seed)
    results = [run_mirror(rng, 0.3, effect, level, late) for _ in range(runs)]
    out: dict[str, Any] = {"runs": runs, "effect": effect, "level": level, "late": late}
    for test in ("split", "single", "unadjusted"):
        stops = [r[test] if r[test] is not None else np.inf for r in results]
        rate = float(np.isfinite(stops).mean())
        key = "false_rejection_rate" if effect == 1.0 else "detection_rate"
        out[test] = {key: rate, "mc_se": (rate * (1 - rate) / runs) ** 0.5}
        if effect != 1.0:
            median = np.quantile(stops, 0.5, method="inverted_cdf")
            out[test]["median_requests"] = float(median) if np.isfinite(median) else None
            out[test]["in_mirror_phase"] = float(np.mean([s == 0 for s in stops]))
    return out


def scenario(
    runs: int, share: float, effect: float, level: float, seed: int, **kw: Any
) -> dict[str, Any]:
    """``healthy``: the true effect is on the null's boundary (``effect`` = its ``r0``)."""
    rng = np.random.default_rng(seed)
    results = [run(rng, share, effect, level, **kw) for _ in range(runs)]
    healthy = effect == (1.5 if kw.get("metric") is RATIO else 1.0)
    out: dict[str, Any] = {"runs": runs, "share": share, "effect": effect, "level": level}
    out["users"] = kw.get("users", USERS)
    for test in ("adjusted", "unadjusted"):
        stops = [r[test] if r[test] is not None else np.inf for r in results]
        rate = float(np.isfinite(stops).mean())
        key = "false_rejection_rate" if healthy else "detection_rate"
        out[test] = {key: rate, "mc_se": (rate * (1 - rate) / runs) ** 0.5}
        if not healthy:  # runs not rejected within LOOKS count as beyond every figure
            median = np.quantile(stops, 0.5, method="inverted_cdf")
            p80 = np.quantile(stops, 0.8, method="inverted_cdf")
            out[test]["median_requests"] = float(median) if np.isfinite(median) else None
            out[test]["p80_requests"] = float(p80) if np.isfinite(p80) else None
    if healthy:  # fixed-horizon calibration at the last look: sd of z near 1 (mean 0)
        for k, test in enumerate(("adjusted", "unadjusted")):
            z = np.array([r["z"][k] for r in results])
            out[test]["z_mean"], out[test]["z_sd"] = float(z.mean()), float(z.std(ddof=1))
    ratios = [r["ratio"] for r in results if r["ratio"] is not None]
    out["variance_ratio_median"] = float(np.median(ratios)) if ratios else None
    return out


def planned(seed: int) -> dict[str, float]:
    """What the sample plan reads from one population's pre-period log."""
    pop = Population.draw(np.random.default_rng(seed), log=True)
    pre = pre_period(pop.pre_log)
    return {"rho": pre.rho, "design_effect": pre.design_effect, "baseline": pre.baseline}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    figures = {
        "healthy_5pct": scenario(args.runs, 0.3, 1.0, 0.05, 1),
        "healthy_1pct": scenario(args.runs, 0.3, 1.0, 0.01, 2),
        "faulty_1.5x": scenario(args.runs, 0.3, 1.5, 0.01, 3),
        "faulty_2x": scenario(args.runs, 0.3, 2.0, 0.01, 4),
        "healthy_few_users": scenario(args.runs, 0.3, 1.0, 0.05, 6, users=60),
        "healthy_ratio_boundary": scenario(args.runs, 0.3, 1.5, 0.05, 7, metric=RATIO),
        "mirror_healthy_5pct": mirror_scenario(args.runs, 1.0, 0.05, 8),
        "mirror_faulty_1.5x": mirror_scenario(args.runs, 1.5, 0.01, 9),
        "mirror_late_1.5x": mirror_scenario(args.runs, 1.5, 0.01, 10, late=True),
        "mirror_late_2x": mirror_scenario(args.runs, 2.0, 0.01, 11, late=True),
        "plan": planned(5),
    }
    figures["seconds"] = round(time.perf_counter() - started, 1)
    for name, value in figures.items():
        print(f"{name}: {json.dumps(value)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
