"""The local router's shared state: routes, backends, metrics, recording and mirroring.

One ``ProxyState`` per router, used on the router's event loop only (except ``table``,
which other threads replace whole). Recording (prediction parsing, metrics, the recorder)
runs after the client's answer is written, so it never delays it. Mirror copies run beside
the primary call under a concurrency bound and a bounded queue; when both are full, or the
copy would take the router's buffered request bytes past ``RouterLimits.max_buffered``, the
copy is dropped (reason ``saturated``: the challenger cannot keep up); while the challenger's
connect breaker is open it is dropped before it is even built (reason ``breaker``), so a dead
challenger costs the champion's path one comparison per request. Every copy the mirror weight
asks for is counted as eligible and every drop in ``modelcanary_router_mirror_dropped_total``;
both go to the recorder every timer tick (``count_mirrors``), which gives a window's mirror
coverage. Once the mirror budget (``MirrorSpend``: prompts, tokens, cost) is spent, every
copy is dropped, reason ``budget``. Chat/completions calls, served and mirrored, also give
one ``LLMExchange`` each to the LLM log (``record_llm``); a mirrored one's tokens and cost
are added to the spend.
"""

from __future__ import annotations

import collections
import json
import secrets
import time
from collections.abc import Callable
from typing import Literal, Protocol

from ...analysis._llm_records import LLMExchange
from .._llm_parse import LLMRequest, LLMTracker
from .body import dechunk, error_body
from .budget import MirrorSpend
from .exposition import RouterMetrics, first_prediction
from .http11 import CHUNKED, HttpError, ResponseHead
from .limits import ConnectionTable, RouterLimits
from .pool import Upstream
from .reading import begin_stream, read_stream, record_whole
from .table import CHALLENGER, VERSIONS, RouteTable, new_draw
from .upstream import FAILED, SHED, StreamSource

RESERVED = b"/_modelcanary/"
MIRROR_LINE = b"\r\nx-modelcanary-mirrored: true"
VERSION_LINES = (b"\r\nx-modelcanary-version: champion", b"\r\nx-modelcanary-version: challenger")
CLOSE_LINE = b"\r\nconnection: close"
PAUSE_AT = 256 * 1024
"""Pipelined bytes buffered while a request is in flight before reading pauses."""
_Mirror = tuple[bytes, bytes, bool, bytes, LLMRequest | None]
"""A queued mirror copy: request bytes, request id, HEAD, unit key, LLM request (or None)."""


class RecordSink(Protocol):
    """Where served and mirrored calls are recorded (``modelcanary.local._recorder.Recorder``)."""

    def record(
        self,
        timestamp: float,
        version: Literal["champion", "challenger"],
        latency_ms: float,
        status: int,
        prediction: float | str | None = None,
        request_id: str | None = None,
        mirrored: bool = False,
        unit: str | None = None,
    ) -> None:
        """Add one request (``unit``: its user or session key, the affinity cookie value)."""
        ...

    def count_mirrors(self, timestamp: float, eligible: int, dropped: int) -> None:
        """Add mirror copies asked for by the mirror weight and dropped unsent."""
        ...


class LLMSink(Protocol):
    """Where LLM exchanges go (``modelcanary.local._llm_log.LLMLog``)."""

    def add(self, exchange: LLMExchange) -> None:
        """Keep one exchange."""
        ...


class ProxyState:
    """Everything the connections of one router share (used on the router's loop only)."""

    def __init__(
        self,
        rollout: str,
        table: RouteTable,
        backends: tuple[Upstream, Upstream],
        recorder: RecordSink,
        *,
        timeout: float,
        mirror_timeout: float,
        mirror_concurrency: int,
        mirror_queue: int,
        limits: RouterLimits,
        llm_log: LLMSink | None = None,
        spend: MirrorSpend | None = None,
        openai: bool = False,
    ) -> None:
        self.extra_metrics: list[Callable[[], str]] = []
        self.rollout = rollout
        self.table = table
        """Swapped whole by ``set_routes`` (any thread); read once per request."""
        self.backends = backends
        self.draining: list[Upstream] = []
        self.metrics = RouterMetrics(rollout)
        self.recorder = recorder
        self.timeout, self.mirror_timeout = timeout, mirror_timeout
        self.mirror_concurrency, self.mirror_queue_size = mirror_concurrency, mirror_queue
        self.mirror_inflight = 0
        self.mirror_queue: collections.deque[_Mirror] = collections.deque()
        self.mirror_counts = [0, 0]
        """Mirror copies eligible and dropped since the recorder was last told."""
        self.llm_log = llm_log
        """Where chat/completions exchanges are recorded (None: not recorded)."""
        self.openai = openai
        """Every POST is an OpenAI completion call (``protocol: openai``), whatever its path."""
        self.spend = spend or MirrorSpend()
        """Mirror spend so far, against the mirror budget."""
        self.limits = limits
        self.clients = ConnectionTable(limits)
        """Client connections by state: timeouts, the connection cap, shutdown."""
        self.buffered = 0
        """Request bytes held: unfinished and in-flight requests, queued and running mirrors."""
        self.draw: Callable[[], float] = new_draw()
        self.stopping = False
        """Set at shutdown: calls cut short by the stop are not recorded as errors."""
        self._rid_prefix = secrets.token_hex(6).encode() + b"-"
        self._rid_next = 0

    def reset(self) -> None:
        """Forget connections and calls of a previous run (the router restarts)."""
        self.clients.clear()
        self.mirror_queue.clear()
        self.mirror_inflight = 0
        self.mirror_counts = [0, 0]
        self.buffered = 0

    def new_request_id(self) -> bytes:
        """A request id unique to this router run."""
        self._rid_next += 1
        return b"%s%d" % (self._rid_prefix, self._rid_next)

    def observe(
        self,
        version: int,
        mirrored: bool,
        status: int,
        seconds: float,
        body: bytes,
        chunked: bool,
        request_id: bytes,
        unit: bytes = b"",
    ) -> None:
        """Record one upstream call in the metrics and the recorder (``unit``: the request's
        affinity cookie value, its user's key; b"" for none)."""
        if self.stopping:
            return
        prediction = None
        if body and 200 <= status < 300:
            try:
                prediction = first_prediction(dechunk(body) if chunked else body)
            except HttpError:
                prediction = None
        self.metrics.observe(version, mirrored, status, seconds, prediction)
        self.recorder.record(
            time.time(),
            VERSIONS[version],  # type: ignore[arg-type]
            seconds * 1000.0,
            status,
            prediction,
            request_id.decode("latin-1"),
            mirrored,
            unit.decode("latin-1") if unit else None,
        )

    def record_llm(self, exchange: LLMExchange, request: LLMRequest) -> None:
        """Keep one LLM exchange; a mirrored one's tokens count against the mirror budget."""
        if self.stopping or self.llm_log is None:
            return
        self.llm_log.add(exchange)
        if exchange.mirrored:
            self.spend.settle(request.prompt_tokens, exchange.prompt_tokens, exchange.output_tokens)

    def want_mirror(self) -> bool:
        """Count a copy the mirror weight asked for; False (dropped, counted) when it cannot
        go: the challenger's breaker is open, or calls and queue are full."""
        if self.stopping:
            return False
        self.metrics.mirror_eligible += 1
        self.mirror_counts[0] += 1
        if self.spend.budget is not None and self.spend.exhausted(len(self.mirror_queue)):
            self.drop_mirror("budget")
            return False
        if self.backends[CHALLENGER].breaker.blocked(time.perf_counter()):
            self.drop_mirror("breaker")
            return False
        if (
            self.mirror_inflight >= self.mirror_concurrency
            and len(self.mirror_queue) >= self.mirror_queue_size
        ):
            self.drop_mirror("saturated")
            return False
        return True

    def drop_mirror(self, reason: str) -> None:
        """One eligible copy is not sent (``saturated``, ``breaker`` or ``budget``)."""
        self.metrics.drop_mirror(reason)
        self.mirror_counts[1] += 1

    def mirror(
        self,
        data: bytes,
        request_id: bytes,
        head_only: bool = False,
        unit: bytes = b"",
        llm: LLMRequest | None = None,
    ) -> None:
        """Send a copy ``want_mirror`` admitted now, later (queued) or never (dropped)."""
        size = len(data)
        if self.stopping:
            return
        if self.buffered + size > self.limits.max_buffered:
            self.drop_mirror("saturated")  # a copy never costs the primary path memory
        elif self.mirror_inflight < self.mirror_concurrency:
            self.buffered += size
            self._start_mirror(data, request_id, head_only, unit, llm)
        elif len(self.mirror_queue) < self.mirror_queue_size:
            self.buffered += size
            self.mirror_queue.append((data, request_id, head_only, unit, llm))
        else:
            self.drop_mirror("saturated")

    def _start_mirror(
        self, data: bytes, request_id: bytes, head_only: bool, unit: bytes, llm: LLMRequest | None
    ) -> None:
        now = time.perf_counter()
        challenger = self.backends[CHALLENGER]
        if challenger.breaker.blocked(now):  # opened while the copy was queued
            self.buffered -= len(data)
            self.drop_mirror("breaker")
            return
        self.mirror_inflight += 1
        self.spend.sent(llm.prompt_tokens if llm is not None else 0)
        tracker = None
        if llm is not None and self.llm_log is not None:
            rid, key = request_id.decode("latin-1"), unit.decode("latin-1") or None
            tracker = LLMTracker(llm, "challenger", True, rid, key, now)
        exchange = MirrorExchange(self, request_id, now, len(data), unit, tracker)
        # a HEAD copy's answer has no body, whatever its Content-Length says
        challenger.request(exchange, data, head_only, now + self.mirror_timeout)

    def mirror_done(self, size: int) -> None:
        """A mirror call of ``size`` bytes ended: start the next queued ones."""
        self.buffered -= size
        self.mirror_inflight -= 1
        queue = self.mirror_queue
        while queue and self.mirror_inflight < self.mirror_concurrency and not self.stopping:
            self._start_mirror(*queue.popleft())

    def expire(self) -> None:
        """Time out overdue upstream calls and clients; forget retired pools once drained."""
        now = time.perf_counter()
        counts = self.mirror_counts
        if counts[0] or counts[1]:
            self.recorder.count_mirrors(time.time(), counts[0], counts[1])
            self.mirror_counts = [0, 0]
        self.clients.expire(now)
        for upstream in self.backends:
            upstream.expire(now)
        if self.draining:
            for upstream in self.draining:
                upstream.expire(now)
            self.draining = [u for u in self.draining if not u.drained]

    def swap_backends(self, backends: tuple[Upstream, Upstream]) -> None:
        """Route new requests to ``backends``; in-flight ones finish on the old pools."""
        old = self.backends
        self.backends = backends
        for upstream in old:
            if upstream not in backends:
                upstream.retire()
                self.draining.append(upstream)

    def breakers_open(self) -> tuple[bool, bool]:
        """Whether the connect breaker of the champion and of the challenger is open."""
        champion, challenger = self.backends
        return champion.breaker.is_open, challenger.breaker.is_open

    def reserved(self, target: bytes) -> tuple[int, bytes, bytes]:
        """Status, content type and body of a ``/_modelcanary/...`` endpoint."""
        path = target.split(b"?", 1)[0]
        table = self.table
        if path == b"/_modelcanary/metrics":
            text = self.metrics.render(table.routes, self.breakers_open())
            for source in self.extra_metrics:  # e.g. the engine's self-metrics
                text += source().encode()
            return 200, b"text/plain; version=0.0.4; charset=utf-8", text
        if path == b"/_modelcanary/routes":
            backends = {VERSIONS[i]: u.url for i, u in enumerate(self.backends)}
            return 200, b"application/json", table.to_json(backends)
        if path == b"/_modelcanary/health":
            return (
                200,
                b"application/json",
                json.dumps({"status": "ok", "rollout": self.rollout}).encode(),
            )
        return 404, b"application/json", error_body(404, "unknown router endpoint")


class MirrorExchange:
    """One mirror call: its answer is recorded, never sent to a client."""

    __slots__ = ("llm", "preview", "request_id", "size", "started", "state", "status", "unit")

    def __init__(
        self,
        state: ProxyState,
        request_id: bytes,
        started: float,
        size: int,
        unit: bytes = b"",
        llm: LLMTracker | None = None,
    ) -> None:
        self.state, self.request_id, self.started, self.size = state, request_id, started, size
        self.unit, self.llm = unit, llm
        self.status = 0
        self.preview: bytearray | None = None

    def on_response(self, response: ResponseHead, body: bytes) -> None:
        """Record the mirrored answer."""
        now = time.perf_counter()
        state = self.state
        state.mirror_done(self.size)
        chunked = response.framing == CHUNKED
        state.observe(
            CHALLENGER, True, response.status, now - self.started, body, chunked,
            self.request_id, self.unit,
        )  # fmt: skip
        record_whole(state, self.llm, response, body, now)

    def on_head(self, response: ResponseHead, source: StreamSource) -> None:
        """A streamed answer starts (read as it passes, bounded, and dropped)."""
        self.status = response.status
        begin_stream(self, response)

    def on_body(self, data: bytes) -> None:
        """Bytes of a streamed answer (read after the served streams' pieces are forwarded)."""
        read_stream(self, data)

    def on_end(self) -> None:
        """The streamed answer ended: record it."""
        now = time.perf_counter()
        state = self.state
        state.mirror_done(self.size)
        body = bytes(self.preview) if self.preview is not None else b""
        state.observe(
            CHALLENGER, True, self.status, now - self.started, body, False, self.request_id,
            self.unit,
        )  # fmt: skip
        if self.llm is not None:
            state.record_llm(self.llm.end(now), self.llm.request)

    def on_failure(self, status: int, message: str, cause: int = FAILED) -> None:
        """Record the mirror's failure (the client never sees it); a copy the breaker refused
        was never sent: it is counted as dropped, not recorded."""
        now = time.perf_counter()
        state = self.state
        state.mirror_done(self.size)
        llm = self.llm
        if cause == SHED:
            state.spend.unsent(llm.request.prompt_tokens if llm is not None else 0)
            state.drop_mirror("breaker")
            return
        state.observe(
            CHALLENGER, True, status, now - self.started, b"", False, self.request_id, self.unit
        )
        if llm is not None:
            state.record_llm(llm.failed(status, now), llm.request)
