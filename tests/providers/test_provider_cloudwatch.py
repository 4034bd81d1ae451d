"""CloudWatch provider against moto in server mode (real HTTP, botocore's wire protocol).

Known series are written with boto3 ``put_metric_data`` at fixed timestamps, then read back
through the provider with Flagger-style MetricDataQueries. moto evaluates ``MetricStat``
queries exactly (Sum/Average per period) but not metric-math arithmetic: an ``Expression``
naming another query's Id passes its values through, which is what the math test uses.
Error classification beyond moto (throttling, 5xx, access denied) is checked against a local
server answering in CloudWatch's documented AWS JSON 1.0 error shape (``X-Amz-Target``
requests; ``__type``/``message`` body and the ``x-amzn-query-error`` header of
query-compatible services, as botocore's ``cloudwatch`` service model declares).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
from aws_fixtures import (
    ACCESS_KEY_ID,
    NAMESPACE,
    REGION,
    SECRET_ACCESS_KEY,
    MotoCloudWatch,
    running_moto,
)
from provider_contract import CONTRACT_ROLLOUT, ContractCase, ProviderContract

from modelcanary.analysis._measurements import NoData, Scalar, Window
from modelcanary.errors import PermanentProviderError, SpecError, TransientProviderError
from modelcanary.providers import provider_for
from modelcanary.providers._cloudwatch import CloudWatchProvider
from modelcanary.spec import MetricProviderSpec, MetricSpec

BASE = (int(time.time()) // 60) * 60 - 1200  # a whole minute, 20 minutes ago
WINDOW = Window(BASE, BASE + 60)
CREDS = (ACCESS_KEY_ID, SECRET_ACCESS_KEY, None)


def stat(
    ident: str,
    metric: str,
    *,
    period: int = 60,
    stat_name: str = "Sum",
    rollout: str = "{{ target }}",
    return_data: bool | None = None,
) -> dict[str, Any]:
    query: dict[str, Any] = {
        "Id": ident,
        "MetricStat": {
            "Metric": {
                "Namespace": NAMESPACE,
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "rollout", "Value": rollout},
                    {"Name": "version", "Value": "challenger"},
                ],
            },
            "Period": period,
            "Stat": stat_name,
        },
    }
    if return_data is not None:
        query["ReturnData"] = return_data
    return query


def metric(name: str, queries: list[dict[str, Any]] | str, **extra: Any) -> MetricSpec:
    text = queries if isinstance(queries, str) else json.dumps(queries)
    return MetricSpec(name=name, query=text, **extra)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoCloudWatch]:
    with running_moto() as server:
        dims = {"rollout": "fraud", "version": "challenger"}
        server.put("RequestCount", [(BASE + 10 * i, float(i)) for i in (1, 2, 3, 4)], dims)
        server.put("ErrorCount", [(BASE + 15, 1.0)], dims)
        server.put("Latency", [(BASE + 5, 120.0), (BASE + 25, 80.0)], dims, unit="Milliseconds")
        yield server


@pytest.fixture
def provider(moto: MotoCloudWatch) -> CloudWatchProvider:
    return CloudWatchProvider(REGION, endpoint=moto.endpoint, credentials=CREDS)


def query(provider: CloudWatchProvider, spec: MetricSpec) -> Scalar | NoData:
    return provider.query(spec, CONTRACT_ROLLOUT, WINDOW)


def test_sum_over_the_window(provider: CloudWatchProvider) -> None:
    assert query(provider, metric("requests", [stat("m1", "RequestCount")])) == Scalar(10.0)


def test_newest_datapoint_is_the_value(provider: CloudWatchProvider) -> None:
    # 10 s periods: 1, 2, 3, 4 -> the newest period's value
    got = query(provider, metric("requests", [stat("m1", "RequestCount", period=10)]))
    assert got == Scalar(4.0)


def test_average_and_template_variables(provider: CloudWatchProvider) -> None:
    spec = metric(
        "latency",
        [stat("m1", "Latency", stat_name="Average", rollout="{{ variables.model }}")],
        template_variables={"model": "fraud"},
    )
    assert query(provider, spec) == Scalar(100.0)


def test_expression_returns_the_only_data(provider: CloudWatchProvider) -> None:
    queries = [
        {"Id": "e1", "Expression": "m1", "Label": "passthrough"},
        stat("m1", "ErrorCount", return_data=False),
    ]
    assert query(provider, metric("errors", queries)) == Scalar(1.0)


def test_interval_narrows_the_window(provider: CloudWatchProvider) -> None:
    # interval 30s: [BASE+30, BASE+60) holds 3 and 4; {{ interval }} renders as seconds
    text = json.dumps([stat("m1", "RequestCount")]).replace("60", "{{ interval }}")
    got = query(provider, metric("recent", text, interval="30s"))
    assert got == Scalar(7.0)


def test_empty_result_is_no_data(provider: CloudWatchProvider) -> None:
    got = query(provider, metric("none", [stat("m1", "RequestCount", rollout="nobody")]))
    assert isinstance(got, NoData)
    assert "no datapoints" in got.reason


def test_two_returned_queries_are_permanent(provider: CloudWatchProvider) -> None:
    queries = [stat("m1", "RequestCount"), stat("m2", "ErrorCount")]
    with pytest.raises(PermanentProviderError, match="ReturnData"):
        query(provider, metric("two", queries))


def test_not_json_is_permanent(provider: CloudWatchProvider) -> None:
    with pytest.raises(PermanentProviderError, match="not JSON"):
        query(provider, metric("bad", "[{'Id': 'm1'}]"))
    with pytest.raises(PermanentProviderError, match="Id"):
        query(provider, metric("bad", '[{"MetricStat": {}}]'))


def test_unknown_template_variable_is_permanent(provider: CloudWatchProvider) -> None:
    text = json.dumps([stat("m1", "RequestCount", rollout="{{ variables.nope }}")])
    with pytest.raises(PermanentProviderError, match="templateVariables"):
        query(provider, metric("typo", text))


def test_collect_says_built_in_slis_are_not_supported(provider: CloudWatchProvider) -> None:
    data = provider.collect(CONTRACT_ROLLOUT, WINDOW)
    assert isinstance(data.challenger.counts, NoData)
    assert "not supported" in data.challenger.counts.reason


# -- factory: region, endpoint, credentials by reference ------------------------------------------
def spec(**fields: Any) -> MetricProviderSpec:
    return MetricProviderSpec.model_validate({"type": "cloudwatch", **fields})


def test_factory_with_env_credentials(moto: MotoCloudWatch) -> None:
    env = {"CW_KEYS": f"{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}"}
    built = provider_for(
        spec(region=REGION, address=moto.endpoint, secretRef={"env": "CW_KEYS"}), env=env
    )
    assert isinstance(built, CloudWatchProvider)
    assert built.is_online() is True
    assert SECRET_ACCESS_KEY not in repr(built)
    assert query(built, metric("requests", [stat("m1", "RequestCount")])) == Scalar(10.0)


def test_factory_with_kubernetes_secret(moto: MotoCloudWatch) -> None:
    secret = {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": SECRET_ACCESS_KEY}
    reads: list[tuple[str, str, str]] = []

    def reader(name: str, key: str, namespace: str) -> str | None:
        reads.append((name, key, namespace))
        return secret.get(key) if name == "aws" else None

    ref = spec(region=REGION, address=moto.endpoint, secretRef={"name": "aws"})
    built = provider_for(ref, secret_reader=reader, namespace="ml")
    assert built.is_online() is True
    assert ("aws", "aws_access_key_id", "ml") in reads
    with pytest.raises(SpecError, match="aws_secret_access_key") as info:
        provider_for(
            spec(region=REGION, secretRef={"name": "other"}), secret_reader=reader, namespace="ml"
        )
    assert info.value.path == "provider.secretRef.name"


def test_factory_spec_errors() -> None:
    with pytest.raises(SpecError, match="region") as info:
        provider_for(spec())
    assert info.value.path == "provider.region"
    with pytest.raises(SpecError, match="http"):
        provider_for(spec(region=REGION, address="localhost:4566"))
    with pytest.raises(SpecError, match="CW_KEYS is not set"):
        provider_for(spec(region=REGION, secretRef={"env": "CW_KEYS"}), env={})
    with pytest.raises(SpecError, match="ACCESS_KEY_ID:SECRET_ACCESS_KEY") as bad:
        provider_for(spec(region=REGION, secretRef={"env": "K"}), env={"K": "only-one-part"})
    assert "only-one-part" not in str(bad.value)


def test_no_credentials_is_permanent(moto: MotoCloudWatch, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    bare = CloudWatchProvider(REGION, endpoint=moto.endpoint)
    with pytest.raises(PermanentProviderError, match="no AWS credentials"):
        query(bare, metric("requests", [stat("m1", "RequestCount")]))


# -- error classification against CloudWatch's documented error shape -----------------------------
def json_error(code: str, message: str) -> bytes:
    """An AWS JSON 1.0 protocol error body."""
    return json.dumps({"__type": f"com.amazonaws.cloudwatch#{code}", "message": message}).encode()


class FakeCloudWatch(ThreadingHTTPServer):
    """Answers every call with one status, AWS query-compatible error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeCloudWatch

    def log_message(self, *_: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.paths.append(f"{self.path} {self.headers.get('X-Amz-Target')}")
        body = json_error(self.server.code, self.server.message)
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-query-error", f"{self.server.code};Sender")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "Throttling", TransientProviderError),
        (503, "ServiceUnavailable", TransientProviderError),
        (500, "InternalServiceError", TransientProviderError),
        (403, "AccessDenied", PermanentProviderError),
        (400, "InvalidParameterValue", PermanentProviderError),
    ],
)
def test_error_classes(status: int, code: str, error: type[Exception]) -> None:
    server = FakeCloudWatch(status, code, "documented failure")
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fake = CloudWatchProvider(
            REGION, endpoint=server.url, credentials=CREDS, timeout=10.0, max_attempts=1
        )
        with pytest.raises(error, match=code) as info:
            query(fake, metric("requests", [stat("m1", "RequestCount")]))
        assert SECRET_ACCESS_KEY not in str(info.value)
        assert server.paths == ["/ GraniteServiceVersion20100801.GetMetricData"]
        assert fake.is_online() is False
        assert code in fake.last_error
    finally:
        server.shutdown()
        server.server_close()


class TestCloudWatchContract(ProviderContract):
    @pytest.fixture
    def case(self, moto: MotoCloudWatch) -> ContractCase:
        return ContractCase(
            provider=CloudWatchProvider(REGION, endpoint=moto.endpoint, credentials=CREDS),
            known=metric("requests", [stat("m1", "RequestCount")]),
            window=WINDOW,
            expected=10.0,
            make=lambda address: CloudWatchProvider(
                REGION, endpoint=address, credentials=CREDS, timeout=1.0, max_attempts=1
            ),
            empty=metric("none", [stat("m1", "RequestCount", rollout="nobody-{{ name }}")]),
            invalid=metric("broken", [{"Id": "m1"}]),
            secret=SECRET_ACCESS_KEY,
        )
