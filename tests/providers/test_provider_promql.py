"""Pure parts of the Prometheus provider: PromQL text, templates, result conversion."""

from __future__ import annotations

import math

import pytest

from modelcanary.analysis._measurements import Counts, LatencyHistogram, NoData, PredictionHistogram
from modelcanary.errors import PermanentProviderError
from modelcanary.providers import _promql as promql
from modelcanary.providers import _vectors as vectors


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (30, "30s"),
        (60, "1m"),
        (90, "90s"),
        (3600, "1h"),
        (1.5, "1500ms"),
        (0, "1ms"),
        (12.3456, "12346ms"),
    ],
)
def test_duration(seconds: float, text: str) -> None:
    assert promql.duration(seconds) == text


def test_count_by_quotes_labels() -> None:
    query = promql.count_by("m_total", {"rollout": 'a"b\\c'}, ("version", "le"), "30s")
    sel = 'm_total{rollout="a\\"b\\\\c"}'
    assert query == (
        f"sum by (version, le) ((increase({sel}[30s]) and {sel} offset 30s) "
        f"or (last_over_time({sel}[30s]) unless {sel} offset 30s))"
    )


def test_delta_by_is_the_exact_change_with_resets_and_born_series() -> None:
    query = promql.delta_by("m_total", {"rollout": 'a"b'}, ("version", "status"), "30s")
    sel = 'm_total{rollout="a\\"b"}'
    last, before = f"last_over_time({sel}[5m])", f"last_over_time({sel}[5m] offset 30s)"
    reset = f"resets({sel}[30s]) > 0"
    assert query == (
        f"sum by (version, status) ((({last} - {before}) >= 0 unless {reset}) "
        f"or (({last} + clamp_min(max_over_time({sel}[30s]) - {before}, 0)) and {reset}) "
        f"or {last})"
    )
    assert "increase(" not in query  # no extrapolation


def test_render() -> None:
    values = {"namespace": "ml", "target": "fraud", "name": "fraud", "interval": "1m"}
    query = 'rate(x{ns="{{namespace}}",app="{{ target }}",v="{{ variables.v }}"}[{{ interval }}])'
    out = promql.render(query, values, {"v": "2"})
    assert out == 'rate(x{ns="ml",app="fraud",v="2"}[1m])'
    with pytest.raises(PermanentProviderError, match=r"\{\{ ingress \}\}.*namespace, target"):
        promql.render("{{ ingress }}", values, {})
    with pytest.raises(PermanentProviderError, match=r"'w'.*defined: v"):
        promql.render("{{ variables.w }}", values, {"v": "2"})


def test_timestamp_rejects_non_finite() -> None:
    assert promql.timestamp(12.3456) == "12.346"
    with pytest.raises(PermanentProviderError):
        promql.timestamp(math.inf)


def row(value: float, **labels: str) -> vectors.Row:
    return labels, value


def test_counts_errors_and_rounding() -> None:
    rows = [
        row(9.6, version="challenger", status="200", mirrored="false"),
        row(0.7, version="challenger", status="503", mirrored="false"),
        row(1.0, version="challenger", status="error", mirrored="true"),
        row(math.nan, version="challenger", status="500", mirrored="false"),
        row(5.0, version="champion", status="404", mirrored="false"),
    ]
    assert vectors.counts(rows, "challenger") == Counts(11, 2, "challenger")
    assert vectors.counts(rows, "champion") == Counts(5, 0, "champion")
    assert isinstance(vectors.counts([], "champion"), NoData)
    assert vectors.mirrored(rows) and not vectors.mirrored(rows[:2])


def test_latency_histogram_is_monotone_and_in_ms() -> None:
    rows = [
        row(3.0, version="challenger", le="0.1"),
        row(2.9999, version="challenger", le="0.25"),  # extrapolation noise
        row(5.0, version="challenger", le="+Inf"),
    ]
    hist = vectors.latency_histogram(vectors.cumulative(rows, "challenger"), "challenger")
    assert isinstance(hist, LatencyHistogram)
    assert hist.bounds == (100.0, 250.0, math.inf) and hist.cumulative == (3.0, 3.0, 5.0)
    assert isinstance(vectors.latency_histogram({}, "champion"), NoData)
    assert isinstance(vectors.latency_histogram({0.1: 0.0, math.inf: 0.0}, "champion"), NoData)


def test_numeric_predictions_share_bounds_and_trim_empty_outer_bins() -> None:
    champ = {"0": 0, "0.5": 4, "1": 10, "+Inf": 10}
    chal = {"0": 0, "0.5": 1, "0.75": 2, "1": 3, "+Inf": 3}  # an extra bound: ignored
    buckets = [row(v, version="champion", le=le) for le, v in champ.items()]
    buckets += [row(v, version="challenger", le=le) for le, v in chal.items()]
    out = vectors.predictions([], buckets)
    a, b = out["champion"], out["challenger"]
    assert isinstance(a, PredictionHistogram) and isinstance(b, PredictionHistogram)
    assert a.edges == b.edges == (0.0, 0.5, 1.0)
    assert a.counts == (4.0, 6.0) and b.counts == (1.0, 2.0)


def test_labels_win_when_they_count_more() -> None:
    labels = [row(3, version="champion", label="a"), row(1, version="challenger", label="b")]
    buckets = [row(1, version="champion", le="+Inf")]
    out = vectors.predictions(labels, buckets)
    assert out["champion"] == PredictionHistogram((3.0,), labels=("a",), side="champion")
    assert out["challenger"] == PredictionHistogram((1.0,), labels=("b",))
    empty = vectors.predictions([], [])
    assert all(isinstance(v, NoData) for v in empty.values())


def test_one_sided_predictions() -> None:
    out = vectors.predictions(
        [], [row(2, version="challenger", le="1"), row(2, version="challenger", le="+Inf")]
    )
    assert isinstance(out["champion"], NoData)
    assert isinstance(out["challenger"], PredictionHistogram)
    assert out["challenger"].counts == (2.0,) and out["challenger"].edges == (-math.inf, 1.0)


def test_bad_results_are_permanent() -> None:
    with pytest.raises(PermanentProviderError):
        vectors.vector_rows([{"metric": {}}])
    with pytest.raises(PermanentProviderError):
        vectors.matrix_rows([{"metric": {}, "values": [[1, "x"]]}])


def test_series_are_padded_with_nan() -> None:
    rows = [
        ({"version": "challenger", "status": "200"}, {10.0: 9.0, 20.0: 0.0}),
        ({"version": "challenger", "status": "500"}, {10.0: 1.0, 20.0: 0.0}),
    ]
    series = vectors.rate_series(rows, "challenger", [0.0, 10.0, 20.0], 10.0)
    rate = series["error-rate"].values
    assert math.isnan(rate[0]) and rate[1] == 0.1 and math.isnan(rate[2])
    assert list(series["throughput"].values[1:]) == [1.0, 0.0]
    assert vectors.rate_series(rows, "champion", [10.0], 10.0) == {}
