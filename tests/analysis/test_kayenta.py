"""The mann-whitney judge: Kayenta classification and scoring semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from analysis_helpers import analysis, metric
from scipy.stats import mannwhitneyu, norm

from modelcanary.analysis import (
    IntervalData,
    Samples,
    Window,
    analyse_interval,
    classify,
    mann_whitney,
    version_data,
)
from modelcanary.analysis._kayenta import kayenta_checks, remove_outliers

MW = {"judge": "mann-whitney", "allowed_increase": 1.1}


def test_u_test_p_value_and_hodges_lehmann_match_references() -> None:
    rng = np.random.default_rng(21)
    x, y = rng.normal(11, 2, 60), rng.normal(10, 2, 80)
    result = mann_whitney(x, y)
    assert result.p_value == pytest.approx(mannwhitneyu(x, y, alternative="two-sided").pvalue)
    diffs = np.sort([a - b for a in x for b in y])
    assert result.estimate == pytest.approx(np.median(diffs))
    k = math.floor(60 * 80 / 2 - norm.ppf(0.99) * math.sqrt(60 * 80 * 141 / 12))
    assert (result.lower, result.upper) == (pytest.approx(diffs[k - 1]), pytest.approx(diffs[-k]))
    assert result.lower < 1.0 < result.upper


def test_classification_high_low_pass() -> None:
    rng = np.random.default_rng(22)
    base = rng.lognormal(4, 0.3, 400)
    slower = rng.lognormal(4, 0.3, 400) * 1.5
    faster = rng.lognormal(4, 0.3, 400) * 0.6
    up = metric("latency-p99", **MW)
    assert classify(up, slower, base)[0] == "High"
    assert classify(up, faster, base)[0] == "Pass"  # only increases matter by default
    either = metric("latency-p99", judge="mann-whitney", allowed_increase=1.1, allowed_decrease=0.9)
    assert classify(either, faster, base)[0] == "Low"
    tolerant = metric("latency-p99", judge="mann-whitney", allowed_increase=2.0)
    cls, reason, effect, _ = classify(tolerant, slower, base)
    assert cls == "Pass" and effect == pytest.approx(np.mean(slower) / np.mean(base))
    assert "mean ratio" in reason


def test_edge_cases_nan_identical_constant_tiny_outliers() -> None:
    m = metric("latency-p99", **MW)
    x = np.array([1.0, 2.0, 3.0, np.nan, 4.0])
    assert (
        classify(m, x, np.array([4.0, 3.0, 2.0, 1.0]))[0] == "Pass"
    )  # identical after NaN removal
    assert classify(m, np.full(10, 5.0), np.full(8, 5.0))[:2] == ("Pass", "all values are equal")
    assert classify(m, np.array([1.0, 2.0]), np.arange(10.0))[0] == "Nodata"
    assert classify(m, np.array([np.nan] * 5), np.arange(10.0))[0] == "Nodata"
    values = np.array([10.0, 11, 12, 13, 14, 15, 1000])
    assert 1000 not in remove_outliers(values, 3.0)
    assert len(remove_outliers(values[:-1], 3.0)) == 6


def _data(chal: np.ndarray, champ: np.ndarray) -> IntervalData:
    return IntervalData(
        Window(0, 60),
        version_data("challenger", latencies_ms=chal),
        version_data("champion", latencies_ms=champ),
    )


def test_scoring_groups_weights_critical_and_marginal() -> None:
    rng = np.random.default_rng(23)
    base, slow = rng.lognormal(4, 0.3, 300), rng.lognormal(4, 0.3, 300) * 1.5
    chal = version_data("challenger", latencies_ms=slow, values={"kpi": Samples(base + 0.5)})
    champ = version_data("champion", latencies_ms=base, values={"kpi": Samples(base)})
    data = IntervalData(Window(0, 60), chal, champ)
    lat = metric("latency-p50", group="latency", **MW)
    kpi = metric("kpi", query="q", group="business", judge="mann-whitney", allowed_increase=1.5)
    spec = analysis(
        lat,
        kpi,
        group_weights={"latency": 1, "business": 3},
        score_thresholds={"pass": 90, "marginal": 70},
    )
    checks = kayenta_checks([lat, kpi], data, spec)
    assert [c.verdict for c in checks[:2]] == ["fail", "pass"]
    assert checks[-1].value == pytest.approx(75.0)  # (0 * 1 + 100 * 3) / 4
    assert checks[-1].verdict == "inconclusive"  # marginal
    critical = metric("latency-p50", group="latency", critical=True, **MW)
    assert kayenta_checks([critical, kpi], data, spec)[-1].verdict == "fail"
    result = analyse_interval(
        analysis(lat, kpi, group_weights={"latency": 1, "business": 30}), data
    )
    assert result.verdict == "pass"  # score 96.8 >= 95 even though one metric is High
    assert "canary score" in result.message


def test_no_data_policies_in_the_score() -> None:
    rng = np.random.default_rng(24)
    base = rng.lognormal(4, 0.3, 100)
    data = _data(base * 1.0001, base)
    lat = metric("latency-p50", **MW)
    missing = metric("kpi", query="q", judge="mann-whitney", allowed_increase=1.1)
    assert kayenta_checks([lat, missing], data, analysis(lat, missing))[-1].value == pytest.approx(
        50.0
    )
    skip = metric("kpi", query="q", judge="mann-whitney", allowed_increase=1.1, no_data="skip")
    assert kayenta_checks([lat, skip], data, analysis(lat, skip))[-1].verdict == "pass"
    only = kayenta_checks([skip], data, analysis(skip))
    assert only[-1].verdict == "inconclusive"
