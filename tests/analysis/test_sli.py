"""SLIs against known values: hand-computed numbers and scipy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from analysis_helpers import metric
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance

from modelcanary.analysis import (
    Counts,
    IntervalData,
    LatencyHistogram,
    NoData,
    PairedPredictions,
    PredictionHistogram,
    Predictions,
    Samples,
    Window,
    agreement,
    drift,
    error_rate,
    histogram_quantile,
    js_distance,
    ks_statistic,
    latency_quantile,
    psi,
    scalar,
    sli_value,
    success_rate,
    throughput,
    version_data,
    wasserstein,
)


def test_rates_and_throughput() -> None:
    counts = Counts(total=400, errors=6)
    assert error_rate(counts) == pytest.approx(0.015)
    assert success_rate(counts) == pytest.approx(98.5)
    assert throughput(counts, Window(10.0, 30.0)) == pytest.approx(20.0)


@pytest.mark.parametrize("fn", [error_rate, success_rate])
def test_rates_without_requests_are_no_data(fn: object) -> None:
    assert isinstance(fn(Counts(0, 0)), NoData)  # type: ignore[operator]
    assert isinstance(fn(NoData("provider down")), NoData)  # type: ignore[operator]


def test_scalar_turns_nan_and_none_into_no_data() -> None:
    assert isinstance(scalar(float("nan")), NoData)
    assert isinstance(scalar(None), NoData)
    assert scalar(0.5).value == 0.5  # type: ignore[union-attr]


def test_latency_percentile_from_samples_matches_numpy() -> None:
    values = np.arange(1.0, 101.0)
    assert latency_quantile(Samples(values), 0.99) == pytest.approx(99.01)
    assert latency_quantile(Samples(values), 0.5) == pytest.approx(50.5)
    assert isinstance(latency_quantile(Samples(np.array([math.nan])), 0.5), NoData)


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.5, 10 + 40 * (40 / 50)), (0.05, 10 * 5 / 10), (0.9, 100.0), (0.95, 100.0)],
)
def test_histogram_quantile_follows_prometheus(q: float, expected: float) -> None:
    # buckets le=10,50,100,+Inf holding 10, 50, 30, 10 observations
    hist = LatencyHistogram((10.0, 50.0, 100.0, math.inf), (10.0, 60.0, 90.0, 100.0))
    assert histogram_quantile(q, hist) == pytest.approx(expected)


def test_histogram_without_observations_is_no_data() -> None:
    assert isinstance(histogram_quantile(0.5, LatencyHistogram((1.0, math.inf), (0, 0))), NoData)
    with pytest.raises(ValueError):
        LatencyHistogram((10.0, 5.0), (1.0, 2.0))


def test_psi_hand_computed() -> None:
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi(np.array([50.0, 50.0]), np.array([25.0, 75.0])) == pytest.approx(expected)
    assert psi(np.array([3.0, 7.0]), np.array([3.0, 7.0])) == 0.0


def test_psi_on_scores_uses_champion_deciles() -> None:
    champion, challenger = np.arange(1000.0), np.arange(1000.0) + 100
    # champion: 10 % per decile; challenger: empty first decile, 20 % in the last
    hand = (1e-4 - 0.1) * math.log(1e-4 / 0.1) + (0.2 - 0.1) * math.log(2.0)
    got = drift(Predictions(champion, "champion"), Predictions(challenger), "psi")
    assert got == pytest.approx(hand)


def test_ks_js_wasserstein_match_scipy() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 1, 800), rng.normal(0.3, 1.2, 600)
    assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic)
    assert wasserstein(a, b) == pytest.approx(wasserstein_distance(a, b))
    champ, chal = Predictions(a, "champion"), Predictions(b)
    assert drift(champ, chal, "ks") == pytest.approx(ks_2samp(a, b).statistic)
    assert drift(champ, chal, "wasserstein") == pytest.approx(wasserstein_distance(a, b))
    p, q = np.array([0.1, 0.4, 0.5]), np.array([0.3, 0.3, 0.4])
    assert js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2))


def test_drift_on_class_labels() -> None:
    champ = Predictions(("a", "a", "b", "b"), "champion")
    chal = Predictions(("a", "b", "b", "b"))
    assert drift(champ, chal, "ks") == pytest.approx(0.25)  # total variation
    assert drift(champ, chal, "wasserstein") == pytest.approx(0.25)
    assert drift(champ, chal, "psi") == pytest.approx(
        psi(np.array([2.0, 2.0]), np.array([1.0, 3.0]))
    )
    assert drift(champ, champ, "js") == pytest.approx(0.0)


def test_integer_classes_are_labels_not_scores() -> None:
    champ = Predictions(np.array([0, 0, 1, 1]), "champion")
    chal = Predictions(np.array([0, 1, 1, 1]))
    assert drift(champ, chal, "ks") == pytest.approx(0.25)


def test_drift_from_histograms() -> None:
    edges = (0.0, 1.0, 2.0)
    champ = PredictionHistogram((50.0, 50.0), edges=edges, side="champion")
    chal = PredictionHistogram((25.0, 75.0), edges=edges)
    assert drift(champ, chal, "psi") == pytest.approx(
        psi(np.array([50.0, 50]), np.array([25.0, 75]))
    )
    assert drift(champ, chal, "ks") == pytest.approx(0.25)
    assert drift(champ, chal, "wasserstein") == pytest.approx(0.25)  # 1/4 of the mass moves 1
    other = PredictionHistogram((1.0, 1.0), edges=(0.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="different bin edges"):
        drift(champ, other, "psi")


def test_agreement_labels_and_flip_matrix() -> None:
    paired = PairedPredictions(("a", "a", "b", "c"), ("a", "b", "b", "c"))
    result = agreement(paired)
    assert not isinstance(result, NoData)
    assert result.rate == pytest.approx(0.75)
    assert result.flips[("a", "b")] == 1
    assert result.top_flips() == [("a", "b", 1)]


def test_agreement_numbers_within_tolerance() -> None:
    paired = PairedPredictions(np.array([0.10, 0.50, 0.90]), np.array([0.11, 0.50, 0.70]))
    assert agreement(paired, tolerance=0.02).rate == pytest.approx(2 / 3)  # type: ignore[union-attr]
    assert agreement(paired).rate == pytest.approx(1 / 3)  # type: ignore[union-attr]
    assert isinstance(agreement(PairedPredictions((), ())), NoData)


def test_sli_value_dispatch_and_provider_values() -> None:
    chal = version_data(
        "challenger",
        latencies_ms=[10.0, 20.0, 30.0, 40.0],
        errors=[False, False, False, True],
        values={"business-kpi": scalar(3.5), "error-rate": scalar(0.2)},
    )
    data = IntervalData(Window(0, 2), chal)
    assert sli_value(metric("request-success-rate"), data, chal) == pytest.approx(75.0)
    assert sli_value(metric("throughput"), data, chal) == pytest.approx(2.0)
    assert sli_value(metric("latency-p50"), data, chal) == pytest.approx(25.0)
    assert sli_value(metric("business-kpi", query="q"), data, chal) == 3.5
    assert sli_value(metric("error-rate"), data, chal) == 0.2  # the provider's value wins
    assert isinstance(sli_value(metric("other", query="q"), data, chal), NoData)
    assert isinstance(sli_value(metric("prediction-agreement"), data, chal), NoData)
    assert isinstance(sli_value(metric("prediction-drift"), data, chal), NoData)
