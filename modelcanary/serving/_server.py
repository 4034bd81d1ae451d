"""``ModelServer``: one MLflow pyfunc model over HTTP on loopback, with Prometheus metrics.

Endpoints (MLflow's scoring server, plus ``/metrics``):

- ``POST /invocations``: MLflow scoring protocol, answers ``{"predictions": [...]}``;
- ``GET /ping``, ``GET /health``: 200 once the model is loaded, 503 while it loads;
- ``GET /version``: the MLflow version, as MLflow answers it;
- ``GET /metrics``: Prometheus text format 0.0.4 (see :mod:`modelcanary.serving._exposition`).

The HTTP layer is the hardened base of every modelcanary port (:mod:`modelcanary._httpd`):
HTTP/1.1 with keep-alive, one thread per connection up to a cap, bounded request sizes and
times (:data:`LIMITS`, generous enough for scoring batches); prediction runs in the
connection's thread. Chunked request bodies are accepted too (MLflow's server takes them),
within the same byte and time bounds.
"""

from __future__ import annotations

import logging
import threading
import time

from .._httpd import BackgroundServer, Limits, Service, http_url
from ..errors import SpecError, SpecIssue
from ._exposition import ServerMetrics
from ._faults import FaultInjector, Faults
from ._handler import ScoringHandler
from ._mlflow_pyfunc import Scorer
from ._model import LoadedModel, load_model
from ._protocol import Reply, error_reply

_logger = logging.getLogger("modelcanary.serving")
MAX_BODY_BYTES = 512 * 1024 * 1024
LIMITS = Limits(
    max_body=MAX_BODY_BYTES,  # a scoring batch: refused with 413 past it, before it is read
    max_header_bytes=64 << 10,
    read_timeout=60.0,  # each read, and how long an idle keep-alive connection is kept
    request_timeout=300.0,  # a whole request, body included (512 MiB at ~2 MB/s)
    max_connections=1024,  # above the local router's pool of 512 idle upstream connections
)
"""The model server's bounds (``ModelServer(limits=...)`` overrides them)."""
DRAIN_SECONDS = 2.0
"""How long ``stop()`` lets requests in flight finish before closing their connections."""


class ModelServer(Service):
    """Serve one model: ``start()`` binds, loads the model and returns once it is ready."""

    def __init__(
        self,
        model_uri: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tracking_uri: str | None = None,
        faults: Faults | None = None,
        model_name: str | None = None,
        model_version: str | None = None,
        limits: Limits = LIMITS,
    ) -> None:
        if not 0 <= port <= 65535:
            raise SpecError(SpecIssue("port", f"{port} is not a TCP port", "use 0..65535"))
        self.model_uri = model_uri
        self.host, self.requested_port = host, port
        self.tracking_uri = tracking_uri
        self.faults = faults or Faults()
        self.model_name, self.model_version = model_name, model_version
        self.injector = FaultInjector(self.faults)
        self.model: LoadedModel | None = None
        self.scorer: Scorer | None = None
        self.metrics: ServerMetrics | None = None
        self.limits = limits
        self.ready = self.draining = False
        self.busy = 0  # scoring requests being answered (stop() waits for them)
        self.idle = threading.Condition()
        self._httpd: BackgroundServer | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port (after ``bind()``/``start()``; kept after ``stop()``)."""
        if self._port is None:
            raise RuntimeError("the server is not bound yet: call start() first")
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        return http_url(self.host, self.port)

    def bind(self) -> None:
        """Open the socket and answer requests (``/ping`` says 503 until the model is loaded)."""
        if self._httpd is not None:
            return
        try:
            self._httpd = BackgroundServer(
                self.host,
                self.requested_port,
                ScoringHandler,
                app=self,
                limits=self.limits,
                logger=_logger,
                name=f"modelcanary-serve-{self.requested_port}",
            )
        except OSError as exc:
            raise SpecError(
                SpecIssue("port", f"cannot listen on {self.host}:{self.requested_port}: {exc}",
                          "use another --port, or 0 for a free one")
            ) from exc  # fmt: skip
        self._port = self._httpd.port
        self._httpd.name = f"modelcanary-serve-{self._port}"
        self._httpd.start()

    def load(self) -> LoadedModel:
        """Load the model (slow: imports mlflow and the flavor) and mark the server ready."""
        model = load_model(
            self.model_uri,
            tracking_uri=self.tracking_uri,
            name=self.model_name,
            version=self.model_version,
        )
        labels = model.labels
        self.scorer = Scorer(model.pyfunc)
        self.metrics = ServerMetrics(labels.name, labels.version, labels.uri)
        self.model = model
        self.ready = True
        return model

    def start(self) -> ModelServer:
        """Bind, load, and return when ``/ping`` answers 200 (stops again if loading fails)."""
        if self.ready:
            return self
        self.bind()
        try:
            self.load()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop accepting, close open keep-alive connections, release the port."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            self.ready = False
            return
        self.draining = True  # /ping says 503; requests in flight (or arriving on open
        httpd.shutdown()  # keep-alive connections) are still answered, for DRAIN_SECONDS
        with self.idle:
            self.idle.wait_for(lambda: self.busy == 0, timeout=DRAIN_SECONDS)
        self.ready = self.draining = False
        httpd.close()

    def invoke(self, body: bytes, content_type: str | None, started: float | None = None) -> Reply:
        """Answer one scoring request: faults, parse/predict, metrics (duration from ``started``,
        a ``time.perf_counter()`` taken when the request's headers were read)."""
        started = time.perf_counter() if started is None else started
        scorer, metrics = self.scorer, self.metrics
        if not self.ready or scorer is None or metrics is None:
            return error_reply(503, "TEMPORARILY_UNAVAILABLE", "the model is still loading")
        if self.injector.delay_seconds:
            time.sleep(self.injector.delay_seconds)
        if self.injector.should_fail():
            reply = error_reply(500, "INTERNAL_ERROR", "injected fault (fault error rate)")
        else:
            try:
                reply = scorer.score(body, content_type)
            except Exception as exc:  # not MLflow's nor the model's: still an answer, counted
                _logger.exception("cannot score a request")
                reply = error_reply(500, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
            if reply.status == 200:
                try:
                    metrics.observe_predictions(reply.predictions)
                except Exception:  # metrics must never fail a prediction
                    _logger.exception("cannot observe predictions")
        metrics.observe_request(reply.status, time.perf_counter() - started)
        return reply
