"""OpenTelemetry provider: OTLP/HTTP posted to a real receiver on loopback, read back exactly.

Every test posts OTLP JSON (and once protobuf, encoded by opentelemetry-proto's own messages)
with httpx to an OTLPReceiver on a free 127.0.0.1 port, then reads it through the provider:
in-process (the receiver's store), remotely (``otlp+http://``, the receiver's read API) and
through ``modelcanary otlp serve`` in a subprocess. The official SDK's OTLP exporter
(``opentelemetry-exporter-otlp-proto-http``) is not installed here, so no test uses it.
"""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from otlp_fixtures import (
    DELTA,
    gauge_metric,
    histogram_metric,
    post,
    request,
    running_receiver,
    sum_metric,
)
from provider_contract import CONTRACT_ROLLOUT, ContractCase, ProviderContract

from modelcanary.analysis._measurements import (
    Counts,
    LatencyHistogram,
    NoData,
    PredictionHistogram,
    Scalar,
    Window,
)
from modelcanary.errors import PermanentProviderError, SpecError
from modelcanary.providers import PrometheusProvider, provider_for
from modelcanary.providers._opentelemetry import OpenTelemetryProvider, RemoteSeries
from modelcanary.providers._otlp_store import OTLPStore, default_store
from modelcanary.spec import MetricProviderSpec, MetricSpec

T = float(int(time.time()) - 600)
WINDOW = Window(T, T + 60)
REQ = "modelcanary_router_requests_total"
LAT = "modelcanary_router_request_duration_seconds"
PRED = "modelcanary_router_predictions_total"
SECRET = "otlp-reader:s3cret-token"


def router_metrics() -> dict[str, Any]:
    """The router's metrics for rollout ``fraud`` (and a distractor), with known window values."""
    ch = {"rollout": "fraud", "version": "challenger", "mirrored": "false"}
    cp = {"rollout": "fraud", "version": "champion", "mirrored": "false"}
    early = T - 100
    return request(
        # challenger 200s: 100 before the window -> 150 at its end: 50
        sum_metric(
            REQ, {**ch, "status": 200}, [(T - 10, 100), (T + 30, 140), (T + 50, 150)], start=early
        ),
        # challenger 503s: a series born inside the window counts from 0: 5
        sum_metric(REQ, {**ch, "status": 503}, [(T + 40, 5)], start=T + 20),
        # mirrored copies: 10
        sum_metric(
            REQ,
            {**ch, "status": 200, "mirrored": "true"},
            [(T - 10, 10), (T + 50, 20)],
            start=early,
        ),
        # champion, delta temporality: 20 + 30 inside the window
        sum_metric(
            REQ,
            {**cp, "status": 200},
            [(T - 5, 99), (T + 10, 20), (T + 40, 30), (T + 70, 1000)],
            start=early,
            temporality=DELTA,
        ),
        # another rollout: never counted
        sum_metric(
            REQ,
            {"rollout": "other", "version": "challenger", "status": 500},
            [(T - 10, 0), (T + 50, 1000)],
            start=early,
        ),
        histogram_metric(
            LAT,
            ch,
            [0.1, 0.5, 1.0],
            [(T - 10, [10, 5, 0, 0], 2.0), (T + 50, [30, 25, 5, 0], 12.0)],
            start=early,
        ),
        # champion latencies in ms (OTel's default unit for http durations), delta
        histogram_metric(
            LAT,
            cp,
            [100.0, 500.0],
            [(T + 30, [4, 4, 2], 1000.0)],
            start=T,
            temporality=DELTA,
            unit="ms",
        ),
        sum_metric(PRED, {**ch, "label": "fraud"}, [(T + 50, 7)], start=T + 1),
        sum_metric(PRED, {**ch, "label": "legit"}, [(T + 50, 3)], start=T + 1),
        sum_metric(PRED, {**cp, "label": "fraud"}, [(T + 50, 5)], start=T + 1),
        sum_metric(PRED, {**cp, "label": "legit"}, [(T + 50, 5)], start=T + 1),
        gauge_metric(
            "gpu.utilization",
            {"model": "fraud"},
            [(T - 5, 0.9), (T + 10, 0.2), (T + 20, 0.4), (T + 61, 1.0)],
        ),
    )


@pytest.fixture
def receiver() -> Iterator[tuple[OTLPStore, str]]:
    with running_receiver() as (store, url):
        answer = post(url, router_metrics())
        assert answer.status_code == 200, answer.text
        assert answer.json() == {}
        yield store, url


@pytest.fixture
def provider(receiver: tuple[OTLPStore, str]) -> OpenTelemetryProvider:
    return OpenTelemetryProvider(receiver[0])


def value(provider: OpenTelemetryProvider, text: str, **extra: Any) -> Scalar | NoData:
    return provider.query(MetricSpec(name="m", query=text, **extra), CONTRACT_ROLLOUT, WINDOW)


# -- built-in SLIs -------------------------------------------------------------------------------
def test_collect_counts_latencies_predictions(provider: OpenTelemetryProvider) -> None:
    data = provider.collect(CONTRACT_ROLLOUT, WINDOW)
    assert data.challenger.counts == Counts(65, 5, "challenger")
    assert data.champion.counts == Counts(50, 0, "champion")
    assert data.mirrored is True
    assert data.challenger.latencies == LatencyHistogram(
        (100.0, 500.0, 1000.0, math.inf), (20.0, 40.0, 45.0, 45.0), "challenger"
    )
    assert data.champion.latencies == LatencyHistogram(
        (100.0, 500.0, math.inf), (4.0, 8.0, 10.0), "champion"
    )
    assert data.challenger.predictions == PredictionHistogram(
        (7.0, 3.0), labels=("fraud", "legit"), side="challenger"
    )
    assert data.champion.predictions == PredictionHistogram(
        (5.0, 5.0), labels=("fraud", "legit"), side="champion"
    )
    assert isinstance(data.paired, NoData) and "embedded" in data.paired.reason


def test_collect_of_a_quiet_window_is_no_data(provider: OpenTelemetryProvider) -> None:
    data = provider.collect(CONTRACT_ROLLOUT, Window(T + 100, T + 160))
    assert isinstance(data.challenger.counts, NoData)
    assert isinstance(data.champion.latencies, NoData)
    assert isinstance(data.challenger.predictions, NoData)
    assert data.mirrored is None


def test_counter_reset_counts_the_new_run() -> None:
    store = OTLPStore()
    run1 = sum_metric(REQ, {"rollout": "fraud", "version": "challenger", "status": 200},
                      [(T - 10, 100), (T + 20, 120)], start=T - 100)  # fmt: skip
    run2 = sum_metric(REQ, {"rollout": "fraud", "version": "challenger", "status": 200},
                      [(T + 40, 5)], start=T + 25)  # fmt: skip
    store.ingest(request(run1, run2))
    data = OpenTelemetryProvider(store).collect(CONTRACT_ROLLOUT, WINDOW)
    assert data.challenger.counts == Counts(25, 0, "challenger")


# -- custom queries ----------------------------------------------------------------------------
def test_error_ratio_query(provider: OpenTelemetryProvider) -> None:
    text = (
        f'increase({REQ}{{rollout="{{{{ name }}}}",version="challenger",status=~"5.."}}) '
        f'/ increase({REQ}{{rollout="{{{{ name }}}}",version="challenger"}})'
    )
    got = value(provider, text)
    assert isinstance(got, Scalar)
    assert got.value == pytest.approx(5 / 65)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f'rate({REQ}{{rollout="fraud",version="champion"}})', 50 / 60),
        (f'increase({REQ}{{rollout!="fraud"}})', 1000.0),
        (f'histogram_quantile(0.5, {LAT}{{version="challenger"}})', 0.15),
        (f'1000 * histogram_quantile(0.5, {LAT}{{version="challenger"}})', 150.0),
        (f'histogram_mean({LAT}{{version="challenger"}})', 10.0 / 45),
        (f'increase({LAT}{{version="challenger"}})', 45.0),
        ('avg(gpu.utilization{model="fraud"})', 0.3),
        ('max(gpu.utilization{model="fraud"})', 0.4),
        ('min(gpu.utilization{model="fraud"})', 0.2),
        ("last(gpu.utilization)", 0.4),
        ("-(1 + 2) * 2 - 4 / 2", -8.0),
    ],
)
def test_query_language(provider: OpenTelemetryProvider, text: str, expected: float) -> None:
    got = value(provider, text)
    assert isinstance(got, Scalar), got
    assert got.value == pytest.approx(expected)


def test_interval_and_template_variables(provider: OpenTelemetryProvider) -> None:
    # interval 20s: (T+40, T+60] from the baseline point at T+30 (140) to 150
    text = (
        f'increase({REQ}{{rollout="{{{{ variables.model }}}}",status="200",'
        'mirrored="false",version="challenger"})'
    )
    got = value(provider, text, interval="20s", template_variables={"model": "fraud"})
    assert got == Scalar(10.0)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('increase(nothing_total{rollout="fraud"})', "matched no series"),
        (f'increase({REQ}{{rollout="nobody"}})', "matched no series"),
        (f'increase({REQ}{{rollout="fraud"}}) / 0', "divided by zero"),
    ],
)
def test_gaps_are_no_data(provider: OpenTelemetryProvider, text: str, reason: str) -> None:
    got = value(provider, text)
    assert isinstance(got, NoData)
    assert reason in got.reason


def test_no_points_in_the_window_is_no_data(provider: OpenTelemetryProvider) -> None:
    later = Window(T + 100, T + 160)
    got = provider.query(
        MetricSpec(name="m", query="avg(gpu.utilization)"), CONTRACT_ROLLOUT, later
    )
    assert isinstance(got, NoData)
    assert "no points in the window" in got.reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"increase({REQ}", "position"),
        (f"sum({REQ})", "unknown function 'sum'"),
        (f'increase({REQ}{{status=~"("}})', "bad regular expression"),
        ("increase(gpu.utilization)", "gauge"),
        (f"histogram_quantile(1.5, {LAT})", "between 0 and 1"),
        (f"histogram_quantile(0.5, {REQ})", "reads histogram"),
        (REQ, "needs a function around it"),
        ("increase({{ nope }})", "unknown template variable"),
    ],
)
def test_bad_queries_are_permanent(
    provider: OpenTelemetryProvider, text: str, message: str
) -> None:
    with pytest.raises(PermanentProviderError, match=message.replace("(", r"\(")):
        value(provider, text)


# -- the receiver over HTTP ---------------------------------------------------------------------
def test_receiver_rejects_what_is_not_otlp(receiver: tuple[OTLPStore, str]) -> None:
    _, url = receiver
    text = httpx.post(f"{url}/v1/metrics", content=b"a=1", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    bad = httpx.post(
        f"{url}/v1/metrics", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400 and "not an OTLP" in bad.json()["message"]
    assert post(url, {"metrics": []}).status_code == 400
    assert httpx.post(f"{url}/v1/traces", json={}).status_code == 404
    assert httpx.get(f"{url}/healthz").text == "ok"


def test_receiver_partial_success_for_unsupported_points(receiver: tuple[OTLPStore, str]) -> None:
    store, url = receiver
    expo = {
        "name": "expo",
        "exponentialHistogram": {"dataPoints": [{"count": "1"}, {"count": "2"}]},
    }
    answer = post(url, request(expo, gauge_metric("ok.gauge", {}, [(T + 5, 1.0)])))
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedDataPoints"] == "2"
    assert "expo" in partial["errorMessage"]
    assert "ok.gauge" in store.names() and "expo" not in store.names()


def test_receiver_accepts_gzip(receiver: tuple[OTLPStore, str]) -> None:
    store, url = receiver
    body = gzip.compress(json.dumps(request(gauge_metric("zipped", {}, [(T + 5, 2.5)]))).encode())
    answer = httpx.post(
        f"{url}/v1/metrics",
        content=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 200, answer.text
    got = OpenTelemetryProvider(store).query(
        MetricSpec(name="z", query="last(zipped)"), CONTRACT_ROLLOUT, WINDOW
    )
    assert got == Scalar(2.5)


def test_receiver_accepts_protobuf(receiver: tuple[OTLPStore, str]) -> None:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as pb

    store, url = receiver
    message = json_format.ParseDict(
        request(sum_metric("proto_total", {"rollout": "fraud"}, [(T + 30, 42)], start=T + 1)),
        pb.ExportMetricsServiceRequest(),
    )
    answer = httpx.post(
        f"{url}/v1/metrics",
        content=message.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-protobuf"
    response = pb.ExportMetricsServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_data_points == 0
    got = OpenTelemetryProvider(store).query(
        MetricSpec(name="p", query='increase(proto_total{rollout="fraud"})'),
        CONTRACT_ROLLOUT,
        WINDOW,
    )
    assert got == Scalar(42.0)


def test_resource_attributes_select_series(receiver: tuple[OTLPStore, str]) -> None:
    store, url = receiver
    body = request(gauge_metric("queue.depth", {}, [(T + 5, 3.0)]), resource={"service.name": "a"})
    assert post(url, body).status_code == 200
    got = OpenTelemetryProvider(store).query(
        MetricSpec(name="q", query='last(queue.depth{service.name="a"})'), CONTRACT_ROLLOUT, WINDOW
    )
    assert got == Scalar(3.0)


# -- remote reading, factory, CLI ----------------------------------------------------------------
def test_remote_reading_matches_in_process(receiver: tuple[OTLPStore, str]) -> None:
    store, url = receiver
    spec = MetricProviderSpec.model_validate(
        {
            "type": "opentelemetry",
            "address": url.replace("http://", "otlp+http://"),
            "secretRef": {"env": "OTLP_TOKEN"},
        }
    )
    remote = provider_for(spec, env={"OTLP_TOKEN": SECRET})
    assert isinstance(remote, OpenTelemetryProvider)
    assert isinstance(remote.source, RemoteSeries)
    assert remote.is_online() is True
    assert SECRET not in repr(remote)
    local = OpenTelemetryProvider(store)
    assert remote.collect(CONTRACT_ROLLOUT, WINDOW) == local.collect(CONTRACT_ROLLOUT, WINDOW)
    text = f'histogram_quantile(0.9, {LAT}{{rollout="fraud",version="challenger"}})'
    assert value(remote, text) == value(local, text)  # type: ignore[arg-type]


def test_remote_path_that_is_not_a_receiver_is_permanent(
    receiver: tuple[OTLPStore, str],
) -> None:
    wrong = OpenTelemetryProvider(RemoteSeries(receiver[1] + "/prefix"))
    with pytest.raises(PermanentProviderError, match="HTTP 404"):
        wrong.collect(CONTRACT_ROLLOUT, WINDOW)


def test_store_orders_points_and_keeps_a_baseline_past_retention() -> None:
    store = OTLPStore(retention=60.0)
    now = time.time()
    attrs = {"rollout": "fraud", "version": "challenger", "status": 200}
    points = [(now - 300, 1), (now - 200, 2), (now - 10, 9), (now - 30, 5)]  # last one late
    store.ingest(request(sum_metric(REQ, attrs, points, start=now - 400)))
    (series,) = store.series([REQ], -math.inf, math.inf)
    assert [p.value for p in series.points] == [2.0, 5.0, 9.0]  # now-300 pruned, now-200 kept
    data = OpenTelemetryProvider(store).collect(CONTRACT_ROLLOUT, Window(now - 100, now))
    assert data.challenger.counts == Counts(7, 0, "challenger")


def test_factory_addresses() -> None:
    local = provider_for(MetricProviderSpec(type="opentelemetry"))
    assert isinstance(local, OpenTelemetryProvider) and local.source is default_store()
    prom = provider_for(
        MetricProviderSpec(type="opentelemetry", address="http://mimir:9009/prometheus")
    )
    assert isinstance(prom, PrometheusProvider) and prom.name == "opentelemetry"
    with pytest.raises(SpecError, match="otlp\\+http") as info:
        provider_for(MetricProviderSpec(type="opentelemetry", address="grpc://collector:4317"))
    assert info.value.path == "provider.address"


def test_otlp_serve_command() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelcanary.cli._main", "otlp", "serve", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("otlp receiver on http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split(" on ", 1)[1].strip()
        assert post(url, router_metrics()).status_code == 200
        remote = OpenTelemetryProvider(RemoteSeries(url))
        assert remote.collect(CONTRACT_ROLLOUT, WINDOW).challenger.counts == Counts(65, 5)
    finally:
        proc.terminate()
        assert proc.wait(60) == 0  # a bound: a loaded machine's interpreter exit is slow


def test_otlp_serve_rejects_a_bad_listen_address() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelcanary.cli._main", "otlp", "serve", "--listen", "nowhere"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "HOST:PORT" in done.stderr


class TestOpenTelemetryContract(ProviderContract):
    """The contract on the remote reader (the in-process store does no I/O to fail)."""

    @pytest.fixture
    def case(self, receiver: tuple[OTLPStore, str]) -> ContractCase:
        _, url = receiver
        return ContractCase(
            provider=OpenTelemetryProvider(RemoteSeries(url, secret=SECRET)),
            known=MetricSpec(name="champion", query=f'increase({REQ}{{version="champion"}})'),
            window=WINDOW,
            expected=50.0,
            make=lambda address: OpenTelemetryProvider(
                RemoteSeries(address, timeout=1.0, secret=SECRET)
            ),
            empty=MetricSpec(name="none", query=f'increase({REQ}{{rollout="no-{{{{ name }}}}"}})'),
            invalid=MetricSpec(name="broken", query=f"increase({REQ}"),
            secret=SECRET,
        )
