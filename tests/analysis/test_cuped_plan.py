"""Issue 15: the sample plan and the widget's progress count the CUPED reduction the judge has.

``pre_period`` measures ``rho`` on the champion's log (first half's unit rates as the
covariate of the second half, the judge's own variance reduction); the needed sample is
multiplied by ``max(1, design_effect * (1 - rho^2))`` for error rates only, and the plan and
the progress line say so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelcanary.analysis import pre_period, samples_to_detect
from modelcanary.analysis._cuped import cuped_rho, variance_ratio
from modelcanary.analysis._judge_units import update_units
from modelcanary.analysis._judges import SequentialState
from modelcanary.analysis._measurements import IntervalData, UnitRequests, VersionData, Window
from modelcanary.analysis._sample_plan import evidence_progress
from modelcanary.spec import MetricSpec


def _log(seed: int, *, persistent: bool, users: int = 300, requests: int = 12_000) -> pd.DataFrame:
    """A champion log of sticky users: rates persistent over time, or redrawn per request."""
    rng = np.random.default_rng(seed)
    rate = rng.beta(0.4, 19.6, users)
    who = rng.integers(0, users, requests)
    p = rate[who] if persistent else rng.beta(0.4, 19.6, requests)
    failed = rng.random(requests) < p
    return pd.DataFrame(
        {
            "timestamp": np.arange(requests) / 10.0,
            "version": "champion",
            "latency_ms": 10.0,
            "status": np.where(failed, 500, 200),
            "unit": [f"user-{u}" for u in who],
        }
    )


def test_pre_period_measures_rho_only_when_users_differ_persistently() -> None:
    sticky = pre_period(_log(1, persistent=True))
    assert 0.4 < sticky.rho < 0.95 and sticky.design_effect > 1.5
    assert "with CUPED (rho = 0." in sticky.describe()
    assert sticky.variance_factor == pytest.approx(
        max(1.0, sticky.design_effect * (1 - sticky.rho**2))
    )
    assert pre_period(_log(1, persistent=False)).rho < 0.2
    no_units = pre_period(_log(1, persistent=True).drop(columns=["unit"]))
    assert no_units.rho == 0.0 and no_units.describe() == "independent requests"


def test_cuped_rho_is_zero_without_a_varying_covariate() -> None:
    assert cuped_rho(["a", "b"] * 50, [0.0] * 100) == 0.0  # nothing varies
    assert cuped_rho(["", ""] * 50, [1.0, 0.0] * 50) == 0.0  # unkeyed: no unit repeats


def test_the_needed_sample_shrinks_by_one_minus_rho_squared_for_error_rates_only() -> None:
    base = samples_to_detect(0.02, 2.0, 0.3, design_effect=4.0)
    cuped = samples_to_detect(0.02, 2.0, 0.3, design_effect=4.0, cuped_rho=0.6)
    assert base is not None and cuped is not None
    assert cuped == pytest.approx(base * 0.64, rel=0.01)
    floored = samples_to_detect(0.02, 2.0, 0.3, design_effect=1.2, cuped_rho=0.9)
    plain = samples_to_detect(0.02, 2.0, 0.3)
    assert floored == plain  # never below independent requests
    latency = dict(metric="latency", design_effect=4.0)
    assert samples_to_detect(0.02, 2.0, 0.3, cuped_rho=0.6, **latency) == samples_to_detect(  # type: ignore[arg-type]
        0.02,
        2.0,
        0.3,
        **latency,  # type: ignore[arg-type]
    )
    with pytest.raises(ValueError, match="cuped_rho"):
        samples_to_detect(0.02, 2.0, 0.3, cuped_rho=1.0)


def test_the_notebook_plan_says_it_counts_cuped() -> None:
    import modelcanary as mc

    rollout = (
        mc.Rollout("fraud")
        .champion("/models/champion")
        .challenger("/models/challenger")
        .canary(steps=[10, 50], interval="5m")
        .slo(mc.sli.error_rate() < "5%")
    )
    log = _log(2, persistent=True)
    frame = mc.sample_plan(rollout, 20.0, pre_period=log, effect=2.0, runs=100)
    pre = pre_period(log)
    assert frame.attrs["basis"] == pre.describe() and "with CUPED" in frame.attrs["basis"]
    without = mc.sample_plan(rollout, 20.0, pre_period=log, effect=2.0, runs=100, cuped_rho=0.0)
    assert "CUPED" not in without.attrs["basis"]
    assert (frame["needed"] < without["needed"]).all()


def _side(name: str, who: np.ndarray, err: np.ndarray, x: np.ndarray) -> VersionData:
    keys = tuple(f"u{u}" for u in who)
    rows = UnitRequests(keys, err, np.zeros(len(who)), name, x[who])  # type: ignore[arg-type]
    return VersionData(name, units=rows)  # type: ignore[arg-type]


def test_progress_scales_by_what_the_judge_realises() -> None:
    metric = MetricSpec.model_validate({"name": "error-rate", "threshold_range": {"max": 0.2}})
    rng = np.random.default_rng(3)
    rate = rng.beta(0.4, 19.6, 300)
    pre_who = rng.integers(0, 300, 6000)
    pre_bad = rng.random(6000) < rate[pre_who]
    n = np.bincount(pre_who, minlength=300)
    x = np.where(n > 0, np.bincount(pre_who, pre_bad, 300) / np.maximum(n, 1), pre_bad.mean())
    pinned = rng.random(300) < 0.3
    state = SequentialState()
    for look in range(6):
        who = rng.integers(0, 300, 1000)
        err = rng.random(1000) < rate[who]

        chal = pinned[who]
        data = IntervalData(
            Window(look, look + 1),
            _side("challenger", who[chal], err[chal], x),
            _side("champion", who[~chal], err[~chal], x),
        )
        state = update_units(metric, data, state)
    clustered = state.clustered
    assert clustered is not None
    ratio = variance_ratio(clustered)
    assert ratio is not None and ratio < 0.9
    pairs = state.pairs
    assert pairs is not None
    plain = evidence_progress(pairs.n0, pairs.x0, pairs.n1)
    progress = evidence_progress(pairs.n0, pairs.x0, pairs.n1, clustered=clustered)
    assert progress.cuped_rho == pytest.approx((1 - ratio) ** 0.5)
    assert "with CUPED (rho = 0." in progress.basis and plain.basis == ""
    assert plain.needed is not None and progress.needed is not None
    assert progress.needed == pytest.approx(
        np.ceil(plain.needed * max(1.0, progress.design_effect * ratio)), abs=1
    )
    from modelcanary.analysis._chartdata import BandChart
    from modelcanary.notebook._widget import evidence_text

    line = evidence_text(BandChart("error-rate", 0.01, (), progress=progress))
    assert "power (unit design effect" in line and "with CUPED (rho = 0." in line, line
    assert "CUPED" not in evidence_text(BandChart("error-rate", 0.01, (), progress=plain))
