"""The backtest gives a recorded run's requests the runtime's CUPED covariates.

A real local router on loopback (real model servers, real HTTP): a mirror phase (the
champion serves sticky users, copies go to the challenger), then a canary where half the
users are pinned to a challenger that fails more. The recorder's windows carry each
request's unit pre-period error rate; the request log it writes (``write_csv``) is
backtested: the replay must give every request the same covariate and reach the same
verdict with the same reason, ``CUPED rho = ...`` included.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import httpx
import numpy as np
from analysis_helpers import fraud_rollout_1s
from scripted_model import scripted_model

from modelcanary.analysis import AnalysisState, Window, analyse_interval
from modelcanary.analysis._backtest import backtest, interval_data
from modelcanary.analysis._covariates import log_covariates
from modelcanary.analysis._measurements import UnitRequests
from modelcanary.analysis._requestlog import parse_log
from modelcanary.local._proxy.server import LocalRouter
from modelcanary.local._recorder import Recorder
from modelcanary.providers._embedded import EmbeddedProvider
from modelcanary.rollout._commands import Routes
from modelcanary.spec import SessionAffinity

AFFINITY = SessionAffinity.model_validate(
    {"cookieName": "mc-canary", "primaryCookieName": "mc-primary", "path": "/"}
)
USERS = [f"user-{u:02d}" for u in range(96)]
RATES = (0.0, 0.1, 0.3, 0.6)
"""Each user's persistent error rate (user k: ``RATES[k % 4]``) on the champion."""
PRE, CANARY = 6, 16
"""Requests per user in the mirror phase and in the canary."""
INTERVAL_S, GUARD_S = 1.0, 0.1
"""The analysis interval, and how far from its boundaries requests are sent. A request is
stamped when the router has its answer, after the guard's check: only one delayed past the
guard can land within the 0.5 us rounding of a boundary (about 2.5e-7 a row were stamps
spread evenly; 2,688 rows). 0.1 s: a loopback call that late is rare even on a loaded
machine (with 0.03 s, a loaded machine's delays made a mismatch ~1e-5 likely)."""


class UserRates:
    """A model's script failing each user's requests at the user's rate (plus ``extra``),
    evenly: request n of a user fails when ``floor((n + 1) r)`` exceeds ``floor(n r)``."""

    def __init__(self) -> None:
        self.extra = 0.0
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, headers: Mapping[str, str], body: bytes) -> int:
        user = headers.get("x-user", "")
        rate = min(1.0, RATES[USERS.index(user) % len(RATES)] + self.extra)
        with self.lock:
            n = self.seen[user]
            self.seen[user] += 1
        return 500 if math.floor((n + 1) * rate) > math.floor(n * rate) else 200


def _wait_for(rec: Recorder, rows: int) -> None:
    """Until the recorder holds ``rows`` rows (mirror copies are recorded in the background)."""
    deadline = time.monotonic() + 30.0
    while len(rec) < rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(rec) == rows


class Client:
    """Sends the users' requests through the router, never near a window boundary.

    The replay cuts 1 s windows from the log's first request, and the log keeps timestamps
    to the microsecond: a request recorded within a microsecond of a boundary could fall on
    the other side of it when replayed. The boundaries are known once the first request is
    recorded, so no request is sent within :data:`GUARD_S` of one.
    """

    def __init__(self, router: LocalRouter, rec: Recorder) -> None:
        self.url, self.rec, self.http = f"{router.url}/invocations", rec, httpx.Client()
        self.first: float | None = None

    def post(self, cookie: str, user: str) -> httpx.Response:
        if self.first is not None:
            phase = (time.time() - self.first) % INTERVAL_S
            if phase < GUARD_S or phase > INTERVAL_S - GUARD_S:
                time.sleep((GUARD_S - phase) % INTERVAL_S + GUARD_S)
        headers = {"cookie": f"{cookie}={user}", "x-user": user}
        answer = self.http.post(self.url, json={}, headers=headers)
        if self.first is None:
            _wait_for(self.rec, 2)  # the answer and its mirror copy
            self.first = min(r.timestamp for r in self.rec.rows())
        return answer


def _recorded_run(tmp_path: Path) -> tuple[Recorder, Path]:
    """Drive the mirror phase and the canary through the real router; write the log."""
    rollout, rec = fraud_rollout_1s(), Recorder()
    challenger_rates = UserRates()
    with scripted_model(UserRates()) as champion, scripted_model(challenger_rates) as challenger:
        router = LocalRouter(champion.url, challenger.url, rollout="fraud", recorder=rec).start()
        client = Client(router, rec)
        try:
            router.set_routes(rollout, Routes(100, 0, 100, session_affinity=AFFINITY))
            for _ in range(PRE):
                for user in USERS:
                    client.post("mc-primary", user)
            _wait_for(rec, 2 * PRE * len(USERS))
            assert rec.pre_period_end is None  # mirror copies do not end the pre-period
            challenger_rates.extra = 0.3  # the challenger now fails more for every user
            router.set_routes(rollout, Routes(50, 50, session_affinity=AFFINITY))
            for _ in range(CANARY):
                for k, user in enumerate(USERS):
                    answer = client.post("mc-canary" if k % 2 else "mc-primary", user)
                    side = "challenger" if k % 2 else "champion"
                    assert answer.headers["x-modelcanary-version"] == side
            _wait_for(rec, (2 * PRE + CANARY) * len(USERS))
        finally:
            client.http.close()
            router.stop()
    path = tmp_path / "requests.csv"
    assert rec.write_csv(path) == (2 * PRE + CANARY) * len(USERS)
    return rec, path


def _same(a: UnitRequests | None, b: UnitRequests | None) -> None:
    assert a is not None and b is not None
    assert a.keys == b.keys
    assert a.covariates is not None and b.covariates is not None
    assert np.array_equal(a.covariates, b.covariates, equal_nan=True)


def test_a_recorded_router_run_backtests_with_the_runtimes_covariates_and_verdict(
    tmp_path: Path,
) -> None:
    rec, path = _recorded_run(tmp_path)
    requests = parse_log(_csv_rows(path))
    covariates = log_covariates(requests)
    assert covariates is not None and rec.pre_period_end is not None
    assert covariates.end == round(rec.pre_period_end, 6)  # the log keeps microseconds
    everything = Window(0.0, math.inf)
    live = rec.interval_data(everything)
    replayed = interval_data(everything, requests, keyed=True, covariates=covariates)
    for side in ("champion", "challenger"):
        _same(getattr(live, side).units, getattr(replayed, side).units)
    chal = live.challenger.units
    assert chal is not None and chal.covariates is not None
    # the canary's challenger requests carry their user's mirror-phase error rate
    known = chal.covariates[~np.isnan(chal.covariates)]
    pinned = {math.floor(PRE * r) / PRE for r in RATES[1::2]}  # odd users: the challenger's
    assert len(known) == CANARY * len(USERS) // 2 and set(known.tolist()) == pinned

    # the runtime: the embedded provider's windows of the recorder, judged one by one
    rollout = fraud_rollout_1s()
    result = backtest(rollout, _csv_rows(path))
    provider, state = EmbeddedProvider(rec), AnalysisState()
    runtime = []
    log_end = max(r.timestamp for r in requests)
    for k, interval in enumerate(result.intervals):
        # the same windows; the first one from before the first row (its logged time may be
        # rounded up to the microsecond), the log's last one through its last row
        lo, hi = interval.window.start, interval.window.end
        window = Window(lo - (1e-3 if k == 0 else 0), hi + (1e-3 if hi >= log_end else 0))
        outcome = analyse_interval(rollout.spec.analysis, provider.collect(rollout, window), state)
        state = outcome.state
        runtime.append(outcome)
        assert outcome.action == interval.action and outcome.message == interval.message
        assert [c.reason for c in outcome.checks] == [c.reason for c in interval.checks]
    assert runtime[-1].action == "rollback" and "CUPED rho = " in runtime[-1].message
    assert result.verdict == "rolled_back"
    assert "CUPED rho = " in result.reason and result.reason == runtime[-1].message


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
