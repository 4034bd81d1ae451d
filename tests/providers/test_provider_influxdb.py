"""InfluxDBProvider against a real InfluxDB 1.6 (InfluxQL) and a documented-shape Flux server.

The 1.x half writes Telegraf-layout points (``prometheus`` measurement, labels as tags, one
field per router metric; Telegraf's prometheus input with ``metric_version = 2``) into the
session's InfluxDB and checks custom InfluxQL values and the built-in SLI counts exactly.

The 2.x half runs a local HTTP server reproducing the documented request and answers of
``POST /api/v2/query`` (https://docs.influxdata.com/influxdb/v2/api/#operation/PostQuery):
``Authorization: Token <token>``, ``org`` query parameter, a JSON body
``{"query": ..., "type": "flux", "dialect": {...}}``, ``Accept: application/csv``; answers in
annotated CSV (https://docs.influxdata.com/influxdb/v2/reference/syntax/annotated-csv/),
including the in-band ``error,reference`` table, and JSON ``{"code", "message"}`` errors.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from provider_contract import CONTRACT_ROLLOUT, ContractCase, ProviderContract
from tsdb_fixtures import INFLUX_DB, INFLUX_PASSWORD, INFLUX_USER, InfluxDB
from tsdb_fixtures import influxdb as influxdb  # session fixture

from modelcanary.analysis._measurements import (
    Counts,
    LatencyHistogram,
    NoData,
    PredictionHistogram,
    Scalar,
    Window,
)
from modelcanary.errors import PermanentProviderError, SpecError, TransientProviderError
from modelcanary.providers import provider_for
from modelcanary.providers._influxdb import (
    InfluxDBProvider,
    flux_value,
    influx_authorization,
    influxql_value,
    is_flux,
)
from modelcanary.spec import MetricProviderSpec, MetricSpec, SecretRef

SECRET = f"{INFLUX_USER}:{INFLUX_PASSWORD}"
T0 = (int(time.time()) // 60) * 60 - 1200
"""Start of the written data (s), 20 minutes ago on a whole minute."""
WINDOW = Window(T0 + 30, T0 + 90)
"""The built-in SLI window: counters are read at T0+30 and T0+90."""
R = CONTRACT_ROLLOUT.name  # "fraud"


def _line(fields: dict[str, float], tags: dict[str, str], at: float, m: str = "prometheus") -> str:
    tag_text = ",".join(f"{k}={v}" for k, v in sorted(tags.items()))
    field_text = ",".join(f"{k}={v!r}" for k, v in fields.items())
    return f"{m},{tag_text} {field_text} {round(at * 1000)}"


def _counter(field: str, tags: dict[str, str], points: dict[int, float]) -> list[str]:
    return [_line({field: v}, tags, T0 + dt) for dt, v in points.items()]


def _router_points() -> list[str]:
    req = "modelcanary_router_requests_total"
    lat = "modelcanary_router_request_duration_seconds_bucket"
    pred = "modelcanary_router_predictions_total"

    def tags(**kw: str) -> dict[str, str]:
        return {"rollout": R, "url": "http://router-a:8080/_modelcanary/metrics", **kw}

    lines: list[str] = []
    champ = {"version": "champion", "mirrored": "false"}
    chall = {"version": "challenger", "mirrored": "false"}
    shadow = {"version": "challenger", "mirrored": "true"}
    # champion 200: 10 -> 100 in the window (+90); a second router replica +10; 503: +10
    lines += _counter(req, tags(status="200", **champ), {0: 0, 30: 10, 60: 50, 90: 100, 100: 999})
    lines += _counter(
        req, {**tags(status="200", **champ), "url": "http://router-b:8080/m"}, {25: 20, 85: 30}
    )
    lines += _counter(req, tags(status="503", **champ), {30: 0, 90: 10})
    # challenger: 200 +36; 500 born in the window at 4; mirrored 200 restarted (last 18); 502 +2
    lines += _counter(req, tags(status="200", **chall), {30: 5, 90: 41})
    lines += _counter(req, tags(status="500", **chall), {60: 4, 90: 4})
    lines += _counter(req, tags(status="200", **shadow), {30: 100, 60: 3, 90: 18})
    lines += _counter(req, tags(status="502", **shadow), {30: 1, 90: 3})
    # another rollout (must not count) and a point older than the lookback (ignored)
    lines += _counter(req, {**tags(status="500", **chall), "rollout": "other"}, {30: 0, 90: 77})
    for le, (before, after) in {"0.01": (1, 21), "0.1": (2, 42), "+Inf": (3, 63)}.items():
        lines += _counter(lat, tags(le=le, **chall), {30: before, 90: after})
        lines += _counter(lat, tags(le=le, **champ), {30: 0, 90: 2 * (after - before)})
    for version, fraud, ok in (("challenger", 5, 15), ("champion", 2, 18)):
        side = {"version": version, "mirrored": "false"}
        lines += _counter(pred, tags(label="fraud", **side), {30: 0, 90: fraud})
        lines += _counter(pred, tags(label="ok", **side), {30: 0, 90: ok})
    # custom-query data: a gauge sampled every 10 s
    lines += [
        _line({"value": float(i)}, {"app": R, "namespace": "ml"}, T0 + 10 * i, m="latency_ms")
        for i in range(12)
    ]
    return lines


@pytest.fixture(scope="module")
def influx(influxdb: InfluxDB) -> InfluxDB:
    influxdb.write(_router_points())
    return influxdb


@pytest.fixture
def provider(influx: InfluxDB) -> Iterator[InfluxDBProvider]:
    p = InfluxDBProvider(f"{influx.url}?db={INFLUX_DB}", secret=SECRET, timeout=5)
    yield p
    p.close()


def metric(query: str, **kw: Any) -> MetricSpec:
    return MetricSpec(name="custom", query=query, **kw)


# -- InfluxQL against the real InfluxDB 1.6 ---------------------------------------------------
def test_mean_in_the_window(provider: InfluxDBProvider) -> None:
    q = (
        'SELECT mean("value") FROM "latency_ms" WHERE "app" = \'{{ name }}\' '
        "AND \"namespace\" = '{{ namespace }}' AND time >= {{ start }} AND time < {{ end }}"
    )
    got = provider.query(metric(q), CONTRACT_ROLLOUT, Window(T0 + 20, T0 + 60))
    assert got == Scalar((2 + 3 + 4 + 5) / 4)


def test_interval_and_variables(provider: InfluxDBProvider) -> None:
    q = (
        'SELECT {{ variables.fn }}("value") FROM "latency_ms" WHERE time > {{ end }} - '
        "{{ interval }} AND time <= {{ end }}"
    )
    got = provider.query(
        metric(q, interval="30s", template_variables={"fn": "sum"}),
        CONTRACT_ROLLOUT,
        Window(T0, T0 + 110),
    )
    assert got == Scalar(9 + 10 + 11)


def test_null_and_empty_are_no_data(provider: InfluxDBProvider) -> None:
    empty = provider.query(
        metric('SELECT mean("value") FROM "latency_ms" WHERE "app" = \'nobody\''),
        CONTRACT_ROLLOUT,
        WINDOW,
    )
    assert isinstance(empty, NoData) and "no series" in empty.reason
    missing_db = InfluxDBProvider(f"{provider.endpoint.address}?db=nope", secret=SECRET)
    with pytest.raises(PermanentProviderError, match=r"database not found: nope"):
        missing_db.query(metric('SELECT mean("value") FROM "x"'), CONTRACT_ROLLOUT, WINDOW)


def test_several_series_or_rows_are_permanent(provider: InfluxDBProvider) -> None:
    series = metric(
        'SELECT last("modelcanary_router_requests_total") FROM "prometheus" '
        "WHERE rollout = '{{ name }}' AND status = '200' AND time <= {{ end }} GROUP BY url"
    )
    with pytest.raises(PermanentProviderError, match=r"series.*drop GROUP BY"):
        provider.query(series, CONTRACT_ROLLOUT, WINDOW)
    rows = metric('SELECT "value" FROM "latency_ms" WHERE time >= {{ start }} AND time < {{ end }}')
    with pytest.raises(PermanentProviderError, match=r"4 rows"):
        provider.query(rows, CONTRACT_ROLLOUT, Window(T0, T0 + 40))


def test_bad_influxql_and_bad_password_are_permanent(provider: InfluxDBProvider) -> None:
    with pytest.raises(PermanentProviderError, match=r"HTTP 400.*error parsing query"):
        provider.query(metric("SELEC 1"), CONTRACT_ROLLOUT, WINDOW)
    wrong = InfluxDBProvider(
        f"{provider.endpoint.address}?db={INFLUX_DB}", secret=f"{INFLUX_USER}:wrong-password"
    )
    with pytest.raises(PermanentProviderError, match=r"HTTP 401.*secretRef") as info:
        wrong.query(metric('SELECT mean("value") FROM "latency_ms"'), CONTRACT_ROLLOUT, WINDOW)
    assert "wrong-password" not in str(info.value)
    anonymous = InfluxDBProvider(f"{provider.endpoint.address}?db={INFLUX_DB}")
    with pytest.raises(PermanentProviderError, match=r"HTTP 401"):
        anonymous.query(metric('SELECT mean("value") FROM "latency_ms"'), CONTRACT_ROLLOUT, WINDOW)


def test_unknown_placeholder_names_known_ones(provider: InfluxDBProvider) -> None:
    with pytest.raises(PermanentProviderError, match=r"\{\{ nme \}\}.*start, end"):
        provider.query(metric("SELECT 1 FROM x WHERE a = '{{ nme }}'"), CONTRACT_ROLLOUT, WINDOW)


def test_collect_reads_telegraf_layout_exactly(provider: InfluxDBProvider) -> None:
    data = provider.collect(CONTRACT_ROLLOUT, WINDOW)
    # champion: +90 (replica a) +10 (replica b) +10 (503); the point after the window ignored
    assert data.champion.counts == Counts(110, 10, "champion")
    # challenger: 36 + 4 (born in the window) + 18 (restarted counter) + 2; other rollout ignored
    assert data.challenger.counts == Counts(60, 6, "challenger")
    assert data.mirrored is True
    assert data.challenger.latencies == LatencyHistogram((10.0, 100.0, float("inf")), (20, 40, 60))
    assert data.champion.latencies == LatencyHistogram(
        (10.0, 100.0, float("inf")), (40, 80, 120), "champion"
    )
    assert data.challenger.predictions == PredictionHistogram((5, 15), labels=("fraud", "ok"))
    assert isinstance(data.paired, NoData) and "InfluxDB" in data.paired.reason


def test_collect_outside_the_data_is_no_data(provider: InfluxDBProvider) -> None:
    data = provider.collect(CONTRACT_ROLLOUT, Window(T0 - 7200, T0 - 3600))
    assert isinstance(data.challenger.counts, NoData)
    assert isinstance(data.champion.latencies, NoData)
    assert data.mirrored is False


def test_collect_without_db_says_so(influx: InfluxDB) -> None:
    with pytest.raises(PermanentProviderError, match=r"built-in SLIs.*\?db="):
        InfluxDBProvider(influx.url, secret=SECRET).collect(CONTRACT_ROLLOUT, WINDOW)


def test_factory_and_secret_ref(influx: InfluxDB) -> None:
    spec = MetricProviderSpec(
        type="influxdb",
        address=f"{influx.url}?db={INFLUX_DB}",
        secret_ref=SecretRef(env="INFLUX_CREDS"),
    )
    p = provider_for(spec, env={"INFLUX_CREDS": SECRET}, timeout=10.0)
    assert isinstance(p, InfluxDBProvider) and p.is_online()
    assert p.query(
        metric('SELECT max("value") FROM "latency_ms"'), CONTRACT_ROLLOUT, WINDOW
    ) == Scalar(11)
    with pytest.raises(SpecError, match=r"provider.address"):
        provider_for(MetricProviderSpec(type="influxdb"))
    with pytest.raises(SpecError, match=r"not an http"):
        provider_for(MetricProviderSpec(type="influxdb", address="influx:8086"))


# -- pure parsing --------------------------------------------------------------------------
def test_language_and_authorization() -> None:
    assert is_flux('from(bucket: "b") |> range(start: -1m)')
    assert is_flux('import "math"\nmath.pi')
    assert not is_flux("SELECT mean(v) FROM m")
    assert influx_authorization("tok") == "Token tok"
    assert influx_authorization("Bearer tok") == "Token tok"
    assert influx_authorization("Token tok") == "Token tok"
    assert influx_authorization("u:p") == "Basic dTpw"


def test_influxql_answer_shapes() -> None:
    one = {
        "results": [
            {"statement_id": 0, "series": [{"columns": ["time", "m"], "values": [[1, None]]}]}
        ]
    }
    assert isinstance(influxql_value(one, "m"), NoData)
    with pytest.raises(PermanentProviderError, match=r"without 'results'"):
        influxql_value({"data": 1}, "m")
    with pytest.raises(PermanentProviderError, match=r"2 statements"):
        influxql_value({"results": [{}, {}]}, "m")


class TestInfluxDB1Contract(ProviderContract):
    @pytest.fixture
    def case(self, influx: InfluxDB) -> ContractCase:
        def make(address: str) -> InfluxDBProvider:
            return InfluxDBProvider(f"{address}?db={INFLUX_DB}", timeout=1.0, secret=SECRET)

        return ContractCase(
            provider=make(influx.url),
            known=metric(
                'SELECT mean("value") FROM "latency_ms" WHERE app = \'{{ target }}\' '
                "AND time >= {{ start }} AND time < {{ end }}"
            ),
            window=Window(T0, T0 + 40),
            expected=1.5,
            make=make,
            empty=metric('SELECT mean("value") FROM "latency_ms" WHERE app = \'{{ name }}-x\''),
            invalid=metric("SELECT FROM WHERE"),
            secret=SECRET,
        )


# -- Flux (2.x) against a documented-shape server ----------------------------------------------
TOKEN = "flux-t0ken-s3cret"
ORG = "acme"
# annotated CSV as documented (annotations, header starting with the annotation column)
ONE_VALUE = (
    "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string\r\n"
    "#group,false,false,true,true,false,true,true,true\r\n"
    "#default,_result,,,,,,,\r\n"
    ",result,table,_start,_stop,_value,_field,_measurement,app\r\n"
    ",,0,2026-01-01T00:00:00Z,2026-01-01T00:01:00Z,0.0425,error_ratio,http,fraud\r\n"
    "\r\n"
)
TWO_TABLES = (
    "#datatype,string,long,double,string\r\n"
    "#group,false,false,false,true\r\n"
    "#default,_result,,,\r\n"
    ",result,table,_value,host\r\n"
    ",,0,15.43,A\r\n"
    ",,1,59.25,B\r\n"
    "\r\n"
)
TWO_ROWS = (
    "#datatype,string,long,dateTime:RFC3339,double\r\n"
    "#group,false,false,false,false\r\n"
    "#default,_result,,,\r\n"
    ",result,table,_time,_value\r\n"
    ",,0,2026-01-01T00:00:00Z,1\r\n"
    ",,0,2026-01-01T00:00:10Z,2\r\n"
    "\r\n"
)
NULL_VALUE = (
    "#datatype,string,long,double\r\n#group,false,false,false\r\n#default,_result,,\r\n"
    ",result,table,_value\r\n,,0,\r\n\r\n"
)
ERROR_TABLE = (
    "#datatype,string,string\r\n#group,true,true\r\n#default,,\r\n"
    ",error,reference\r\n"
    ',"runtime error @1:1-1:40: range: stop cannot be before start",897\r\n\r\n'
)


class FluxServer:
    """``/ping`` and ``POST /api/v2/query`` as InfluxDB 2.x documents them; records requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, code: int, body: str, ctype: str) -> None:
                data = body.encode()
                self.send_response(code)
                if data:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/ping":
                    self._send(204, "", "")
                else:
                    self._send(
                        404,
                        json.dumps({"code": "not found", "message": "path not found"}),
                        "application/json",
                    )

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = json.loads(raw or b"{}")
                server.requests.append(
                    {
                        "path": url.path,
                        "params": parse_qs(url.query),
                        "headers": dict(self.headers.items()),
                        "body": body,
                    }
                )
                error = "application/json; charset=utf-8"
                if self.headers.get("Authorization") != f"Token {TOKEN}":
                    self._send(
                        401,
                        json.dumps({"code": "unauthorized", "message": "unauthorized access"}),
                        error,
                    )
                    return
                if parse_qs(url.query).get("org") != [ORG]:
                    self._send(
                        404,
                        json.dumps(
                            {"code": "not found", "message": 'organization name "x" not found'}
                        ),
                        error,
                    )
                    return
                query = body.get("query", "")
                if "syntax error" in query:
                    message = "compilation failed: error at @1:1-1:3: invalid expression"
                    self._send(400, json.dumps({"code": "invalid", "message": message}), error)
                    return
                if "overloaded" in query:
                    self._send(
                        503,
                        json.dumps({"code": "unavailable", "message": "too many queries"}),
                        error,
                    )
                    return
                csv_text = next(
                    (
                        text
                        for key, text in (
                            ("known", ONE_VALUE),
                            ("two_tables", TWO_TABLES),
                            ("two_rows", TWO_ROWS),
                            ("null_value", NULL_VALUE),
                            ("error_table", ERROR_TABLE),
                        )
                        if key in query
                    ),
                    "\r\n",  # no tables: InfluxDB answers an empty result
                )
                self._send(200, csv_text, "text/csv; charset=utf-8")

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture(scope="module")
def flux_server() -> Iterator[FluxServer]:
    server = FluxServer()
    yield server
    server.close()


def flux_provider(address: str, secret: str = TOKEN, timeout: float = 5.0) -> InfluxDBProvider:
    return InfluxDBProvider(f"{address}?org={ORG}", secret=secret, timeout=timeout)


FLUX_KNOWN = (
    'from(bucket: "known") |> range(start: {{ start }}, stop: {{ end }}) '
    '|> filter(fn: (r) => r.app == "{{ name }}" and r.ns == "{{ namespace }}") |> mean()'
)


def test_flux_request_is_the_documented_one(flux_server: FluxServer) -> None:
    got = flux_provider(flux_server.url).query(
        metric(FLUX_KNOWN), CONTRACT_ROLLOUT, Window(1767225600.0, 1767225660.5)
    )
    assert got == Scalar(0.0425)
    sent = flux_server.requests[-1]
    assert sent["path"] == "/api/v2/query" and sent["params"] == {"org": [ORG]}
    assert sent["headers"]["Authorization"] == f"Token {TOKEN}"
    assert sent["headers"]["Accept"] == "application/csv"
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["body"]["type"] == "flux"
    assert sent["body"]["dialect"]["header"] is True
    assert sent["body"]["query"] == (
        'from(bucket: "known") |> range(start: 2026-01-01T00:00:00.000Z, '
        "stop: 2026-01-01T00:01:00.500Z) "
        '|> filter(fn: (r) => r.app == "fraud" and r.ns == "ml") |> mean()'
    )


def test_flux_answer_shapes(flux_server: FluxServer) -> None:
    p = flux_provider(flux_server.url)

    def run(q: str) -> Scalar | NoData:
        return p.query(
            metric(f'from(bucket: "{q}") |> range(start: -1m)'), CONTRACT_ROLLOUT, WINDOW
        )

    assert isinstance(run("empty"), NoData)
    null = run("null_value")
    assert isinstance(null, NoData) and "null" in null.reason
    with pytest.raises(PermanentProviderError, match=r"2 tables.*group"):
        run("two_tables")
    with pytest.raises(PermanentProviderError, match=r"2 rows"):
        run("two_rows")
    with pytest.raises(PermanentProviderError, match=r"stop cannot be before start"):
        run("error_table")
    with pytest.raises(PermanentProviderError, match=r"HTTP 400.*compilation failed"):
        run("syntax error")
    with pytest.raises(TransientProviderError, match=r"HTTP 503.*too many queries"):
        run("overloaded")


def test_flux_refused_token_and_wrong_org(flux_server: FluxServer) -> None:
    with pytest.raises(PermanentProviderError, match=r"HTTP 401.*unauthorized.*secretRef") as info:
        flux_provider(flux_server.url, secret="wrong-token").query(
            metric(FLUX_KNOWN), CONTRACT_ROLLOUT, WINDOW
        )
    assert "wrong-token" not in str(info.value)
    other_org = InfluxDBProvider(f"{flux_server.url}?org=other", secret=TOKEN)
    with pytest.raises(PermanentProviderError, match=r"HTTP 404.*organization"):
        other_org.query(metric(FLUX_KNOWN), CONTRACT_ROLLOUT, WINDOW)


def test_flux_csv_without_annotations() -> None:
    assert flux_value(",result,table,_value\n,_result,0,7\n", "m") == Scalar(7.0)
    assert flux_value("", "m") == NoData("query for m returned no tables")


class TestInfluxDB2FluxContract(ProviderContract):
    @pytest.fixture
    def case(self, flux_server: FluxServer) -> ContractCase:
        return ContractCase(
            provider=flux_provider(flux_server.url),
            known=metric(FLUX_KNOWN),
            window=WINDOW,
            expected=0.0425,
            make=lambda address: flux_provider(address, timeout=1.0),
            empty=metric('from(bucket: "empty") |> range(start: -{{ interval }}) |> mean()'),
            invalid=metric("from(bucket: syntax error"),
            secret=TOKEN,
        )
