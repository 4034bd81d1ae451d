"""Issue 15: the local recorder gives each request its unit's pre-period covariate (CUPED).

The pre-period is the champion's served traffic before the challenger first *served* a
request (a mirror phase is part of it); afterwards each window's ``units`` carry, per
request, its user's pre-period error rate (the pre-period mean for a user not seen then),
and NaN for requests from before the pre-period ended. Fixed once computed, bounded.
"""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest
from router_fixtures import rollout, router, settle, upstream

from modelcanary.analysis import Window
from modelcanary.local import _covariates
from modelcanary.local._recorder import Recorder
from modelcanary.rollout._commands import Routes
from modelcanary.spec import SessionAffinity

AFFINITY = SessionAffinity.model_validate(
    {"cookieName": "mc-canary", "primaryCookieName": "mc-primary", "path": "/"}
)


def _pre_period(rec: Recorder) -> None:
    """t 0-99: the champion serves alice (1 error in 10), bob (none), carol (all fail), and a
    mirror phase copies every request to the challenger (copies do not end the pre-period)."""
    users = {"alice": [True] + [False] * 9, "bob": [False] * 10, "carol": [True] * 5}
    t = 0.0
    for user, errors in users.items():
        for failed in errors:
            rec.record(t, "champion", 10.0, 500 if failed else 200, unit=user)
            rec.record(t, "challenger", 11.0, 200, mirrored=True, unit=user)
            t += 3.0
    rec.record(t, "champion", 10.0, 200)  # a request without a key counts in the mean


def _served(rec: Recorder) -> None:
    """t 100-110: the challenger serves bob and dave; the champion serves alice and carol."""
    for k in range(5):
        t = 100.0 + 2 * k
        rec.record(t, "challenger", 12.0, 200, unit="bob")
        rec.record(t + 0.5, "challenger", 12.0, 500, unit="dave")
        rec.record(t + 1.0, "champion", 10.0, 200, unit="alice")
        rec.record(t + 1.5, "champion", 10.0, 500, unit="carol")


def test_covariates_are_the_units_pre_period_rates_after_the_first_served_request() -> None:
    rec = Recorder()
    _pre_period(rec)
    assert rec.pre_period_end is None  # mirror copies only: still the pre-period
    before = rec.interval_data(Window(0, 100)).champion.units
    assert before is not None and before.covariates is None
    _served(rec)
    assert rec.pre_period_end == 100.0
    data = rec.interval_data(Window(100, 110))
    chal, champ = data.challenger.units, data.champion.units
    assert chal is not None and champ is not None
    assert chal.covariates is not None and champ.covariates is not None
    mean = 6 / 26  # 6 errors in the pre-period's 26 champion requests
    by_key = dict(zip(chal.keys, chal.covariates.tolist(), strict=True))
    assert by_key["bob"] == 0.0 and by_key["dave"] == pytest.approx(mean)  # dave: unseen
    by_key = dict(zip(champ.keys, champ.covariates.tolist(), strict=True))
    assert by_key["alice"] == pytest.approx(0.1) and by_key["carol"] == 1.0
    # a window across the end: its pre-period requests have no covariate
    across = rec.interval_data(Window(60, 110)).champion.units
    assert across is not None and across.covariates is not None
    first = [c for k, c in zip(across.keys, across.covariates, strict=True) if k == "carol"]
    assert math.isnan(first[0]) and first[-1] == 1.0


def test_covariates_are_fixed_once_computed() -> None:
    rec = Recorder()
    _pre_period(rec)
    _served(rec)
    first = rec.interval_data(Window(100, 110)).champion.units
    for k in range(20):  # bob fails on the champion after the pre-period
        rec.record(111.0 + k, "champion", 10.0, 500, unit="bob")
    rec.end_pre_period(200.0)  # too late: covariates never change once used
    again = rec.interval_data(Window(100, 110)).champion.units
    assert first is not None and again is not None and rec.pre_period_end == 100.0
    assert np.array_equal(first.covariates, again.covariates)  # type: ignore[arg-type]
    late = rec.interval_data(Window(111, 140)).champion.units
    assert late is not None and late.covariates is not None
    assert set(late.covariates.tolist()) == {0.0}  # bob's pre-period rate, not his new one


def test_an_explicit_end_and_no_pre_period_traffic() -> None:
    rec = Recorder()
    _pre_period(rec)
    rec.end_pre_period(50.0)  # e.g. the runtime's own record of the first served step
    units = rec.interval_data(Window(50, 100)).champion.units
    assert units is not None and units.covariates is not None
    assert not np.isnan(units.covariates).any()  # every request from t=50 on has one
    fresh = Recorder()
    fresh.record(0.0, "challenger", 10.0, 200, unit="u")  # served at once: no pre-period
    fresh.record(1.0, "champion", 10.0, 200, unit="v")
    units = fresh.interval_data(Window(0, 2)).champion.units
    assert units is not None and units.covariates is None


def test_remembered_units_are_capped_to_the_most_active(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_covariates, "MAX_COVARIATE_UNITS", 2)
    rec = Recorder()
    t = 0.0
    for user, count in (("light", 1), ("heavy", 6), ("middle", 3)):
        for _ in range(count):
            rec.record(t, "champion", 10.0, 500 if user != "heavy" else 200, unit=user)
            t += 1.0
    rec.record(20.0, "challenger", 10.0, 200, unit="x")
    for user in ("light", "heavy", "middle"):
        rec.record(21.0, "champion", 10.0, 200, unit=user)
    units = rec.interval_data(Window(20, 22)).champion.units
    assert units is not None and units.covariates is not None
    by_key = dict(zip(units.keys, units.covariates.tolist(), strict=True))
    assert by_key == {"light": pytest.approx(4 / 10), "heavy": 0.0, "middle": 1.0}


def test_a_real_router_mirror_phase_is_the_pre_period_of_the_canary() -> None:
    """Real router and upstreams on loopback: a mirror phase (champion serves, copies go to the
    challenger), then a 50/50 canary with sticky users; the canary's rows carry each user's
    error rate from the mirror phase."""
    with (
        upstream("champion") as champion,
        upstream("challenger") as challenger,
        router(champion.url, challenger.url, Routes(100, 0, 100, session_affinity=AFFINITY)) as r,
    ):
        rec: Recorder = r.recorder  # type: ignore[assignment]
        for user, status in (("alice", 500), ("bob", 200)):
            champion.status = status  # alice's inputs fail on the champion
            for _ in range(4):
                httpx.post(
                    f"{r.url}/invocations", json={}, headers={"cookie": f"mc-primary={user}"}
                )
        settle(r)
        assert rec.pre_period_end is None  # mirror copies do not end the pre-period
        champion.status = 200
        r.set_routes(rollout(), Routes(50, 50, session_affinity=AFFINITY))
        for _ in range(3):
            answer = httpx.post(
                f"{r.url}/invocations", json={}, headers={"cookie": "mc-canary=alice"}
            )
            assert answer.headers["x-modelcanary-version"] == "challenger"
            httpx.post(f"{r.url}/invocations", json={}, headers={"cookie": "mc-primary=bob"})
        for _ in range(200):  # the mirror copies are sent in the background
            settle(r)
            if len(rec) >= 8 + 8 + 6:
                break
        data = rec.interval_data(Window(0.0, math.inf))
    end = rec.pre_period_end
    assert end is not None
    chal, champ = data.challenger.units, data.champion.units
    assert chal is not None and champ is not None
    assert chal.covariates is not None and champ.covariates is not None
    served = [(k, x) for k, x in zip(chal.keys, chal.covariates.tolist(), strict=True) if x == x]
    assert served == [("alice", 1.0)] * 3  # the mirror copies (pre-period) have none
    assert int(np.isnan(chal.covariates).sum()) == 8
    later = [x for x in champ.covariates.tolist() if x == x]
    assert later == [0.0] * 3 and int(np.isnan(champ.covariates).sum()) == 8
