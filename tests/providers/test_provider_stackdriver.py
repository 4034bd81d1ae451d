"""Google Cloud Monitoring provider against a local server speaking the documented APIs.

- PromQL: https://cloud.google.com/stackdriver/docs/managed-prometheus/query-api-ui
  (``GET /v1/projects/<p>/location/global/prometheus/api/v1/query``, the Prometheus HTTP API,
  ``Authorization: Bearer <access token>``).
- MQL: https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/query
  (``POST /v3/projects/<p>/timeSeries:query`` with ``{"query": ...}``; answer shaped as the
  sample of https://cloud.google.com/monitoring/mql/qn-from-api; errors as Google's
  ``{"error": {"code", "message", "status"}}``).
- Tokens: the metadata server,
  https://cloud.google.com/compute/docs/access/authenticate-workloads#applications
  (``GET /computeMetadata/v1/instance/service-accounts/default/token`` with
  ``Metadata-Flavor: Google``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from provider_contract import CONTRACT_ROLLOUT, ContractCase, ProviderContract
from vendor_fixtures import MQL_RESPONSE, FakeGoogleMonitoring, Reply

from modelcanary.analysis._measurements import Counts, IntervalData, NoData, Scalar, Window
from modelcanary.errors import PermanentProviderError, SpecError, TransientProviderError
from modelcanary.providers import _promql as promql
from modelcanary.providers import provider_for
from modelcanary.providers._stackdriver import MetadataToken, StackdriverProvider, is_mql
from modelcanary.spec import MetricProviderSpec, MetricSpec, SecretRef

PROJECT, TOKEN = "ml-prod-4711", "ya29.c.b0AXv0zTOKENTOKENTOKEN"
WINDOW = Window(1700000000.0, 1700000060.0)
ERRORS = 'sum(rate(modelcanary_router_requests_total{rollout="fraud",status=~"5.."}[1m]))'
MQL_CPU = (
    "fetch gce_instance | metric 'compute.googleapis.com/instance/cpu/utilization' | within 1m"
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGoogleMonitoring]:
    server = FakeGoogleMonitoring(PROJECT, TOKEN)
    yield server
    server.close()


@pytest.fixture
def google(fake: FakeGoogleMonitoring) -> Iterator[StackdriverProvider]:
    fake.reset()
    fake.mql.clear()
    provider = StackdriverProvider(PROJECT, token=TOKEN, address=fake.url, timeout=10.0)
    yield provider
    provider.close()


def metric(query: str) -> MetricSpec:
    return MetricSpec(name="gcp", query=query)


def test_promql_goes_to_the_projects_prometheus_api(
    fake: FakeGoogleMonitoring, google: StackdriverProvider
) -> None:
    fake.vectors[ERRORS] = 0.25
    templated = (
        'sum(rate(modelcanary_router_requests_total{rollout="{{ name }}",status=~"5.."}'
        "[{{ interval }}]))"
    )
    assert google.query(metric(templated), CONTRACT_ROLLOUT, WINDOW) == Scalar(0.25)
    sent = fake.last()
    assert sent.method == "GET"
    assert sent.path == f"/v1/projects/{PROJECT}/location/global/prometheus/api/v1/query"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.query == {"query": [ERRORS], "time": ["1700000060.000"]}


def test_promql_empty_bad_and_unauthorised(
    fake: FakeGoogleMonitoring, google: StackdriverProvider
) -> None:
    empty = google.query(metric('up{job="none"}'), CONTRACT_ROLLOUT, WINDOW)
    assert isinstance(empty, NoData)
    with pytest.raises(PermanentProviderError, match="parse error"):
        google.query(metric("sum(up"), CONTRACT_ROLLOUT, WINDOW)
    stale = StackdriverProvider(PROJECT, token="ya29.expired-token", address=fake.url)
    with pytest.raises(PermanentProviderError, match="HTTP 401") as info:
        stale.query(metric("up"), CONTRACT_ROLLOUT, WINDOW)
    assert "ya29.expired-token" not in str(info.value) + repr(stale)


def test_mql_is_posted_to_time_series_query(
    fake: FakeGoogleMonitoring, google: StackdriverProvider
) -> None:
    fake.mql[MQL_CPU] = copy.deepcopy(MQL_RESPONSE)
    templated = (
        "fetch gce_instance | metric 'compute.googleapis.com/instance/cpu/utilization' "
        "| within {{ interval }}"
    )
    got = google.query(metric(templated), CONTRACT_ROLLOUT, WINDOW)
    # the documented sample lists the newest point (20:56) first: its value is taken
    assert got == Scalar(0.063896992710942874)
    sent = fake.last()
    assert (sent.method, sent.path) == ("POST", f"/v3/projects/{PROJECT}/timeSeries:query")
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.body == {"query": MQL_CPU}


def test_mql_newest_point_by_end_time_and_typed_values(
    fake: FakeGoogleMonitoring, google: StackdriverProvider
) -> None:
    body = copy.deepcopy(MQL_RESPONSE)
    points = body["timeSeriesData"][0]["pointData"]
    points.reverse()  # oldest first: still the newest point wins
    points[1]["values"] = [{"int64Value": "17"}]
    fake.mql["fetch k8s_container | within 1m"] = body
    got = google.query(metric("fetch k8s_container | within 1m"), CONTRACT_ROLLOUT, WINDOW)
    assert got == Scalar(17.0)
    dist = copy.deepcopy(MQL_RESPONSE)
    dist["timeSeriesData"][0]["pointData"] = [
        {
            "values": [{"distributionValue": {"count": "4", "mean": 12.5}}],
            "timeInterval": {"endTime": "2020-03-02T20:56:00.5Z"},
        }
    ]
    fake.mql["fetch latency | within 1m"] = dist
    got = google.query(metric("fetch latency | within 1m"), CONTRACT_ROLLOUT, WINDOW)
    assert got == Scalar(12.5)


def test_mql_empty_several_and_rejected(
    fake: FakeGoogleMonitoring, google: StackdriverProvider
) -> None:
    empty = google.query(metric("fetch gce_instance | within 1m"), CONTRACT_ROLLOUT, WINDOW)
    assert isinstance(empty, NoData) and "no time series" in empty.reason
    two = copy.deepcopy(MQL_RESPONSE)
    two["timeSeriesData"].append(copy.deepcopy(two["timeSeriesData"][0]))
    fake.mql["fetch two | within 1m"] = two
    with pytest.raises(PermanentProviderError, match="2 time series"):
        google.query(metric("fetch two | within 1m"), CONTRACT_ROLLOUT, WINDOW)
    with pytest.raises(PermanentProviderError) as info:
        google.query(metric("fetch gce_instance || within 1m"), CONTRACT_ROLLOUT, WINDOW)
    assert "HTTP 400" in str(info.value) and "Syntax error in query" in str(info.value)
    assert "check the MQL" in str(info.value)


def test_server_errors_are_transient(
    fake: FakeGoogleMonitoring, google: StackdriverProvider
) -> None:
    fake.forced[f"/v3/projects/{PROJECT}/timeSeries:query"] = Reply(
        503, {"error": {"code": 503, "message": "The service is currently unavailable."}}
    )
    with pytest.raises(TransientProviderError, match="currently unavailable"):
        google.query(metric("fetch x | within 1m"), CONTRACT_ROLLOUT, WINDOW)
    fake.forced[f"{fake.prometheus_root}/api/v1/query"] = Reply(
        429, {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}
    )
    with pytest.raises(TransientProviderError, match="HTTP 429"):
        google.query(metric("up"), CONTRACT_ROLLOUT, WINDOW)


def test_language_detection() -> None:
    assert is_mql("fetch gce_instance | within 1m")
    assert is_mql("  { fetch a ; fetch b } | ratio")
    assert is_mql("fetch_cumulative k8s_container")
    assert not is_mql('rate(http_requests_total{job="fetch"}[1m])')
    assert not is_mql("fetcher_requests_total")


def test_collect_reads_router_metrics_through_promql(
    fake: FakeGoogleMonitoring, google: StackdriverProvider
) -> None:
    data = google.collect(CONTRACT_ROLLOUT, WINDOW)
    assert isinstance(data, IntervalData)
    assert isinstance(data.challenger.counts, NoData)  # the fake holds no router series
    sent = [r for r in fake.requests if r.path.endswith("/api/v1/query")]
    assert sent and all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in sent)
    assert any("modelcanary_router_requests_total" in r.param("query") for r in sent)


def test_collect_counts_router_requests_from_managed_prometheus(
    fake: FakeGoogleMonitoring, google: StackdriverProvider
) -> None:
    fake.rows.clear()
    query = promql.delta_by(
        "modelcanary_router_requests_total",
        {"rollout": "fraud"},
        ("version", "status", "mirrored"),
        "1m",
    )
    fake.rows[query] = [
        ({"version": "challenger", "status": "200", "mirrored": "false"}, 90.0),
        ({"version": "challenger", "status": "503", "mirrored": "false"}, 10.0),
        ({"version": "champion", "status": "200", "mirrored": "false"}, 400.0),
    ]
    data = google.collect(CONTRACT_ROLLOUT, WINDOW)
    assert data.challenger.counts == Counts(100, 10, "challenger")
    assert data.champion.counts == Counts(400, 0, "champion")
    fake.rows.clear()


def test_metadata_server_token_is_fetched_once_and_refreshed(
    fake: FakeGoogleMonitoring,
) -> None:
    fake.reset()
    source = MetadataToken(fake.host, timeout=10.0)
    provider = StackdriverProvider(PROJECT, token=source, address=fake.url)
    assert provider.is_online() is True
    assert provider.is_online() is True
    token_calls = [r for r in fake.requests if r.path.startswith("/computeMetadata")]
    assert len(token_calls) == 1
    assert token_calls[0].headers["metadata-flavor"] == "Google"
    fake.token_lifetime = 30  # shorter than the 60 s safety margin: fetched every time
    fresh = MetadataToken(fake.host)
    assert fresh() == fresh() == TOKEN
    assert len([r for r in fake.requests if r.path.startswith("/computeMetadata")]) == 3
    fake.token_lifetime = 3599


def test_factory_project_from_address_secret_or_env(fake: FakeGoogleMonitoring) -> None:
    fake.reset()
    address = f"{fake.url}/v1/projects/{PROJECT}/location/global/prometheus"
    spec = MetricProviderSpec(type="stackdriver", address=address, secret_ref=SecretRef(env="T"))
    provider = provider_for(spec, env={"T": TOKEN})
    assert isinstance(provider, StackdriverProvider)
    assert (provider.base, provider.project) == (fake.url, PROJECT)
    assert provider.is_online() is True

    def reader(name: str, key: str, namespace: str) -> str | None:
        return {"project": PROJECT}.get(key)

    spec = MetricProviderSpec(
        type="stackdriver", address=fake.url, secret_ref=SecretRef(name="gcp")
    )
    workload = provider_for(spec, secret_reader=reader, env={"GCE_METADATA_HOST": fake.host})
    assert isinstance(workload, StackdriverProvider) and workload.project == PROJECT
    assert workload.is_online() is True  # token from the metadata server
    assert fake.requests[-2].path.startswith("/computeMetadata")

    from_env = provider_for(
        MetricProviderSpec(type="stackdriver", secret_ref=SecretRef(env="T")),
        env={"T": TOKEN, "GOOGLE_CLOUD_PROJECT": "other-project"},
    )
    assert isinstance(from_env, StackdriverProvider)
    assert (from_env.base, from_env.project) == (
        "https://monitoring.googleapis.com",
        "other-project",
    )


def test_factory_errors_name_the_fix() -> None:
    with pytest.raises(SpecError, match="needs the Google Cloud project"):
        provider_for(
            MetricProviderSpec(type="stackdriver", secret_ref=SecretRef(env="T")), env={"T": "x"}
        )

    def flagger_secret(name: str, key: str, namespace: str) -> str | None:
        return {"project": PROJECT, "serviceAccountKey": '{"private_key": "SECRET"}'}.get(key)

    with pytest.raises(SpecError, match="Workload Identity") as info:
        provider_for(
            MetricProviderSpec(type="stackdriver", secret_ref=SecretRef(name="gcp")),
            secret_reader=flagger_secret,
        )
    assert "SECRET" not in str(info.value)


class TestStackdriverContract(ProviderContract):
    @pytest.fixture
    def case(self, fake: FakeGoogleMonitoring) -> ContractCase:
        fake.reset()
        fake.vectors['count(up{job="fraud"})'] = 1.0
        return ContractCase(
            provider=StackdriverProvider(PROJECT, token=TOKEN, address=fake.url),
            known=metric('count(up{job="{{ name }}"})'),
            window=WINDOW,
            expected=1.0,
            make=lambda address: StackdriverProvider(
                PROJECT, token=TOKEN, address=address, timeout=1.0
            ),
            empty=metric('up{job="no-such-{{ name }}"}'),
            invalid=metric("sum(up"),
            secret=TOKEN,
        )


class TestStackdriverMQLContract(ProviderContract):
    @pytest.fixture
    def case(self, fake: FakeGoogleMonitoring) -> ContractCase:
        fake.reset()
        fake.mql[MQL_CPU] = copy.deepcopy(MQL_RESPONSE)
        return ContractCase(
            provider=StackdriverProvider(PROJECT, token=TOKEN, address=fake.url),
            known=metric(MQL_CPU),
            window=WINDOW,
            expected=0.063896992710942874,
            make=lambda address: StackdriverProvider(
                PROJECT, token=TOKEN, address=address, timeout=1.0
            ),
            empty=metric("fetch gce_instance | metric 'none' | within 5m"),
            invalid=metric("fetch gce_instance || within 5m"),
            secret=TOKEN,
        )
