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
"""

from __future__ import annotations

import gzip
import importlib
import json
import logging
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .otlp_store import OTLPDecodeError, OTLPStore

log = logging.getLogger(__name__)

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
METRICS_PATH = "/v1/metrics"
SERIES_PATH = "/v1/modelcanary/series"
PROTOBUF_HINT = "pip install 'modelcanary[opentelemetry]' (opentelemetry-proto), or send OTLP JSON"


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


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("otlp receiver: " + format, *args)

    def _send(self, code: int, body: bytes, content_type: str = JSON) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code: int, message: str) -> None:
        # google.rpc.Status in JSON, as OTLP/HTTP answers errors
        self._send(code, json.dumps({"code": 3, "message": message}).encode())

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, b"ok", "text/plain")
            return
        if url.path != SERIES_PATH:
            self._error(404, f"no such path {url.path}; OTLP metrics go to POST {METRICS_PATH}")
            return
        params = parse_qs(url.query)
        try:
            start = float(params.get("start", ["-inf"])[0])
            end = float(params.get("end", ["inf"])[0])
        except ValueError:
            self._error(400, "start and end must be Unix timestamps in seconds")
            return
        found = self.server.store.series(params.get("name", []), start, end)
        body = json.dumps({"series": [s.to_json() for s in found]}).encode()
        self._send(200, body)

    def do_POST(self) -> None:
        if urlsplit(self.path).path != METRICS_PATH:
            self._error(404, f"OTLP metrics go to POST {METRICS_PATH}")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.server.max_body:
            self._error(413, f"body over {self.server.max_body} bytes")
            self.close_connection = True
            return
        raw = self.rfile.read(length)
        kind = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if kind not in (JSON, PROTOBUF):
            self._error(415, f"Content-Type {kind!r} is not {JSON} or {PROTOBUF}")
            return
        try:
            if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                raw = gzip.decompress(raw)
            body = json.loads(raw) if kind == JSON else protobuf_to_dict(raw)
            if not isinstance(body, dict):
                raise OTLPDecodeError("the body is not a JSON object")
            accepted, rejected, why = self.server.store.ingest(body)
        except ImportError:
            self._error(415, f"protobuf OTLP needs opentelemetry-proto: {PROTOBUF_HINT}")
            return
        except (OTLPDecodeError, ValueError, OSError, EOFError, zlib.error) as exc:
            self._error(400, f"not an OTLP metrics export request: {exc}")
            return
        except Exception as exc:  # protobuf's DecodeError and friends
            self._error(400, f"not an OTLP metrics export request: {type(exc).__name__}: {exc}")
            return
        log.debug("otlp receiver: %d points stored, %d rejected", accepted, rejected)
        if kind == PROTOBUF:
            self._send(200, _protobuf_response(rejected, why), PROTOBUF)
            return
        answer: dict[str, Any] = {}
        if rejected:
            answer["partialSuccess"] = {"rejectedDataPoints": str(rejected), "errorMessage": why}
        self._send(200, json.dumps(answer).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: OTLPStore, max_body: int) -> None:
        super().__init__(address, _Handler)
        self.store = store
        self.max_body = max_body


class OTLPReceiver:
    """An OTLP/HTTP receiver on ``host:port`` (0 = a free port) storing into ``store``."""

    def __init__(
        self,
        store: OTLPStore,
        host: str = "127.0.0.1",
        port: int = 4318,
        *,
        max_body: int = 16 * 1024 * 1024,
    ) -> None:
        self.store = store
        self._server = _Server((host, port), store, max_body)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the receiver (exporters append ``/v1/metrics``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __repr__(self) -> str:
        return f"OTLPReceiver({self.url!r})"

    def start(self) -> OTLPReceiver:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="otlp-receiver", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`close` (from another thread) or an interrupt."""
        self._server.serve_forever()

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()


__all__ = ["METRICS_PATH", "SERIES_PATH", "OTLPReceiver", "protobuf_to_dict"]
