"""Simulated traffic of the detection benchmark: scenarios and the requests of one interval.

Both versions answer the same stream of requests (the champion its share, the challenger its
share plus mirrored copies). Per request: a time, a latency (log-normal, median 50 ms), an
error flag (0.2 % base rate), a score (the model's prediction) and, in the sticky-session
scenarios, the user who sent it. A scenario changes the challenger (errors, latency, drift,
warm-up) or the environment both versions share (an incident, a diurnal rise, heavy tails,
sticky heterogeneous users). The same (scenario, seed, tick, routing) gives the same requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from modelcanary.analysis import (
    Counts,
    IntervalData,
    NoData,
    Predictions,
    Samples,
    UnitRequests,
    VersionData,
    Window,
)

if TYPE_CHECKING:
    from modelcanary.analysis._measurements import Side

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]
INTERVAL = 60.0
BASE_ERROR, LAT_MEDIAN_MS, LAT_SIGMA = 0.002, 50.0, 0.5
DEFAULT_PLAN: tuple[tuple[int, int], ...] = ((0, 100), (5, 0), (10, 0), (25, 0), (50, 0))
HALF = ((50, 0),) * 5
SMALL = ((5, 0),) * 5
STICKY_FLAKY, STICKY_FLAKY_ERROR, STICKY_LATENCY_SIGMA = 0.05, 0.05, 0.35
"""Sticky users: 5 % of them see 5 % errors (a broken client), each user's latencies are
scaled by a log-normal factor (sigma 0.35: payload sizes), activity is log-normal (sigma 1)."""


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
    cold_s: float = 0.0  # challenger 3x slower for its first seconds (cold caches)
    drift_check: bool = True  # False: judge error rate and p99 only (no PSI metric)
    users: int = 0  # > 0: sticky sessions with this many heterogeneous users
    warmup: str | None = None  # modelcanary's analysis.warmup (what docs/analysis.md advises)
    deadline_s: float = 600.0  # modelcanary's progressDeadlineSeconds (hold deadline)
    max_ticks: int = 16  # intervals simulated before a run counts as a timeout


LOW = {"rps": 2, "plan": SMALL, "deadline_s": 2700.0, "max_ticks": 60}
"""2 rps at a 5 % share: ~6 challenger predictions a minute, so a PSI window (~160
predictions) needs ~27 intervals; docs/analysis.md advises a hold deadline of 1.5 times that
(45 minutes)."""
SCENARIOS = [
    Scenario("healthy", "healthy"),
    Scenario("shared incident 10s, 50% share", "healthy", plan=HALF, incident_s=10),
    Scenario("shared incident 60s, 50% share", "healthy", plan=HALF, incident_s=60),
    Scenario("shared incident 10s, 5% share", "healthy", plan=SMALL, incident_s=10),
    Scenario("2 rps, 5% share", "healthy", **LOW),  # type: ignore[arg-type]
    Scenario("2 rps, 5% share, no drift metric", "healthy", drift_check=False, **LOW),  # type: ignore[arg-type]
    Scenario("heavy-tailed latency (sigma 0.65)", "healthy", sigma=0.65),
    Scenario("diurnal drift", "healthy", diurnal=True),
    Scenario("warm-up (3x slower first 60s), warmup 1m", "healthy", cold_s=60, warmup="1m"),
    Scenario("sticky sessions, 300 heterogeneous users", "healthy", users=300),
    Scenario("error +1%", "fault", False, error_add=0.01),
    Scenario("error +3%", "fault", False, error_add=0.03),
    Scenario("error +10%", "fault", False, error_add=0.10),
    Scenario("latency x1.3 (p99 208 ms)", "fault", True, latency_x=1.3),
    Scenario("latency x2", "fault", False, latency_x=2.0),
    Scenario("latency x5", "fault", False, latency_x=5.0),
    Scenario("prediction drift", "fault", False, drift=0.8),
    Scenario("intermittent failures", "fault", False, intermittent=True),
    Scenario("2 rps, error +10%", "fault", False, error_add=0.10, **LOW),  # type: ignore[arg-type]
    Scenario(
        "slow after warm-up (3x first 60s, then x2), warmup 1m",
        "fault",
        False,
        latency_x=2.0,
        cold_s=60,
        warmup="1m",
    ),
    Scenario("sticky sessions, error +3%", "fault", False, error_add=0.03, users=300),
]


@dataclass(frozen=True)
class Users:
    """Sticky users: activity, error propensity, latency factor, and where they are routed
    (a user goes to the challenger when its draw is below the weight: sticky and nested)."""

    activity: FloatArray
    error: FloatArray
    latency: FloatArray
    draw: FloatArray


def users(sc: Scenario, seed: int) -> Users | None:
    """The scenario's user population (the same for every tick of a run)."""
    if not sc.users:
        return None
    rng = np.random.default_rng([seed, 777])
    activity = rng.lognormal(0.0, 1.0, sc.users)
    flaky = rng.random(sc.users) < STICKY_FLAKY
    return Users(
        activity / activity.sum(),
        np.where(flaky, STICKY_FLAKY_ERROR, BASE_ERROR),
        rng.lognormal(0.0, STICKY_LATENCY_SIGMA, sc.users),
        rng.random(sc.users),
    )


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
    user: IntArray | None = None

    def served(self, until: float) -> int:
        """Requests the challenger answered for users before ``until``."""
        return int(np.sum(self.to_chal & (self.t < until)))

    def data(self, lo: float, hi: float) -> IntervalData:
        """Measurements of both versions over ``[lo, hi)`` (keyed by user when sticky)."""
        inside = (self.t >= lo) & (self.t < hi)
        c, k = inside & ~self.to_chal, inside & self.chal_mask
        champion = VersionData(
            "champion",
            Counts(int(c.sum()), int(self.champ_err[c].sum()), "champion"),
            Samples(self.champ_lat[c], "champion"),
            Predictions(self.champ_score[c], "champion"),
            units=self._units(c, self.champ_err, self.champ_lat, "champion"),
        )
        none = NoData("no requests")
        challenger = VersionData(
            "challenger",
            Counts(int(k.sum()), int(self.chal_err[k].sum())) if k.any() else none,
            Samples(self.chal_lat[k]) if k.any() else none,
            Predictions(self.chal_score[k]) if k.any() else none,
            units=self._units(k, self.chal_err, self.chal_lat, "challenger"),
        )
        return IntervalData(Window(lo, hi), challenger, champion, mirrored=self.mirrored)

    def _units(
        self, mask: BoolArray, err: BoolArray, lat: FloatArray, side: Side
    ) -> UnitRequests | None:
        if self.user is None:
            return None
        keys = tuple(f"user-{u}" for u in self.user[mask])
        return UnitRequests(keys, err[mask], lat[mask], side)


def traffic(sc: Scenario, seed: int, tick: int, weight: int, mirror: int) -> Traffic:
    """Requests of one interval; the same (seed, tick, routing) gives the same requests."""
    rng = np.random.default_rng([seed, tick, weight, mirror])
    n = int(rng.poisson(sc.rps * INTERVAL))
    t = tick * INTERVAL + np.sort(rng.uniform(0, INTERVAL, n))
    pop = users(sc, seed)
    user = rng.choice(len(pop.activity), size=n, p=pop.activity) if pop else None
    to_chal = (
        pop.draw[user] < weight / 100 if pop and user is not None else rng.random(n) < weight / 100
    )
    mirrored = ~to_chal & (rng.random(n) < mirror / 100)
    feature = rng.normal(size=n)
    mu = math.log(LAT_MEDIAN_MS)
    base = np.full(n, BASE_ERROR) if pop is None or user is None else pop.error[user]
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
    factor = pop.latency[user] if pop is not None and user is not None else 1.0
    chal_lat = rng.lognormal(mu, sc.sigma, n) * factor * sc.latency_x
    champ_lat = rng.lognormal(mu, sc.sigma, n) * factor  # drawn second, as it always was
    if sc.cold_s:
        chal_lat = np.where(t < sc.cold_s, chal_lat * 3.0 / sc.latency_x, chal_lat)
    return Traffic(
        t=t,
        to_chal=to_chal,
        chal_mask=to_chal | mirrored,
        champ_score=1 / (1 + np.exp(-(feature - 1.0))),
        chal_score=1 / (1 + np.exp(-(feature - 1.0 + sc.drift))),
        champ_lat=champ_lat,
        chal_lat=chal_lat,
        champ_err=rng.random(n) < base,
        chal_err=rng.random(n) < p_err,
        mirrored=mirror > 0,
        user=user,
    )
