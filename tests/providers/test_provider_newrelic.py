"""New Relic provider against a local NerdGraph speaking the documented shapes.

Request/response: https://docs.newrelic.com/docs/apis/nerdgraph/examples/nerdgraph-nrql-tutorial/
(``POST /graphql``, ``API-Key`` header, ``actor { account(id) { nrql(query) { results } } }`` ->
``{"data": {"actor": {"account": {"nrql": {"results": [{"count": 1000}]}}}}}``); GraphQL
errors carry ``extensions.errorClass`` (``TIMEOUT``, ``INVALID_INPUT``...) and
``extensions.error_code`` (``BAD_API_KEY``), as newrelic-client-go classifies them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from provider_contract import CONTRACT_ROLLOUT, ContractCase, ProviderContract
from vendor_fixtures import NRQL_RESPONSE, FakeNerdGraph, Reply

from modelcanary.analysis._measurements import NoData, Scalar, Window
from modelcanary.errors import PermanentProviderError, SpecError, TransientProviderError
from modelcanary.providers import provider_for
from modelcanary.providers._newrelic import NRQL_QUERY, NewRelicProvider
from modelcanary.spec import MetricProviderSpec, MetricSpec, SecretRef

API_KEY, ACCOUNT = "NRAK-0123456789ABCDEFGHIJKLMNOPQ", 1234567
WINDOW = Window(1700000000.0, 1700000060.5)
ERRORS = "SELECT percentage(count(*), WHERE error IS true) FROM Transaction WHERE appName = 'fraud'"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeNerdGraph]:
    server = FakeNerdGraph(API_KEY, ACCOUNT)
    yield server
    server.close()


@pytest.fixture
def newrelic(fake: FakeNerdGraph) -> Iterator[NewRelicProvider]:
    fake.reset()
    fake.results.clear()
    provider = NewRelicProvider(API_KEY, account_id=ACCOUNT, address=fake.url, timeout=10.0)
    yield provider
    provider.close()


def metric(query: str, **variables: str) -> MetricSpec:
    return MetricSpec.model_validate(
        {"name": "nr-errors", "query": query, "templateVariables": variables or None}
    )


def test_query_sends_the_documented_request(
    fake: FakeNerdGraph, newrelic: NewRelicProvider
) -> None:
    fake.results[ERRORS] = [{"percentage": 1.5}]
    templated = (
        "SELECT percentage(count(*), WHERE error IS true) FROM Transaction "
        "WHERE appName = '{{ name }}'"
    )
    assert newrelic.query(metric(templated), CONTRACT_ROLLOUT, WINDOW) == Scalar(1.5)
    sent = fake.last()
    assert (sent.method, sent.path) == ("POST", "/graphql")
    assert sent.headers["api-key"] == API_KEY
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {
        "query": NRQL_QUERY,
        "variables": {
            "accountId": ACCOUNT,
            "nrql": f"{ERRORS} SINCE 1700000000000 UNTIL 1700000060500",
        },
    }
    assert "account(id: $accountId)" in NRQL_QUERY and "nrql(query: $nrql)" in NRQL_QUERY


def test_documented_sample_parses(fake: FakeNerdGraph, newrelic: NewRelicProvider) -> None:
    fake.forced["/graphql"] = Reply(200, NRQL_RESPONSE)
    got = newrelic.query(
        metric("SELECT count(*) FROM Transaction SINCE 1 HOUR AGO"), CONTRACT_ROLLOUT, WINDOW
    )
    assert got == Scalar(1000.0)
    # the query's own SINCE is kept (no window appended)
    assert fake.last().body["variables"]["nrql"] == (
        "SELECT count(*) FROM Transaction SINCE 1 HOUR AGO"
    )


def test_nested_percentile_and_null_and_empty(
    fake: FakeNerdGraph, newrelic: NewRelicProvider
) -> None:
    fake.results["SELECT percentile(duration, 99) FROM Transaction"] = [
        {"percentile.duration": {"99": 0.42}}
    ]
    p99 = newrelic.query(
        metric("SELECT percentile(duration, 99) FROM Transaction"), CONTRACT_ROLLOUT, WINDOW
    )
    assert p99 == Scalar(0.42)
    fake.results["SELECT average(duration) FROM Transaction"] = [{"average.duration": None}]
    null = newrelic.query(
        metric("SELECT average(duration) FROM Transaction"), CONTRACT_ROLLOUT, WINDOW
    )
    assert null == NoData("NRQL for nr-errors returned null (no data in the window)")
    fake.results["SELECT count(*) FROM Nothing"] = []
    empty = newrelic.query(metric("SELECT count(*) FROM Nothing"), CONTRACT_ROLLOUT, WINDOW)
    assert isinstance(empty, NoData) and "no rows" in empty.reason


def test_facets_and_several_values_are_permanent(
    fake: FakeNerdGraph, newrelic: NewRelicProvider
) -> None:
    fake.results["SELECT count(*) FROM Transaction FACET appName"] = [
        {"count": 1, "facet": "a"},
        {"count": 2, "facet": "b"},
    ]
    with pytest.raises(PermanentProviderError, match="2 rows"):
        newrelic.query(
            metric("SELECT count(*) FROM Transaction FACET appName"), CONTRACT_ROLLOUT, WINDOW
        )
    fake.results["SELECT count(*), max(duration) FROM Transaction"] = [
        {"count": 1, "max.duration": 2.0}
    ]
    with pytest.raises(PermanentProviderError, match="2 values"):
        newrelic.query(
            metric("SELECT count(*), max(duration) FROM Transaction"), CONTRACT_ROLLOUT, WINDOW
        )


def test_nrql_syntax_error_is_permanent(newrelic: NewRelicProvider) -> None:
    with pytest.raises(PermanentProviderError) as info:
        newrelic.query(metric("SELEC count(*) FROM Transaction"), CONTRACT_ROLLOUT, WINDOW)
    assert "NRQL Syntax Error" in str(info.value) and "fix: check the NRQL" in str(info.value)


def test_graphql_timeouts_and_http_errors_are_transient(
    fake: FakeNerdGraph, newrelic: NewRelicProvider
) -> None:
    fake.forced["/graphql"] = Reply(
        200,
        {
            "data": {"actor": {"account": {"nrql": None}}},
            "errors": [
                {"message": "NRQL query timed out", "extensions": {"errorClass": "TIMEOUT"}}
            ],
        },
    )
    with pytest.raises(TransientProviderError, match="timed out"):
        newrelic.query(metric("SELECT count(*) FROM Transaction"), CONTRACT_ROLLOUT, WINDOW)
    fake.forced["/graphql"] = Reply(503, raw="upstream unavailable")
    with pytest.raises(TransientProviderError, match="HTTP 503"):
        newrelic.query(metric("SELECT count(*) FROM Transaction"), CONTRACT_ROLLOUT, WINDOW)


def test_bad_key_is_permanent_and_hidden(fake: FakeNerdGraph) -> None:
    fake.reset()
    wrong = NewRelicProvider("NRAK-WRONGWRONGWRONG", account_id=ACCOUNT, address=fake.url)
    with pytest.raises(PermanentProviderError) as info:
        wrong.query(metric("SELECT count(*) FROM Transaction"), CONTRACT_ROLLOUT, WINDOW)
    assert "Invalid API key" in str(info.value) and "secretRef" in str(info.value)
    assert "NRAK-WRONG" not in str(info.value) + repr(wrong)
    assert wrong.is_online() is False
    fake.forced["/graphql"] = Reply(401, {"errors": [{"message": "Unauthorized"}]})
    with pytest.raises(PermanentProviderError, match="HTTP 401"):
        wrong.query(metric("SELECT count(*) FROM Transaction"), CONTRACT_ROLLOUT, WINDOW)
    fake.forced.clear()


def test_is_online_pings_the_user(fake: FakeNerdGraph, newrelic: NewRelicProvider) -> None:
    assert newrelic.is_online() is True
    assert fake.last().body == {"query": "{ actor { user { name } } }"}


def test_account_id_from_template_variables(fake: FakeNerdGraph) -> None:
    provider = NewRelicProvider(API_KEY, address=fake.url + "/graphql")
    fake.results["SELECT count(*) FROM Transaction"] = [{"count": 3}]
    got = provider.query(
        metric("SELECT count(*) FROM Transaction", accountId=str(ACCOUNT)), CONTRACT_ROLLOUT, WINDOW
    )
    assert got == Scalar(3.0)
    assert fake.last().path == "/graphql"  # an address ending in /graphql is used as is
    with pytest.raises(PermanentProviderError, match="no New Relic account id"):
        provider.query(metric("SELECT count(*) FROM Transaction"), CONTRACT_ROLLOUT, WINDOW)


def test_collect_says_builtins_need_custom_queries(newrelic: NewRelicProvider) -> None:
    with pytest.raises(PermanentProviderError, match="built-in SLIs are not supported"):
        newrelic.collect(CONTRACT_ROLLOUT, WINDOW)


def test_registry_env_and_secret(fake: FakeNerdGraph) -> None:
    spec = MetricProviderSpec(type="newrelic", address=fake.url, secret_ref=SecretRef(env="NR"))
    provider = provider_for(spec, env={"NR": f"{ACCOUNT}:{API_KEY}"})
    assert isinstance(provider, NewRelicProvider) and provider.account_id == ACCOUNT
    assert provider.is_online() is True

    def reader(name: str, key: str, namespace: str) -> str | None:
        return {"newrelic_api_key": API_KEY, "newrelic_account_id": str(ACCOUNT)}.get(key)

    spec = MetricProviderSpec(type="newrelic", secret_ref=SecretRef(name="newrelic"))
    built = provider_for(spec, secret_reader=reader)
    assert isinstance(built, NewRelicProvider)
    assert (built.api.address, built.account_id) == ("https://api.newrelic.com", ACCOUNT)
    with pytest.raises(SpecError, match="needs a user API key"):
        provider_for(MetricProviderSpec(type="newrelic"))
    with pytest.raises(SpecError, match="<account id>:<user api key>") as info:
        provider_for(
            MetricProviderSpec(type="newrelic", secret_ref=SecretRef(env="NR")),
            env={"NR": "acct:NRAK-SECRET"},
        )
    assert "NRAK-SECRET" not in str(info.value)


class TestNewRelicContract(ProviderContract):
    @pytest.fixture
    def case(self, fake: FakeNerdGraph) -> ContractCase:
        fake.forced.clear()
        fake.results["SELECT count(*) FROM Transaction WHERE appName = 'fraud'"] = [{"count": 42}]
        return ContractCase(
            provider=NewRelicProvider(API_KEY, account_id=ACCOUNT, address=fake.url),
            known=metric("SELECT count(*) FROM Transaction WHERE appName = '{{ name }}'"),
            window=WINDOW,
            expected=42.0,
            make=lambda address: NewRelicProvider(
                API_KEY, account_id=ACCOUNT, address=address, timeout=1.0
            ),
            empty=metric("SELECT latest(value) FROM Metric WHERE appName = 'none'"),
            invalid=metric("SELEC count(*) FROM Transaction"),
            secret=API_KEY,
        )
