"""Datadog provider against a local server speaking the documented metrics query API v1.

Request and response shapes: https://docs.datadoghq.com/api/latest/metrics/query-timeseries-points/
(``GET /api/v1/query?from&to&query``, ``DD-API-KEY``/``DD-APPLICATION-KEY`` headers, 400/403/429
``{"errors": [...]}``) and https://docs.datadoghq.com/api/latest/authentication/validate-api-key/
(``GET /api/v1/validate`` -> ``{"valid": true}``, 403 for a bad key).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from provider_contract import CONTRACT_ROLLOUT, ContractCase, ProviderContract
from vendor_fixtures import DATADOG_QUERY_RESPONSE, FakeDatadog, Reply, datadog_series

from modelcanary.analysis._measurements import NoData, Scalar, Window
from modelcanary.errors import PermanentProviderError, SpecError, TransientProviderError
from modelcanary.providers import provider_for
from modelcanary.providers._datadog import DEFAULT_ADDRESS, DatadogProvider
from modelcanary.spec import MetricProviderSpec, MetricSpec, SecretRef

API_KEY, APP_KEY = "dd-api-0123456789abcdef", "dd-app-fedcba9876543210"
ERRORS = "sum:trace.http.request.errors{service:fraud,env:ml}.as_count()"
WINDOW = Window(1700000000.4, 1700000060.2)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDatadog]:
    server = FakeDatadog(API_KEY, APP_KEY)
    yield server
    server.close()


@pytest.fixture
def datadog(fake: FakeDatadog) -> Iterator[DatadogProvider]:
    fake.reset()
    fake.series.clear()
    provider = DatadogProvider(API_KEY, APP_KEY, address=fake.url, timeout=10.0)
    yield provider
    provider.close()


def metric(query: str, **extra: object) -> MetricSpec:
    return MetricSpec.model_validate({"name": "dd-errors", "query": query, **extra})


def test_query_sends_the_documented_request(fake: FakeDatadog, datadog: DatadogProvider) -> None:
    fake.series[ERRORS] = [datadog_series([[1700000000000.0, 3.0], [1700000030000.0, 5.0]])]
    templated = "sum:trace.http.request.errors{service:{{ name }},env:{{ namespace }}}.as_count()"
    got = datadog.query(metric(templated), CONTRACT_ROLLOUT, WINDOW)
    assert got == Scalar(5.0)
    sent = fake.last()
    assert (sent.method, sent.path) == ("GET", "/api/v1/query")
    assert sent.headers["dd-api-key"] == API_KEY
    assert sent.headers["dd-application-key"] == APP_KEY
    assert sent.query == {"from": ["1700000000"], "to": ["1700000061"], "query": [ERRORS]}


def test_documented_sample_gives_its_last_point(
    fake: FakeDatadog, datadog: DatadogProvider
) -> None:
    fake.series["avg:system.cpu.user{*}"] = copy.deepcopy(DATADOG_QUERY_RESPONSE["series"])
    got = datadog.query(metric("avg:system.cpu.user{*}"), CONTRACT_ROLLOUT, WINDOW)
    assert got == Scalar(11.8)


def test_last_non_null_point_by_timestamp(fake: FakeDatadog, datadog: DatadogProvider) -> None:
    points: list[list[float | None]] = [
        [1700000040000.0, 7.0],
        [1700000000000.0, 1.0],
        [1700000050000.0, None],
    ]
    fake.series["avg:latency{*}"] = [datadog_series(points)]
    assert datadog.query(metric("avg:latency{*}"), CONTRACT_ROLLOUT, WINDOW) == Scalar(7.0)


def test_no_series_and_only_nulls_are_no_data(fake: FakeDatadog, datadog: DatadogProvider) -> None:
    empty = datadog.query(metric("avg:nothing{*}"), CONTRACT_ROLLOUT, WINDOW)
    assert isinstance(empty, NoData) and "no series" in empty.reason
    fake.series["avg:gaps{*}"] = [datadog_series([[1700000000000.0, None]])]
    gaps = datadog.query(metric("avg:gaps{*}"), CONTRACT_ROLLOUT, WINDOW)
    assert isinstance(gaps, NoData) and "no points" in gaps.reason


def test_several_series_must_be_aggregated(fake: FakeDatadog, datadog: DatadogProvider) -> None:
    fake.series["avg:cpu{*} by {host}"] = [
        datadog_series([[1700000000000.0, 1.0]], "host:a"),
        datadog_series([[1700000000000.0, 2.0]], "host:b"),
    ]
    with pytest.raises(PermanentProviderError, match=r"2 series \(host:a, host:b"):
        datadog.query(metric("avg:cpu{*} by {host}"), CONTRACT_ROLLOUT, WINDOW)


def test_bad_query_is_permanent_with_datadogs_message(datadog: DatadogProvider) -> None:
    with pytest.raises(PermanentProviderError) as info:
        datadog.query(metric("avg:cpu{host:a"), CONTRACT_ROLLOUT, WINDOW)
    text = str(info.value)
    assert "HTTP 400" in text and "Error parsing query" in text
    assert "fix: check the Datadog query" in text


def test_refused_keys_are_permanent_and_never_shown(fake: FakeDatadog) -> None:
    wrong = DatadogProvider(API_KEY, "wrong-app-key-123", address=fake.url)
    with pytest.raises(PermanentProviderError) as info:
        wrong.query(metric("avg:cpu{*}"), CONTRACT_ROLLOUT, WINDOW)
    text = str(info.value)
    assert "HTTP 403" in text and "Forbidden" in text and "timeseries_query" in text
    assert "wrong-app-key-123" not in text and API_KEY not in text
    assert API_KEY not in repr(wrong)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limit_and_server_errors_are_transient(
    fake: FakeDatadog, datadog: DatadogProvider, status: int
) -> None:
    fake.forced["/api/v1/query"] = Reply(status, {"errors": ["Rate limit exceeded"]})
    with pytest.raises(TransientProviderError, match=f"HTTP {status}"):
        datadog.query(metric("avg:cpu{*}"), CONTRACT_ROLLOUT, WINDOW)


def test_status_error_in_a_200_answer_is_permanent(
    fake: FakeDatadog, datadog: DatadogProvider
) -> None:
    body = {**DATADOG_QUERY_RESPONSE, "status": "error", "error": "Rollup interval too small"}
    fake.forced["/api/v1/query"] = Reply(200, body)
    with pytest.raises(PermanentProviderError, match="Rollup interval too small"):
        datadog.query(metric("avg:cpu{*}"), CONTRACT_ROLLOUT, WINDOW)


def test_is_online_calls_validate(fake: FakeDatadog, datadog: DatadogProvider) -> None:
    assert datadog.is_online() is True
    sent = fake.last()
    assert (sent.method, sent.path) == ("GET", "/api/v1/validate")
    assert sent.headers["dd-api-key"] == API_KEY
    bad = DatadogProvider("not-the-key", APP_KEY, address=fake.url)
    assert bad.is_online() is False
    assert "HTTP 403" in bad.last_error and "not-the-key" not in bad.last_error


def test_collect_says_builtins_need_custom_queries(datadog: DatadogProvider) -> None:
    with pytest.raises(PermanentProviderError, match="built-in SLIs are not supported"):
        datadog.collect(CONTRACT_ROLLOUT, WINDOW)


# -- factory / registry ---------------------------------------------------------------------


def test_registry_builds_it_from_an_env_variable(fake: FakeDatadog) -> None:
    fake.reset()
    spec = MetricProviderSpec(type="datadog", address=fake.url, secret_ref=SecretRef(env="DD_KEYS"))
    provider = provider_for(spec, env={"DD_KEYS": f"{API_KEY}:{APP_KEY}"})
    assert isinstance(provider, DatadogProvider)
    assert provider.is_online() is True
    assert provider.query(metric("avg:nothing{*}"), CONTRACT_ROLLOUT, WINDOW) == NoData(
        "datadog query for dd-errors returned no series"
    )


def test_registry_reads_flaggers_secret_keys() -> None:
    seen: list[tuple[str, str, str]] = []

    def reader(name: str, key: str, namespace: str) -> str | None:
        seen.append((name, key, namespace))
        return {"datadog_api_key": API_KEY, "datadog_application_key": APP_KEY}.get(key)

    spec = MetricProviderSpec(type="datadog", secret_ref=SecretRef(name="datadog"))
    provider = provider_for(spec, secret_reader=reader, namespace="ml")
    assert isinstance(provider, DatadogProvider)
    assert provider.api.address == DEFAULT_ADDRESS == "https://api.datadoghq.com"
    assert seen == [
        ("datadog", "datadog_api_key", "ml"),
        ("datadog", "datadog_application_key", "ml"),
    ]


def test_missing_credentials_are_spec_errors_naming_the_fix() -> None:
    with pytest.raises(SpecError, match="datadog_api_key and datadog_application_key"):
        provider_for(MetricProviderSpec(type="datadog"))
    with pytest.raises(
        SpecError, match="DD_KEYS does not hold <api key>:<application key>"
    ) as info:
        provider_for(
            MetricProviderSpec(type="datadog", secret_ref=SecretRef(env="DD_KEYS")),
            env={"DD_KEYS": "only-one-secret-value"},
        )
    assert "only-one-secret-value" not in str(info.value)

    def half(name: str, key: str, namespace: str) -> str | None:
        return API_KEY if key == "datadog_api_key" else None

    with pytest.raises(SpecError, match="has no datadog_application_key key") as info:
        provider_for(
            MetricProviderSpec(type="datadog", secret_ref=SecretRef(name="dd")),
            secret_reader=half,
        )
    assert API_KEY not in str(info.value)


class TestDatadogContract(ProviderContract):
    @pytest.fixture
    def case(self, fake: FakeDatadog) -> ContractCase:
        fake.reset()
        fake.series["sum:requests{service:fraud}.as_count()"] = [
            datadog_series([[1700000000000.0, 40.0], [1700000030000.0, 42.0]])
        ]
        return ContractCase(
            provider=DatadogProvider(API_KEY, APP_KEY, address=fake.url),
            known=metric("sum:requests{service:{{ name }}}.as_count()"),
            window=WINDOW,
            expected=42.0,
            make=lambda address: DatadogProvider(API_KEY, APP_KEY, address=address, timeout=1.0),
            empty=metric("sum:requests{service:no-such-{{ name }}}.as_count()"),
            invalid=metric("sum:requests{service:fraud"),
            secret=APP_KEY,
        )
