"""Local HTTP servers reproducing the documented request/response shapes of Datadog, New Relic
NerdGraph, Google Cloud Monitoring (PromQL + MQL + the metadata server) and Kayenta.

Each fake checks the credentials the vendor checks (and answers the vendor's error shape when
they are wrong), records every request (method, path, query, headers, JSON body) for the tests
to assert the exact request a provider sends, and answers registered queries with responses
shaped like the samples in the vendors' API documentation (URLs on each class).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-cased header names."""
    body: Any

    def param(self, name: str) -> str:
        """The single value of query parameter ``name``."""
        values = self.query[name]
        assert len(values) == 1, values
        return values[0]


@dataclass
class Reply:
    """What the server answers: a status and a JSON body (or raw text)."""

    status: int = 200
    body: Any = None
    raw: str | None = None


class VendorServer:
    """A threaded HTTP server on 127.0.0.1 answering through :meth:`handle`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.forced: dict[str, Reply] = {}
        """Replies forced for a request path (errors, odd bodies), checked first."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                request = Recorded(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                owner.requests.append(request)
                reply = owner.forced.get(parts.path) or owner.handle(request)
                data = (
                    reply.raw.encode() if reply.raw is not None else json.dumps(reply.body).encode()
                )
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    def handle(self, request: Recorded) -> Reply:  # pragma: no cover - overridden
        return Reply(404, {"errors": ["not found"]})

    def last(self, path: str | None = None) -> Recorded:
        """The last request (to ``path``)."""
        matching = [r for r in self.requests if path is None or r.path == path]
        assert matching, f"no request to {path}"
        return matching[-1]

    def reset(self) -> None:
        """Forget recorded requests and forced replies."""
        self.requests.clear()
        self.forced.clear()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2)


def balanced(text: str) -> bool:
    """True when (), {} and [] are balanced (the fakes' stand-in for a parser)."""
    pairs, stack = {")": "(", "}": "{", "]": "["}, []
    for char in text:
        if char in "({[":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


# -- Datadog --------------------------------------------------------------------------------

DATADOG_QUERY_RESPONSE: dict[str, Any] = {
    "error": None,
    "from_date": 1710000000000,
    "group_by": [],
    "message": "",
    "query": "avg:system.cpu.user{*}",
    "res_type": "time_series",
    "series": [
        {
            "aggr": "avg",
            "display_name": "system.cpu.user",
            "end": 1710000119000,
            "expression": "avg:system.cpu.user{*}",
            "interval": 60,
            "length": 2,
            "metric": "system.cpu.user",
            "pointlist": [[1710000000000.0, 12.3], [1710000060000.0, 11.8]],
            "query_index": 0,
            "scope": "*",
            "start": 1710000000000,
            "tag_set": [],
            "unit": [
                {
                    "family": "percentage",
                    "name": "percent",
                    "plural": "percent",
                    "scale_factor": 1.0,
                    "short_name": "%",
                },
                None,
            ],
        }
    ],
    "status": "ok",
    "to_date": 1710000120000,
}
"""A ``GET /api/v1/query`` answer in the documented response model (fields, types, units)
of https://docs.datadoghq.com/api/latest/metrics/query-timeseries-points/."""


class FakeDatadog(VendorServer):
    """``/api/v1/query`` and ``/api/v1/validate`` as documented at
    https://docs.datadoghq.com/api/latest/metrics/query-timeseries-points/ and
    https://docs.datadoghq.com/api/latest/authentication/validate-api-key/ (403
    ``{"errors": ["Forbidden"]}`` for bad keys, 400 ``{"errors": [...]}`` for bad queries)."""

    def __init__(self, api_key: str, application_key: str) -> None:
        self.api_key, self.application_key = api_key, application_key
        self.series: dict[str, list[dict[str, Any]]] = {}
        """Query text -> the ``series`` of its answer (unknown queries: no series)."""
        super().__init__()

    def handle(self, request: Recorded) -> Reply:
        if request.headers.get("dd-api-key") != self.api_key:
            return Reply(403, {"errors": ["Forbidden"]})
        if request.path == "/api/v1/validate":
            return Reply(200, {"valid": True})
        if request.path != "/api/v1/query":
            return Reply(404, {"errors": ["Not found"]})
        if request.headers.get("dd-application-key") != self.application_key:
            return Reply(403, {"errors": ["Forbidden"]})
        missing = [p for p in ("from", "to", "query") if p not in request.query]
        if missing:
            return Reply(400, {"errors": [f"Missing required parameter: {missing[0]}"]})
        query = request.param("query")
        if not balanced(query):
            return Reply(400, {"errors": [f"Error parsing query: \n unable to parse {query}"]})
        body = copy.deepcopy(DATADOG_QUERY_RESPONSE)
        body["query"] = query
        body["from_date"] = int(request.param("from")) * 1000
        body["to_date"] = int(request.param("to")) * 1000
        body["series"] = copy.deepcopy(self.series.get(query, []))
        return Reply(200, body)


def datadog_series(points: list[list[float | None]], scope: str = "*") -> dict[str, Any]:
    """One series of the documented shape with ``pointlist`` = ``points`` ([ms, value])."""
    series = copy.deepcopy(DATADOG_QUERY_RESPONSE["series"][0])
    series["pointlist"] = points
    series["length"] = len(points)
    series["scope"] = scope
    return dict(series)


# -- New Relic NerdGraph --------------------------------------------------------------------

NRQL_RESPONSE: dict[str, Any] = {
    "data": {"actor": {"account": {"nrql": {"results": [{"count": 1000}]}}}}
}
"""The sample answer of https://docs.newrelic.com/docs/apis/nerdgraph/examples/nerdgraph-nrql-tutorial/
(``SELECT count(*) FROM Transaction SINCE 1 HOUR AGO``)."""


class FakeNerdGraph(VendorServer):
    """``POST /graphql`` answering NRQL as in the NerdGraph NRQL tutorial; GraphQL errors
    carry ``extensions.errorClass`` / ``error_code`` as newrelic-client-go reads them."""

    def __init__(self, api_key: str, account_id: int) -> None:
        self.api_key, self.account_id = api_key, account_id
        self.results: dict[str, list[dict[str, Any]]] = {}
        """NRQL (without the SINCE clause the provider appends) -> results rows."""
        super().__init__()

    def handle(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path != "/graphql":
            return Reply(404, {"errors": [{"message": "Not Found"}]})
        if request.headers.get("api-key") != self.api_key:
            return Reply(
                200,
                {
                    "errors": [
                        {
                            "extensions": {"error_code": "BAD_API_KEY"},
                            "message": "Invalid API key",
                        }
                    ]
                },
            )
        body = request.body if isinstance(request.body, dict) else {}
        query = str(body.get("query", ""))
        if "user { name }" in query:
            return Reply(200, {"data": {"actor": {"user": {"name": "Ada"}}}})
        variables = body.get("variables") or {}
        if variables.get("accountId") != self.account_id:
            return Reply(
                200,
                {
                    "data": {"actor": {"account": None}},
                    "errors": [
                        {
                            "message": "Account not found",
                            "path": ["actor", "account"],
                            "extensions": {"errorClass": "NOT_FOUND"},
                        }
                    ],
                },
            )
        nrql = str(variables.get("nrql", ""))
        if not nrql.upper().startswith(("SELECT ", "FROM ")):
            word = nrql.split(" ", 1)[0]
            return Reply(
                200,
                {
                    "data": {"actor": {"account": {"nrql": None}}},
                    "errors": [
                        {
                            "locations": [{"column": 7, "line": 4}],
                            "message": f"NRQL Syntax Error: Error at line 1 position 1, "
                            f"unexpected '{word}'",
                            "path": ["actor", "account", "nrql"],
                            "extensions": {"errorClass": "INVALID_INPUT"},
                        }
                    ],
                },
            )
        key = nrql.split(" SINCE ", 1)[0]
        rows = self.results.get(key, [{"latest.value": None}])
        return Reply(200, {"data": {"actor": {"account": {"nrql": {"results": rows}}}}})


# -- Google Cloud Monitoring ----------------------------------------------------------------

MQL_RESPONSE: dict[str, Any] = {
    "timeSeriesDescriptor": {
        "labelDescriptors": [
            {"key": "resource.project_id"},
            {"key": "resource.zone"},
            {"key": "resource.instance_id"},
            {"key": "metric.instance_name"},
        ],
        "pointDescriptors": [
            {"key": "value.utilization", "valueType": "DOUBLE", "metricKind": "GAUGE"}
        ],
    },
    "timeSeriesData": [
        {
            "labelValues": [
                {"stringValue": "632526624816"},
                {"stringValue": "us-central1-a"},
                {"stringValue": "5106847938297466291"},
                {"stringValue": "gke-kuber-cluster-default-pool-6fe301a0-n8r9"},
            ],
            "pointData": [
                {
                    "values": [{"doubleValue": 0.063896992710942874}],
                    "timeInterval": {
                        "startTime": "1969-12-31T23:59:59.999999Z",
                        "endTime": "2020-03-02T20:56:00Z",
                    },
                },
                {
                    "values": [{"doubleValue": 0.06375004525226329}],
                    "timeInterval": {
                        "startTime": "1969-12-31T23:59:59.999999Z",
                        "endTime": "2020-03-02T20:55:00Z",
                    },
                },
            ],
        }
    ],
}
"""A ``timeSeries:query`` answer shaped as the sample of
https://cloud.google.com/monitoring/mql/qn-from-api (newest point first)."""


class FakeGoogleMonitoring(VendorServer):
    """Cloud Monitoring's PromQL API
    (https://cloud.google.com/stackdriver/docs/managed-prometheus/query-api-ui), MQL
    ``projects.timeSeries.query``
    (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/query), and
    the metadata server's token endpoint
    (https://cloud.google.com/compute/docs/access/authenticate-workloads#applications)."""

    def __init__(self, project: str, token: str) -> None:
        self.project, self.token = project, token
        self.vectors: dict[str, float] = {"vector(1)": 1.0}
        """PromQL -> the value of its one-series answer (unknown: empty vector)."""
        self.rows: dict[str, list[tuple[dict[str, str], float]]] = {}
        """PromQL -> labelled rows of its answer (several series)."""
        self.mql: dict[str, dict[str, Any]] = {}
        """MQL -> answer body (unknown: descriptor only, no timeSeriesData)."""
        self.token_lifetime = 3599
        super().__init__()

    @property
    def prometheus_root(self) -> str:
        """The project's PromQL API root."""
        return f"/v1/projects/{self.project}/location/global/prometheus"

    def handle(self, request: Recorded) -> Reply:
        if request.path == "/computeMetadata/v1/instance/service-accounts/default/token":
            if request.headers.get("metadata-flavor") != "Google":
                return Reply(403, raw="Missing Metadata-Flavor:Google header.")
            return Reply(
                200,
                {
                    "access_token": self.token,
                    "expires_in": self.token_lifetime,
                    "token_type": "Bearer",
                },
            )
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(
                401,
                {
                    "error": {
                        "code": 401,
                        "message": "Request had invalid authentication credentials.",
                        "status": "UNAUTHENTICATED",
                    }
                },
            )
        if request.path == f"{self.prometheus_root}/api/v1/query":
            return self._promql(request.param("query"), float(request.param("time")))
        if request.path == f"{self.prometheus_root}/api/v1/query_range":
            return Reply(200, {"status": "success", "data": {"resultType": "matrix", "result": []}})
        if request.path == f"/v3/projects/{self.project}/timeSeries:query":
            return self._mql(str((request.body or {}).get("query", "")))
        return Reply(
            404,
            {
                "error": {
                    "code": 404,
                    "message": "Requested entity was not found.",
                    "status": "NOT_FOUND",
                }
            },
        )

    def _promql(self, query: str, at: float) -> Reply:
        if not balanced(query):
            return Reply(
                400,
                {
                    "status": "error",
                    "errorType": "bad_data",
                    "error": f'invalid parameter "query": 1:{len(query)}: parse error: '
                    "unclosed left parenthesis",
                },
            )
        result = []
        if query in self.vectors:
            result = [{"metric": {}, "value": [at, repr(self.vectors[query])]}]
        for labels, value in self.rows.get(query, []):
            result.append({"metric": labels, "value": [at, repr(value)]})
        return Reply(200, {"status": "success", "data": {"resultType": "vector", "result": result}})

    def _mql(self, query: str) -> Reply:
        if not balanced(query) or "||" in query:
            return Reply(
                400,
                {
                    "error": {
                        "code": 400,
                        "message": "Line 1, Col 1: Syntax error in query.",
                        "status": "INVALID_ARGUMENT",
                    }
                },
            )
        if query in self.mql:
            return Reply(200, copy.deepcopy(self.mql[query]))
        return Reply(200, {"timeSeriesDescriptor": MQL_RESPONSE["timeSeriesDescriptor"]})


# -- Kayenta --------------------------------------------------------------------------------


def kayenta_status(
    execution_id: str, score: float, classification: str = "Pass", nodata: bool = False
) -> dict[str, Any]:
    """A finished ``GET /canary/<id>`` answer (``CanaryExecutionStatusResponse`` with
    ``result.judgeResult.score``, as Orca's KayentaService reads it)."""
    metric_class = "Nodata" if nodata else classification
    return {
        "application": "modelcanary",
        "parentPipelineExecutionId": "fraud-1700000000",
        "pipelineId": execution_id,
        "stageStatus": {
            "setupCanary": "succeeded",
            "fetchControl0": "succeeded",
            "fetchExperiment0": "succeeded",
            "mixMetrics": "succeeded",
            "judge": "succeeded",
        },
        "complete": True,
        "status": "succeeded",
        "result": {
            "judgeResult": {
                "judgeName": "NetflixACAJudge-v1.0",
                "results": [
                    {
                        "name": "error-rate",
                        "id": "0",
                        "classification": metric_class,
                        "groups": ["requests"],
                        "experimentMetadata": {"stats": {"count": 10, "mean": 0.01}},
                        "controlMetadata": {"stats": {"count": 10, "mean": 0.01}},
                    }
                ],
                "groupScores": [
                    {
                        "name": "requests",
                        "score": score,
                        "classification": "",
                        "classificationReason": "",
                    }
                ],
                "score": {
                    "score": score,
                    "classification": classification,
                    "classificationReason": "",
                },
            },
            "canaryDuration": "PT1M",
        },
        "buildTimeMillis": 1700000000000,
        "buildTimeIso": "2023-11-14T22:13:20Z",
        "startTimeMillis": 1700000000100,
        "startTimeIso": "2023-11-14T22:13:20.100Z",
        "endTimeMillis": 1700000004000,
        "endTimeIso": "2023-11-14T22:13:24Z",
        "storageAccountName": "in-memory-store",
        "configurationAccountName": "in-memory-store",
    }


@dataclass
class KayentaConfig:
    """A canary config the fake knows, and how its executions end."""

    score: float = 100.0
    classification: str = "Pass"
    polls_running: int = 1
    """GET answers saying ``running`` before the result."""
    outcome: str = "succeeded"
    """succeeded, terminal (with an exception) or nodata."""


@dataclass
class _Run:
    config: KayentaConfig
    polls: int = 0


class FakeKayenta(VendorServer):
    """Kayenta's ``/canary`` endpoints (CanaryController): ``POST /canary/<configId>`` and
    ``POST /canary`` (ad hoc) answer ``{"canaryExecutionId": ...}``, ``GET /canary/<id>``
    the execution status, ``GET /health`` Spring's ``{"status": "UP"}``."""

    def __init__(self) -> None:
        self.configs: dict[str, KayentaConfig] = {}
        self.runs: dict[str, _Run] = {}
        self._next = 0
        self.lock = threading.Lock()
        super().__init__()

    def handle(self, request: Recorded) -> Reply:
        if request.path == "/health":
            return Reply(200, {"status": "UP"})
        if request.method == "POST" and request.path.startswith("/canary"):
            return self._start(request)
        if request.method == "GET" and request.path.startswith("/canary/"):
            return self._status(request.path.removeprefix("/canary/"))
        return Reply(404, {"error": "Not Found", "status": 404})

    def _start(self, request: Recorded) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if request.path == "/canary":
            if "canaryConfig" not in body or "executionRequest" not in body:
                return Reply(
                    400, _spring_error(400, "canaryConfig must be provided for ad-hoc requests")
                )
            config = KayentaConfig(score=float(body["canaryConfig"].get("score", 100.0)))
            scopes = body["executionRequest"].get("scopes")
        else:
            config_id = request.path.removeprefix("/canary/")
            if config_id not in self.configs:
                return Reply(
                    404,
                    _spring_error(404, f"No canary config with id {config_id} was found."),
                )
            config = self.configs[config_id]
            scopes = body.get("scopes")
        if not scopes:
            return Reply(
                400,
                _spring_error(
                    400,
                    "Canary metrics require scopes, but no scopes were provided in the "
                    "execution request.",
                ),
            )
        with self.lock:
            self._next += 1
            execution_id = f"01HEXEC{self._next:04d}"
            self.runs[execution_id] = _Run(config)
        return Reply(200, {"canaryExecutionId": execution_id})

    def _status(self, execution_id: str) -> Reply:
        run = self.runs.get(execution_id)
        if run is None:
            return Reply(404, _spring_error(404, f"Unable to locate execution {execution_id}"))
        run.polls += 1
        if run.polls <= run.config.polls_running:
            return Reply(
                200,
                {
                    "pipelineId": execution_id,
                    "stageStatus": {"setupCanary": "succeeded", "judge": "not_started"},
                    "complete": False,
                    "status": "running",
                },
            )
        if run.config.outcome == "terminal":
            return Reply(
                200,
                {
                    "pipelineId": execution_id,
                    "stageStatus": {"fetchControl0": "terminal"},
                    "complete": True,
                    "status": "terminal",
                    "exception": {
                        "details": {"errors": ["Unable to fetch metrics: no such scope"]}
                    },
                },
            )
        return Reply(
            200,
            kayenta_status(
                execution_id,
                run.config.score,
                run.config.classification,
                nodata=run.config.outcome == "nodata",
            ),
        )


def _spring_error(status: int, message: str) -> dict[str, Any]:
    """Spring Boot's error body (what Kayenta's controllers answer on exceptions)."""
    return {
        "timestamp": int(time.time() * 1000),
        "status": status,
        "error": "Bad Request" if status == 400 else "Not Found",
        "message": message,
    }
