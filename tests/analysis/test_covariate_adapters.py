"""One pre-period covariate rule for the recorder and the backtest (CUPED).

The same requests (unit keys, errors, which version, which were mirror copies) given to the
local recorder (its sealed chunk columns and open rows) and, as the request log it writes, to
the backtest's adapter give the same pre-period end, the same per-unit rates, mean and cap,
and the same covariate for every request.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelcanary.analysis import Window
from modelcanary.analysis import _covariates as rule
from modelcanary.analysis._backtest import interval_data
from modelcanary.analysis._covariates import log_covariates, pre_period_end, unit_rates
from modelcanary.local import _covariates as local
from modelcanary.local._chunk import Chunk, Row
from modelcanary.local._recorder import CHUNK_ROWS, Recorder

KEYS = ["", "alice", "bob", "carol", "dave", "émile", "u" * 40]
"""Unit keys: none, plain, non-ASCII, and one the recorder stores hashed (over 32 chars)."""


def _traffic(seed: int, rows: int, keys: list[str] = KEYS) -> list[Row]:
    """Rows as the router records them: a mirror phase (champion answers, mirror copies with
    the same request id), then champion and challenger both serving; random units, errors."""
    rng = np.random.default_rng(seed)
    rate = {key: float(r) for key, r in zip(keys, rng.uniform(0, 0.6, len(keys)), strict=True)}
    served_from = int(rng.integers(rows // 4, 3 * rows // 4))
    out: list[Row] = []
    for i in range(rows):
        t = 1000.0 + i * 0.25
        key = keys[int(rng.integers(len(keys)))]
        failed = bool(rng.random() < rate[key])
        rid = f"r{i}"
        if i < served_from or rng.random() < 0.5:
            out.append((t, "champion", 5.0, 500 if failed else 200, None, rid, False, key))
            if rng.random() < 0.7:  # a mirror copy: same id, answered a little later
                out.append((t + 0.1, "challenger", 6.0, 200, None, rid, True, key))
        else:
            out.append((t, "challenger", 6.0, 503 if failed else 200, None, rid, False, key))
    return out


def _recorded(rows: list[Row]) -> Recorder:
    rec = Recorder()
    for row in rows:
        t, version, latency, status, prediction, rid, mirrored, unit = row
        rec.record(t, version, latency, status, prediction, rid, mirrored, unit or None)
    return rec


@pytest.mark.parametrize("seed", range(6))
def test_the_recorder_and_its_replayed_log_give_every_request_the_same_covariate(
    seed: int,
) -> None:
    rows = _traffic(seed, 3 * CHUNK_ROWS // 2)  # sealed chunks and open rows
    rec = _recorded(rows)
    everything = Window(0.0, math.inf)
    live = rec.interval_data(everything)
    log = rec.rows()  # what write_csv writes: no mirror flag, the request ids
    found = log_covariates(log)
    assert found is not None and found.end == rec.pre_period_end
    replayed = interval_data(everything, log, keyed=True, covariates=found)
    for side in ("champion", "challenger"):
        a, b = getattr(live, side).units, getattr(replayed, side).units
        assert a is not None and b is not None and a.keys == b.keys
        assert a.covariates is not None and b.covariates is not None
        assert np.array_equal(a.covariates, b.covariates, equal_nan=True)
        assert not np.isnan(a.covariates).all()
    # a window inside the pre-period carries none, on both sides
    assert rec.pre_period_end is not None
    early = Window(0.0, rec.pre_period_end)
    assert rec.interval_data(early).champion.units.covariates is None  # type: ignore[union-attr]
    early_rows = [r for r in log if r.timestamp < rec.pre_period_end]
    again = interval_data(early, early_rows, keyed=True, covariates=found)
    assert again.champion.units is not None and again.champion.units.covariates is None


@pytest.mark.parametrize("cap", [2, 4, 100])
def test_the_chunk_adapter_and_the_log_adapter_agree_on_rates_mean_and_cap(
    cap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "MAX_COVARIATE_UNITS", cap)
    monkeypatch.setattr(rule, "MAX_COVARIATE_UNITS", cap)
    rows = _traffic(40 + cap, 900, KEYS[:-1])  # keys the recorder keeps as they are
    times = np.array([r[0] for r in rows])
    end = pre_period_end(times, [r[1] == "challenger" for r in rows], [r[6] for r in rows])
    assert end is not None
    before = [r for r in rows if r[0] < end]
    sealed, tail = Chunk(before[: len(before) // 2]), before[len(before) // 2 :]
    from_chunks = local.pre_period_rates([(sealed, 0, len(sealed))], tail, end)
    from_log = log_covariates(_recorded(rows).rows())
    assert from_log is not None
    assert from_chunks.end == from_log.end == end
    assert from_chunks.mean == from_log.mean
    assert from_chunks.rates == from_log.rates and len(from_log.rates) == min(cap, 5)
    for row in rows:
        assert _same(from_chunks.of(row[0], row[7]), from_log.of(row[0], row[7]))


def test_the_rule_counts_served_champion_requests_before_the_first_served_challenger() -> None:
    times = [1.0, 2.0, 3.0, 4.0]
    # the challenger's copy at t=2 does not end the pre-period; its served request at t=4 does
    assert pre_period_end(times, [False, True, False, True], [False, True, False, False]) == 4.0
    assert pre_period_end(times, [False, True, False, True], [False, True, False, True]) is None
    keys = np.array([b"a", b"a", b"b", b"", b"c", b"c", b"c"], dtype=np.bytes_)
    bad = np.array([True, False, True, False, False, False, True])
    found = unit_rates(keys, bad, 10.0, cap=2)
    assert found.rates == {"c": pytest.approx(1 / 3), "a": 0.5}  # the two most active
    assert found.mean == pytest.approx(3 / 7)
    assert math.isnan(found.of(9.9, "a")) and found.of(10.0, "b") == found.mean
    assert found.of(10.0, "") == found.mean
    assert math.isnan(unit_rates(keys[:0], bad[:0], 1.0).mean)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_a_window_without_keys_after_keyed_ones_is_judged_per_unit_as_the_recorder_does() -> None:
    """The recorder gives every window unit rows once it recorded a keyed request (an unkeyed
    request is a unit of its own); the replay does the same, window for window."""
    from modelcanary.analysis import AnalysisState, analyse_interval
    from modelcanary.analysis._backtest import backtest
    from modelcanary.spec import Analysis

    analysis = Analysis.model_validate(
        {
            "interval": "10s",
            "threshold": 3,
            "step_weights": list(range(5, 100, 5)),
            "metrics": [{"name": "error-rate", "threshold_range": {"max": 0.5}}],
        }
    )
    rng = np.random.default_rng(5)
    rec = Recorder()
    for i in range(400):  # 0-20 s: keyed users; 20-40 s: requests without a key
        t = i * 0.1 + (0.05 if i else 0.0)  # windows from t=0: no later request on a boundary
        version = "challenger" if rng.random() < 0.5 else "champion"
        unit = f"user-{rng.integers(30)}" if t < 20 else None
        failed = rng.random() < (0.3 if version == "challenger" else 0.1)
        rec.record(t, version, 5.0, 500 if failed else 200, None, f"r{i}", False, unit)
    result = backtest(analysis, [r.__dict__ for r in rec.rows()])
    state = AnalysisState()
    assert result.intervals[-1].window.start >= 20.0  # judged into the unkeyed requests
    for interval in result.intervals:  # the last window holds the last request
        data = rec.interval_data(Window(interval.window.start, interval.window.end + 0.01))
        assert data.champion.units is not None  # the recorder: per unit in every window
        outcome = analyse_interval(analysis, data, state)
        state = outcome.state
        assert [c.reason for c in outcome.checks] == [c.reason for c in interval.checks]
    assert result.verdict == "rolled_back" and "per user" in result.reason, result.reason
