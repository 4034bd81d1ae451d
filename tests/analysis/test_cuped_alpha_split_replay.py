"""The runtime and the backtest choose the same plan for the CUPED comparison's share.

A recorder fed a mirror phase (the champion serves sticky users; the challenger answers a
copy of each request) and then a canary whose challenger fails more, written out with
``write_csv`` and backtested under a plan without a mirror stage. The runtime's windows
(the embedded provider over the recorder) are mirrored because they hold copies; the
backtest reads the same fact from the log (a challenger row whose ``request_id`` a champion
row carries), so both split the comparison's share and reach the same verdict and reason.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from analysis_helpers import fraud_rollout_1s

from modelcanary.analysis import AnalysisState, Window, analyse_interval
from modelcanary.analysis._backtest import backtest
from modelcanary.analysis._measurements import Side
from modelcanary.local._recorder import Recorder
from modelcanary.providers._embedded import EmbeddedProvider

USERS = 120
MIRROR_S, CANARY_S = 3, 12
"""Seconds (1 s analysis intervals) of the mirror phase and of the canary."""
PER_S = 240
"""Requests a second."""


def _recorded(seed: int, path: Path) -> Recorder:
    """A mirror phase then a canary (half the users pinned to a challenger failing 30 points
    more), at exact times inside each 1 s window; the log written to ``path``."""
    rng = np.random.default_rng([seed, 51])
    rate = rng.beta(0.6, 6.0, USERS)  # persistent per-user error rates, mean ~9 %
    pinned = rng.random(USERS) < 0.5
    rec, t0, n = Recorder(), 1_000.0, 0
    for second in range(MIRROR_S + CANARY_S):
        for i in range(PER_S):
            t = t0 + second + 0.05 + 0.9 * i / PER_S
            user = int(rng.integers(USERS))
            key, rid = f"user-{user}", f"r{n}"
            n += 1
            if second < MIRROR_S:
                status = 500 if rng.random() < rate[user] else 200
                rec.record(t, "champion", 10.0, status, request_id=rid, unit=key)
                copy = 500 if rng.random() < rate[user] else 200
                rec.record(t, "challenger", 11.0, copy, None, rid, mirrored=True, unit=key)
            else:
                side: Side = "challenger" if pinned[user] else "champion"
                bad = rate[user] + (0.3 if pinned[user] else 0.0)
                status = 500 if rng.random() < min(bad, 1.0) else 200
                rec.record(t, side, 10.0, status, request_id=rid, unit=key)
    rec.write_csv(path)
    return rec


def test_the_runtime_and_the_backtest_split_the_share_alike(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    rec = _recorded(3, path)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rollout = fraud_rollout_1s()
    result = backtest(rollout, rows)
    provider, state = EmbeddedProvider(rec), AnalysisState()
    runtime = []
    for interval in result.intervals:
        window = Window(interval.window.start - 1e-3, interval.window.end)
        outcome = analyse_interval(rollout.spec.analysis, provider.collect(rollout, window), state)
        state = outcome.state
        runtime.append(outcome)
        assert outcome.message == interval.message
        assert [c.reason for c in outcome.checks] == [c.reason for c in interval.checks]
    seq = state.sequential["error-rate"]
    assert seq.clustered is not None and seq.clustered.split is not None
    assert seq.clustered.split.plan == "split"  # a mirror phase first: both statistics
    assert result.verdict == "rolled_back", result.reason
    assert "alpha split with the unadjusted test" in result.reason
    assert "CUPED rho = " in result.reason and result.reason == runtime[-1].message
