"""An OTLP/HTTP metrics receiver feeding an :class:`OTLPStore` (stdlib HTTP server, a thread).

- ``POST /v1/metrics``: an ``ExportMetricsServiceRequest`` as ``application/json`` (the OTLP
  JSON encoding) or ``application/x-protobuf`` (needs ``opentelemetry-proto``, the
  ``opentelemetry`` extra; it is converted to the same dict), optionally gzip-encoded. The
  answer is an ``ExportMetricsServiceResponse`` in the request's encoding, with
  ``partialSuccess`` when points were rejected; 400 for a body that is not OTLP, 415 for
  another content type, 413 above ``max_body`` bytes (as the OTLP/HTTP specification says).
- ``GET /v1/modelcanary/series?name=M&name=N&start=S&end=E``: the stored series named M, N
  restricted to what the window ``(S, E]`` needs, as JSON (read by the provider with an
  ``otlp+http://`` address, see :mod:`.opentelemetry`).
- ``GET /healthz``: ``ok``.

It runs on the hardened server base (``modelcanary._httpd``): a body needs a valid
``Content-Length`` (411/400, 413 above ``max_body``, never read), a gzip body may expand to
``max_body`` bytes at most (413), reads time out, connections are capped (503), a cross-site
``Origin`` is 403, and bound to loopback only loopback ``Host`` names (and IP literals) are
served, against DNS rebinding (``allow_hosts`` adds names). Nothing is authenticated: expose it
only where model servers, and nobody else, can reach it.
"""

from __future__ import annotations

import importlib
import json
import logging
import zlib
from collections.abc import Iterable
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from .._httpd import (
    BackgroundServer,
    Handler,
    HostPolicy,
    HTTPProblem,
    Limits,
    clip,
    is_loopback,
    loads_json,
)
from ._otlp_decode import OTLPDecodeError
from ._otlp_store import OTLPStore

log = logging.getLogger(__name__)

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
METRICS_PATH = "/v1/metrics"
SERIES_PATH = "/v1/modelcanary/series"
PROTOBUF_HINT = "pip install 'modelcanary[opentelemetry]' (opentelemetry-proto), or send OTLP JSON"
MAX_BODY = 16 * 1024 * 1024
LIMITS = Limits(max_body=MAX_BODY, read_timeout=10.0, request_timeout=60.0, max_connections=64)
"""Body, time and connection bounds (exporters keep connections open: a larger cap)."""


def protobuf_to_dict(body: bytes) -> dict[str, Any]:
    """A protobuf ExportMetricsServiceRequest as its OTLP JSON dict (needs opentelemetry-proto)."""
    json_format = importlib.import_module("google.protobuf.json_format")
    request = _messages().ExportMetricsServiceRequest()
    request.ParseFromString(body)
    result: dict[str, Any] = json_format.MessageToDict(request, use_integers_for_enums=True)
    return result


def _messages() -> Any:
    """The OTLP metrics service protobuf module (ImportError without opentelemetry-proto)."""
    return importlib.import_module("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2")


def _protobuf_response(rejected: int, message: str) -> bytes:
    response = _messages().ExportMetricsServiceResponse()
    if rejected:
        response.partial_success.rejected_data_points = rejected
        response.partial_success.error_message = message
    data: bytes = response.SerializeToString()
    return data


def gunzip(raw: bytes, limit: int) -> bytes:
    """Decompress a gzip body (all members) to at most ``limit`` bytes: 413 beyond, so a small
    compressed body cannot expand without bound; ``ValueError`` for a broken stream."""
    out: list[bytes] = []
    size = 0
    while raw:
        decoder = zlib.decompressobj(wbits=31)
        try:
            chunk = decoder.decompress(raw, limit - size + 1)
        except zlib.error as exc:
            raise ValueError(f"bad gzip body: {exc}") from None
        size += len(chunk)
        if size > limit or decoder.unconsumed_tail:
            raise HTTPProblem(413, f"gzip body expands beyond {limit} bytes")
        if not decoder.eof:
            raise ValueError("truncated gzip body")
        out.append(chunk)
        raw = decoder.unused_data
    return b"".join(out)


class _Handler(Handler):
    server_version = "modelcanary-otlp"

    def _send(self, code: int, body: bytes, content_type: str = JSON) -> None:
        self.reply(code, body, content_type)

    def error_body(self, status: int, message: str) -> tuple[bytes, str]:
        # google.rpc.Status in JSON, as OTLP/HTTP answers errors
        return json.dumps({"code": 3, "message": message}).encode(), JSON

    def do_GET(self) -> None:
        receiver = cast(OTLPReceiver, self.server.app)
        self.check_origin(receiver.hosts)
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, b"ok", "text/plain")
            return
        if url.path != SERIES_PATH:
            raise HTTPProblem(
                404, f"no such path {clip(url.path)}; OTLP metrics go to POST {METRICS_PATH}"
            )
        params = parse_qs(url.query)
        try:
            start = float(params.get("start", ["-inf"])[0])
            end = float(params.get("end", ["inf"])[0])
        except ValueError:
            raise HTTPProblem(400, "start and end must be Unix timestamps in seconds") from None
        found = receiver.store.series(params.get("name", []), start, end)
        body = json.dumps({"series": [s.to_json() for s in found]}).encode()
        self._send(200, body)

    def do_POST(self) -> None:
        receiver = cast(OTLPReceiver, self.server.app)
        self.check_origin(receiver.hosts)
        if urlsplit(self.path).path != METRICS_PATH:
            raise HTTPProblem(404, f"OTLP metrics go to POST {METRICS_PATH}")
        kind = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if kind not in (JSON, PROTOBUF):
            raise HTTPProblem(415, f"Content-Type {clip(kind, 40)} is not {JSON} or {PROTOBUF}")
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("gzip", "identity"):
            raise HTTPProblem(415, f"Content-Encoding {clip(encoding, 20)} is not gzip")
        raw = self.read_body(required=True)
        try:
            if encoding == "gzip":
                raw = gunzip(raw, self.server.limits.max_body)
            body = loads_json(raw) if kind == JSON else protobuf_to_dict(raw)
            if not isinstance(body, dict):
                raise OTLPDecodeError("the body is not a JSON object")
            accepted, rejected, why = receiver.store.ingest(body)
        except ImportError:
            raise HTTPProblem(
                415, f"protobuf OTLP needs opentelemetry-proto: {PROTOBUF_HINT}"
            ) from None
        except HTTPProblem:
            raise
        except (OTLPDecodeError, ValueError, RecursionError) as exc:
            raise HTTPProblem(400, f"not an OTLP metrics export request: {exc}") from None
        except Exception as exc:  # protobuf's DecodeError and friends
            raise HTTPProblem(
                400, f"not an OTLP metrics export request: {type(exc).__name__}: {exc}"
            ) from None
        log.debug("otlp receiver: %d points stored, %d rejected", accepted, rejected)
        if kind == PROTOBUF:
            self._send(200, _protobuf_response(rejected, why), PROTOBUF)
            return
        answer: dict[str, Any] = {}
        if rejected:
            answer["partialSuccess"] = {"rejectedDataPoints": str(rejected), "errorMessage": why}
        self._send(200, json.dumps(answer).encode())


class OTLPReceiver:
    """An OTLP/HTTP receiver on ``host:port`` (0 = a free port) storing into ``store``.

    ``allow_hosts``: ``Host`` names served besides loopback names and IP literals when bound
    to loopback (off loopback no ``Host`` is refused unless names are given; ``*`` any).
    """

    def __init__(
        self,
        store: OTLPStore,
        host: str = "127.0.0.1",
        port: int = 4318,
        *,
        max_body: int = MAX_BODY,
        allow_hosts: Iterable[str] = (),
        limits: Limits = LIMITS,
    ) -> None:
        self.store = store
        names = list(allow_hosts)
        checked = is_loopback(host) or bool(names)
        self.hosts = HostPolicy.build(host, names) if checked else None
        limits = Limits(
            max_body=max_body,
            max_header_bytes=limits.max_header_bytes,
            read_timeout=limits.read_timeout,
            request_timeout=limits.request_timeout,
            max_connections=limits.max_connections,
        )
        self._http = BackgroundServer(
            host, port, _Handler, app=self, limits=limits, logger=log, name="otlp-receiver"
        )

    @property
    def url(self) -> str:
        """``http://host:port`` of the receiver (exporters append ``/v1/metrics``)."""
        return self._http.url

    def __repr__(self) -> str:
        return f"OTLPReceiver({self.url!r})"

    def start(self) -> OTLPReceiver:
        """Serve in a daemon thread."""
        self._http.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`close` (from another thread) or an interrupt."""
        self._http.server.serve_forever()

    def close(self) -> None:
        """Stop serving and release the port."""
        self._http.close()

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()


__all__ = [
    "LIMITS",
    "MAX_BODY",
    "METRICS_PATH",
    "SERIES_PATH",
    "OTLPReceiver",
    "gunzip",
    "protobuf_to_dict",
]
