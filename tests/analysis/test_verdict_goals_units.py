"""Issue 15: unit keys beyond the affinity cookie. ``analysis.unitKey`` names a user header; the
request log carries each request's key in a ``unit`` column (written by the recorder, read
by the backtest), so a replayed log is judged per user as the runtime judged it."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelcanary.analysis import IntervalData, Window, analyse_interval, backtest, version_data
from modelcanary.analysis._requestlog import parse_log
from modelcanary.errors import SpecError
from modelcanary.local._recorder import Recorder
from modelcanary.spec import Analysis

ANALYSIS = Analysis.model_validate(
    {
        "interval": "30s",
        "threshold": 1,
        "stepWeights": [50],
        "unitKey": {"header": "x-user-id"},
        "metrics": [{"name": "error-rate", "relativeTo": "champion", "thresholdRange": {"max": 2}}],
    }
)


def sticky_log(with_units: bool) -> list[dict[str, Any]]:
    """20 users per version; one heavy challenger user sends 300 requests, every 5th of which
    is an input any model rejects (the user's fault, not the challenger's)."""
    rows: list[dict[str, Any]] = []
    t = 0.0
    for user in range(20):
        for version in ("champion", "challenger"):
            for _ in range(30):
                t += 0.05
                rows.append({"version": version, "user": f"{version}-{user}", "bad": False, "t": t})
    for i in range(300):
        rows.append({"version": "challenger", "user": "heavy", "bad": i % 5 == 0, "t": i * 0.2})
    rows.sort(key=lambda r: r["t"])
    return [
        {
            "timestamp": 1000.0 + r["t"],
            "version": r["version"],
            "latency_ms": 50.0,
            "status": 500 if r["bad"] else 200,
            **({"unit": r["user"]} if with_units else {}),
        }
        for r in rows
    ]


def test_a_log_with_user_keys_is_judged_per_user() -> None:
    per_request = backtest(ANALYSIS, sticky_log(with_units=False))
    assert per_request.verdict == "rolled_back"  # the heavy user's bad inputs, counted 60 times
    per_user = backtest(ANALYSIS, sticky_log(with_units=True))
    assert per_user.verdict != "rolled_back", per_user.reason


def test_unit_column_is_read_blank_is_none_and_a_huge_key_is_refused() -> None:
    base = {"timestamp": 1.0, "version": "challenger", "latency_ms": 5, "status": 200}
    rows = parse_log([{**base, "unit": " user-7 "}, {**base, "unit": ""}, base])
    assert [r.unit for r in rows] == ["user-7", None, None]
    with pytest.raises(SpecError) as err:
        parse_log([base, {**base, "unit": "u" * 201}])
    assert "log row 2" in str(err.value) and "unit" in str(err.value)


def test_recorder_writes_unit_keys_and_the_backtest_reads_them(tmp_path: Path) -> None:
    recorder = Recorder()
    for row in sticky_log(with_units=True):
        recorder.record(
            row["timestamp"],
            row["version"],
            row["latency_ms"],
            row["status"],
            unit=row["unit"],
        )
    path = tmp_path / "requests.csv"
    assert recorder.write_csv(path) == len(sticky_log(with_units=True))
    with path.open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header[-1] == "unit"
    with path.open(encoding="utf-8") as handle:
        replayed = list(csv.DictReader(handle))
    assert {r["unit"] for r in replayed} >= {"heavy", "challenger-3", "champion-3"}
    assert backtest(ANALYSIS, replayed).verdict != "rolled_back"


def test_unit_key_names_a_header() -> None:
    assert ANALYSIS.unit_key is not None and ANALYSIS.unit_key.header == "x-user-id"
    with pytest.raises(ValueError, match=r"unitKey\.header"):
        Analysis.model_validate({"unitKey": {"header": "x user"}})


P99_SLO = Analysis.model_validate(
    {
        "interval": "1m",
        "threshold": 1,
        "stepWeights": [5, 10, 25, 50],
        "metrics": [{"name": "latency-p99", "thresholdRange": {"max": 250}}],
    }
)


def sticky_window(slow_users: int, factor: float) -> IntervalData:
    """12 challenger users (``slow_users`` of them ``factor`` times slower, heavy), 200
    champion users; log-normal latencies, median 50 ms."""
    rng = np.random.default_rng(3)
    keys1, lat1 = [], []
    for user in range(12):
        heavy = user < slow_users
        for _ in range(60 if heavy else 15):
            keys1.append(f"c-{user}")
            lat1.append(float(rng.lognormal(np.log(50.0), 0.5)) * (factor if heavy else 1.0))
    keys0 = [f"p-{i % 200}" for i in range(4000)]
    lat0 = list(rng.lognormal(np.log(50.0), 0.5, 4000))
    return IntervalData(
        Window(0, 60),
        version_data("challenger", latencies_ms=lat1, errors=[False] * len(lat1), units=keys1),
        version_data("champion", latencies_ms=lat0, errors=[False] * 4000, units=keys0),
    )


def test_a_p99_breach_within_the_users_noise_does_not_hold_the_step() -> None:
    # two heavy users with slow inputs on a healthy challenger: its p99 is above the SLO for
    # the users it serves, and they stay; HEAD held the step until the hold deadline
    # (inconclusive, 5 % of the benchmark's healthy sticky rollouts)
    result = analyse_interval(P99_SLO, sticky_window(slow_users=2, factor=2.2))
    check = result.checks[0]
    assert check.value is not None and check.value > 250
    assert check.verdict == "pass" and result.action == "advance", check.reason
    assert "within their per-user noise" in check.reason


def test_a_breach_shared_by_every_user_still_holds_or_fails() -> None:
    result = analyse_interval(P99_SLO, sticky_window(slow_users=12, factor=3.0))
    assert result.checks[0].verdict in ("fail", "inconclusive")
    assert result.action in ("rollback", "hold")
