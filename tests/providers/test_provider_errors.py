"""Error classes of the Prometheus provider: transient (retry) vs permanent (fix the spec)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from ports import closed_port
from prom_fixtures import running_prometheus

from modelcanary.analysis._measurements import Scalar, Window
from modelcanary.errors import PermanentProviderError, SpecError, TransientProviderError
from modelcanary.ports import MetricProvider
from modelcanary.providers import PrometheusProvider
from modelcanary.spec import MetricSpec, parse_rollout

ROLLOUT = parse_rollout(
    {
        "metadata": {"name": "fraud"},
        "spec": {
            "champion": {"url": "http://127.0.0.1:1"},
            "challenger": {"url": "http://127.0.0.1:2"},
            "analysis": {
                "interval": "30s",
                "threshold": 1,
                "stepWeights": [50],
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
            },
        },
    }
)
WINDOW = Window(1000.0, 1030.0)
METRIC = MetricSpec(name="custom", query="sum(up)")
OK = {
    "status": "success",
    "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1030, "1"]}]},
}


class Stub:
    """An HTTP server answering every request with ``status``/``body`` after ``delay``."""

    def __init__(self) -> None:
        self.status, self.body, self.delay = 200, json.dumps(OK), 0.0
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.headers.append(dict(self.headers))
                stub.paths.append(self.path)
                time.sleep(stub.delay)
                data = stub.body.encode()
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def answer(self, status: int, body: Any) -> None:
        self.status, self.body = status, body if isinstance(body, str) else json.dumps(body)


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_closed_port_is_transient_and_offline() -> None:
    provider = PrometheusProvider(f"http://127.0.0.1:{closed_port()}", timeout=1)
    assert isinstance(provider, MetricProvider)
    assert not provider.is_online()
    assert "unreachable" in provider.last_error
    with pytest.raises(TransientProviderError, match="unreachable"):
        provider.collect(ROLLOUT, WINDOW)
    with pytest.raises(TransientProviderError):
        provider.query(METRIC, ROLLOUT, WINDOW)


def test_stopped_prometheus_goes_offline() -> None:
    with running_prometheus() as prom:
        provider = PrometheusProvider(prom.url)
        assert provider.is_online()
        prom.stop()
        assert not provider.is_online()
        with pytest.raises(TransientProviderError):
            provider.collect(ROLLOUT, WINDOW)


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_server_errors_are_transient(stub: Stub, status: int) -> None:
    stub.answer(status, {"status": "error", "errorType": "timeout", "error": "query timed out"})
    with pytest.raises(TransientProviderError, match=f"HTTP {status}: query timed out"):
        PrometheusProvider(stub.url).query(METRIC, ROLLOUT, WINDOW)


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (400, "PromQL"),
        (401, "secretRef"),
        (403, "secretRef"),
        (404, "path prefix"),
        (422, "PromQL"),
    ],
)
def test_client_errors_are_permanent(stub: Stub, status: int, hint: str) -> None:
    stub.answer(status, {"status": "error", "errorType": "bad_data", "error": "parse error"})
    with pytest.raises(PermanentProviderError, match=hint):
        PrometheusProvider(stub.url).query(METRIC, ROLLOUT, WINDOW)


def test_timeout_is_transient(stub: Stub) -> None:
    stub.delay = 5.0  # far past the 0.1 s timeout: a client stalled 0.4 s would read an answer
    with pytest.raises(TransientProviderError, match=r"within 0\.1s"):
        PrometheusProvider(stub.url, timeout=0.1).query(METRIC, ROLLOUT, WINDOW)


@pytest.mark.parametrize(
    "body", ["<html>not prometheus</html>", {"status": "success"}, {"data": 1}]
)
def test_not_a_prometheus_api_is_permanent(stub: Stub, body: Any) -> None:
    stub.answer(200, body)
    with pytest.raises(PermanentProviderError, match="Prometheus"):
        PrometheusProvider(stub.url).query(METRIC, ROLLOUT, WINDOW)
    assert not PrometheusProvider(stub.url).is_online()


def test_bad_address_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="http"):
        PrometheusProvider("prometheus:9090")


@pytest.mark.parametrize(
    ("secret", "header"),
    [
        ("s3cr3t-token", "Bearer s3cr3t-token"),
        ("alice:pa55", "Basic YWxpY2U6cGE1NQ=="),
        ("Bearer abc", "Bearer abc"),
        ("Basic Zm9vOmJhcg==", "Basic Zm9vOmJhcg=="),
    ],
)
def test_credentials_and_headers_are_sent(stub: Stub, secret: str, header: str) -> None:
    provider = PrometheusProvider(
        stub.url + "/prefix/",
        secret=secret,
        headers={"X-Scope-OrgID": "tenant-1", "Authorization": "overridden"},
    )
    assert provider.query(METRIC, ROLLOUT, WINDOW) == Scalar(1.0)
    sent = stub.headers[-1]
    assert sent["Authorization"] == header
    assert sent["X-Scope-OrgID"] == "tenant-1"
    assert stub.paths[-1].startswith("/prefix/api/v1/query?")
    assert "time=1030.000" in stub.paths[-1]
    assert secret not in repr(provider)


def test_address_credentials_never_appear_in_errors() -> None:
    provider = PrometheusProvider(f"http://bob:hunter2@127.0.0.1:{closed_port()}", timeout=1)
    with pytest.raises(TransientProviderError) as info:
        provider.collect(ROLLOUT, WINDOW)
    assert "hunter2" not in str(info.value) and "hunter2" not in repr(provider)


def test_scalar_and_unexpected_results(stub: Stub) -> None:
    stub.answer(
        200, {"status": "success", "data": {"resultType": "scalar", "result": [1030, "0.25"]}}
    )
    assert PrometheusProvider(stub.url).query(METRIC, ROLLOUT, WINDOW) == Scalar(0.25)
    stub.answer(200, {"status": "success", "data": {"resultType": "string", "result": [1030, "x"]}})
    with pytest.raises(PermanentProviderError, match="string"):
        PrometheusProvider(stub.url).query(METRIC, ROLLOUT, WINDOW)
    with pytest.raises(PermanentProviderError, match="no query"):
        PrometheusProvider(stub.url).query(MetricSpec(name="error-rate"), ROLLOUT, WINDOW)
