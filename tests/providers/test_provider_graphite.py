"""GraphiteProvider against a real carbon-cache + graphite-web (Debian graphite-web 1.1).

Known points are sent over carbon's plaintext protocol (10 s whisper steps, 20 minutes in
the past), then read through the render API exactly: the window becomes
``from=<start>&until=<end>`` (Graphite returns the points in ``(from, until]``), datapoints
are reduced by ``aggregate`` (``last`` by default, as Flagger), nulls are ignored.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from provider_contract import CONTRACT_ROLLOUT, ContractCase, ProviderContract
from tsdb_fixtures import Graphite, wait_until
from tsdb_fixtures import graphite as graphite  # session fixture

from modelcanary.analysis._measurements import NoData, Scalar, Window
from modelcanary.errors import PermanentProviderError, SpecError, TransientProviderError
from modelcanary.providers import provider_for
from modelcanary.providers._graphite import (
    GraphiteProvider,
    datapoints_value,
    graphite_duration,
    render_params,
)
from modelcanary.spec import MetricProviderSpec, MetricSpec, SecretRef

SECRET = "graphite-user:graphite-s3cret"  # graphite-web ignores it; it must stay hidden
T0 = (int(time.time()) // 60) * 60 - 1200
"""First point (s): 20 minutes ago, on a whole minute (a whisper step boundary)."""
SERIES: dict[str, dict[int, float]] = {
    "app.fraud.latency": {10 * i: float(i) for i in range(12)},  # 0..11 at T0 + 10 i
    "app.other.latency": {0: 100.0, 10: 200.0},
    "app.fraud.sparse": {10: 7.0, 30: 9.0},
}


@pytest.fixture(scope="module")
def server(graphite: Graphite) -> Graphite:
    graphite.send([(path, v, T0 + dt) for path, pts in SERIES.items() for dt, v in pts.items()])
    for path, points in SERIES.items():

        def stored(path: str = path, n: int = len(points)) -> bool:
            body = graphite.render(path, T0 - 1, T0 + 200)
            return bool(body) and sum(p[0] is not None for p in body[0]["datapoints"]) == n

        wait_until(stored, 60, f"carbon to store {path}")
    return graphite


@pytest.fixture
def provider(server: Graphite) -> Iterator[GraphiteProvider]:
    p = GraphiteProvider(server.url, secret=SECRET)
    yield p
    p.close()


def metric(query: str, **kw: Any) -> MetricSpec:
    return MetricSpec(name="custom", query=query, **kw)


def test_last_point_of_the_window_by_default(provider: GraphiteProvider) -> None:
    # (T0+15, T0+55] holds the points at T0+20..T0+50: 2, 3, 4, 5
    window = Window(T0 + 15, T0 + 55)
    assert provider.query(metric("app.{{ name }}.latency"), CONTRACT_ROLLOUT, window) == Scalar(5)


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [("last", 5.0), ("avg", 3.5), ("sum", 14.0), ("min", 2.0), ("max", 5.0)],
)
def test_aggregates(provider: GraphiteProvider, aggregate: str, expected: float) -> None:
    q = f"target=app.{{{{ target }}}}.latency&aggregate={aggregate}"
    got = provider.query(metric(q), CONTRACT_ROLLOUT, Window(T0 + 15, T0 + 55))
    assert got == Scalar(expected)


def test_flagger_query_string_with_its_own_range(provider: GraphiteProvider) -> None:
    q = """target=sumSeries(
             app.{{ name }}.latency,
             app.other.latency)
           &from={{ start }}&until={{ end }}&aggregate=sum"""
    got = provider.query(metric(q), CONTRACT_ROLLOUT, Window(T0 - 1, T0 + 15))
    assert got == Scalar(0 + 100 + 1 + 200)
    relative = metric("target=app.{{ name }}.latency&from=-{{ interval }}", interval="2m")
    got = provider.query(relative, CONTRACT_ROLLOUT, Window(T0, T0 + 60))
    assert isinstance(got, NoData) and "only null" in got.reason  # the last 2 minutes: no data


def test_interval_is_a_graphite_unit(provider: GraphiteProvider) -> None:
    q = 'target=summarize(app.{{ name }}.latency, "{{ interval }}", "sum", true)&aggregate=sum'
    got = provider.query(metric(q, interval="1m"), CONTRACT_ROLLOUT, Window(T0 - 1, T0 + 119))
    assert got == Scalar(sum(range(12)))


def test_nulls_are_ignored_and_all_null_is_no_data(provider: GraphiteProvider) -> None:
    sparse = "target=app.{{ name }}.sparse&aggregate=avg"
    assert provider.query(metric(sparse), CONTRACT_ROLLOUT, Window(T0, T0 + 50)) == Scalar(8.0)
    got = provider.query(metric(sparse), CONTRACT_ROLLOUT, Window(T0 + 30, T0 + 60))
    assert isinstance(got, NoData) and "null" in got.reason
    none = provider.query(metric("app.{{ name }}.nothing"), CONTRACT_ROLLOUT, Window(T0, T0 + 60))
    assert isinstance(none, NoData) and "no series" in none.reason


def test_several_series_are_permanent(provider: GraphiteProvider) -> None:
    with pytest.raises(PermanentProviderError, match=r"2 series.*sumSeries"):
        provider.query(metric("app.*.latency"), CONTRACT_ROLLOUT, Window(T0, T0 + 60))


def test_errors_are_classified(provider: GraphiteProvider) -> None:
    window = Window(T0, T0 + 60)
    with pytest.raises(PermanentProviderError, match=r"HTTP 400.*unknown function: nosuchfn"):
        provider.query(metric("nosuchfn(app.fraud.latency)"), CONTRACT_ROLLOUT, window)
    # graphite-web answers a bad function argument with HTTP 500: retried as transient
    with pytest.raises(TransientProviderError, match=r"HTTP 500.*unexpected error"):
        provider.query(metric('movingAverage(app.fraud.latency, "x")'), CONTRACT_ROLLOUT, window)
    with pytest.raises(PermanentProviderError, match=r"aggregate='median'.*last, avg"):
        provider.query(metric("target=a.b&aggregate=median"), CONTRACT_ROLLOUT, window)
    with pytest.raises(PermanentProviderError, match=r"\{\{ app \}\}.*start, end"):
        provider.query(metric("app.{{ app }}.x"), CONTRACT_ROLLOUT, window)
    with pytest.raises(PermanentProviderError, match="built-in SLIs are not supported"):
        provider.collect(CONTRACT_ROLLOUT, window)


def test_factory(server: Graphite) -> None:
    spec = MetricProviderSpec(
        type="graphite", address=f"{server.url}/", secret_ref=SecretRef(env="GRAPHITE_CREDS")
    )
    p = provider_for(spec, env={"GRAPHITE_CREDS": SECRET}, timeout=10.0)
    assert isinstance(p, GraphiteProvider) and p.is_online() and p.endpoint.timeout == 10.0
    got = p.query(metric("app.{{ name }}.latency"), CONTRACT_ROLLOUT, Window(T0, T0 + 10))
    assert got == Scalar(1.0)
    with pytest.raises(SpecError, match=r"provider\.address"):
        provider_for(MetricProviderSpec(type="graphite"))


def test_pure_helpers() -> None:
    assert [graphite_duration(s) for s in (30, 90, 300, 7200, 0.2)] == [
        "30s",
        "90s",
        "5min",
        "2h",
        "1s",
    ]
    assert render_params("sumSeries(a.*)") == [("target", "sumSeries(a.*)")]
    assert render_params("target=a\n  &target=b&from=-5min") == [
        ("target", "a"),
        ("target", "b"),
        ("from", "-5min"),
    ]
    assert datapoints_value(
        [{"target": "x", "datapoints": [[None, 1], ["NaN", 2]]}], "m"
    ) == NoData("query for m returned only null datapoints")
    with pytest.raises(PermanentProviderError, match="list of series"):
        datapoints_value({"error": "x"}, "m")


class TestGraphiteContract(ProviderContract):
    @pytest.fixture
    def case(self, server: Graphite) -> ContractCase:
        return ContractCase(
            provider=GraphiteProvider(server.url, secret=SECRET),
            known=metric("target=app.{{ name }}.latency&aggregate=avg"),
            window=Window(T0 + 15, T0 + 55),
            expected=3.5,
            make=lambda address: GraphiteProvider(address, timeout=1.0, secret=SECRET),
            empty=metric("app.{{ name }}.nothing"),
            invalid=metric("nosuchfn(app.{{ name }}.latency)"),
            secret=SECRET,
        )
