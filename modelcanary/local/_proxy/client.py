"""Client side of the local router: one asyncio Protocol per client connection.

Requests are parsed as bytes arrive (``Content-Length`` or chunked bodies, de-chunked before
forwarding), routed with the current ``RouteTable`` and forwarded on a pooled upstream
connection; the answer is written and recorded by the connection's ``Answering`` half
(``answer.py``: buffered and streamed answers, the challenger-to-champion retry). Pipelined
requests are served in order, one at a time.

Requests to ``/v1/chat/completions`` and ``/v1/completions`` (any POST when the router is
told the versions speak ``protocol: openai``) are also read by an ``LLMTracker`` as they
pass, which records one ``LLMExchange`` per call (``_llm_parse``). The connection
object itself is the primary call's ``Exchange``: no per-request callback objects.

Every connection is bounded by ``RouterLimits`` (``router_limits``): head and body size,
time to send a request, time idle, its share of the router's buffered bytes; the
``ConnectionTable`` tracks its state so timeouts and the connection cap are enforced by the
router's timer without a timer per connection.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

from ...analysis._measurements import Side
from .._llm_parse import LLMTracker, is_llm_target, parse_request
from .answer import Answering
from .body import ChunkScanner, dechunk, error_body, simple_response
from .forward import MIRROR_LINE, PAUSE_AT, RESERVED, ProxyState
from .http11 import CRLF, HEAD_END, HttpError, RequestHead
from .limits import EVICTED, IDLE, LINGERING, READING
from .matching import RequestView
from .table import CHALLENGER, CHAMPION
from .upstream import StreamSource

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_RETRY = b"\r\nretry-after: 1"
_IDLE, _READING, _BUSY = 0, 1, 2
_SIDES: tuple[Side, Side] = ("champion", "challenger")


class ClientConnection(Answering, asyncio.Protocol):
    """Serves one client connection of the router: reads, routes and forwards its requests
    (the answers: ``Answering``)."""

    __slots__ = (
        "body_start",
        "busy",
        "continued",
        "held",
        "pending",
        "phase",
        "request",
        "scanner",
        "searched",
    )
    """The request side's own state (what both halves use: ``Answering.__slots__``)."""

    def __init__(self, state: ProxyState) -> None:
        self.state = state
        self.transport: asyncio.Transport | None = None
        self.pending: bytearray | None = None
        self.request: RequestHead | None = None
        self.scanner: ChunkScanner | None = None
        self.body_start = self.version = self.searched = 0
        self.phase = _IDLE
        """Which deadline the connection table applies (changed only on transitions)."""
        self.held = self.sent = 0
        """Bytes counted in ``state.buffered``; bytes of the request in flight."""
        self.started = 0.0
        self.request_id = self.cookie_lines = self.unit = b""
        """The request's unit key (the recorder keeps it): the value of the rollout's unit
        header (``analysis.unitKey.header``), else of its affinity cookie, else b""."""
        self.retry: tuple[RequestHead, bytes, int, int] | None = None
        """A challenger call's request, the bytes sent, where its head ends and its body
        length: what the champion is sent if the challenger never got it (the body is not
        copied until then)."""
        self.busy = self.closed = self.paused = self.continued = False
        self.head_only = self.close_after = False
        self.llm: LLMTracker | None = None
        """Reads the answer of a chat/completions call (None for other calls)."""
        self.source: StreamSource | None = None
        """The upstream connection of the answer being streamed (None when not streaming)."""
        self.writing = self.status = 0
        """How the streamed answer is written (``RAW``, ``CHUNKS``); its status."""
        self.preview: bytearray | None = None

    # -- asyncio callbacks -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # any loop's TCP transport
        if not self.state.clients.admit(self, time.perf_counter()):
            self.closed = True
            message = error_body(503, "router at its connection limit; retry later")
            self.transport.write(simple_response(503, message, close=True, extra=_RETRY))
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pending = None
        if self.source is not None:  # a stream paused for this client: read it to its end
            self.source.resume()
        self.state.clients.gone(self)
        self._account()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        pending = self.pending
        if not self.busy:
            state, size = self.state, len(data)
            limits = state.limits
            if (
                self.held + size > limits.free_per_connection
                and state.buffered + size > limits.max_buffered
            ):
                self._reject(503, "router buffers are full; retry later", _RETRY)
                return
        if pending is not None:
            pending += data
            if self.busy or self.paused:
                if len(pending) > PAUSE_AT and self.transport is not None:
                    self.transport.pause_reading()
            else:
                self.pending = None
                self._process(pending)
        elif self.busy or self.paused:
            self.pending = bytearray(data)
        else:
            self._process(data)
        self._account()
        self._settle()

    def pause_writing(self) -> None:
        self.paused = True
        if self.source is not None:  # a stream: stop reading it until the client catches up
            self.source.pause()

    def resume_writing(self) -> None:
        self.paused = False
        if self.source is not None:
            self.source.resume()
        self._resume()
        self._account()
        self._settle()

    def expire(self, why: int) -> None:
        """Called by the ``ConnectionTable`` when a deadline passed or at the cap."""
        if why == LINGERING or self.transport is None:
            if self.transport is not None:
                self.transport.abort()  # the client does not read its answer
        elif why == READING:
            self._reject(408, "request not received in time (read_timeout)")
        elif why == EVICTED and (self.request is not None or self.pending):
            self._reject(503, "router at its connection limit; retry later", _RETRY)
        elif why in (IDLE, EVICTED):
            self._close()

    # -- bookkeeping --------------------------------------------------------------------
    def _account(self) -> None:
        """Keep ``state.buffered`` equal to the bytes every connection holds."""
        held = self.sent + (len(self.pending) if self.pending is not None else 0)
        if held != self.held:
            self.state.buffered += held - self.held
            self.held = held

    def _settle(self) -> None:
        """Tell the connection table which deadline applies now (on a change of phase)."""
        if self.closed:
            return
        if self.busy:
            if self.phase != _BUSY:
                self.phase = _BUSY
                self.state.clients.set_busy(self)
        elif self.request is not None or self.pending:
            if self.phase != _READING:
                self.phase = _READING
                self.state.clients.set_reading(self, time.perf_counter())
        elif self.phase != _IDLE:
            self.phase = _IDLE
            self.state.clients.set_idle(self, time.perf_counter())

    def _close(self) -> None:
        """Close after what was written (aborted if the client never reads it)."""
        was_closed, self.closed = self.closed, True
        self.pending = None
        self._account()
        if not was_closed and self.transport is not None:
            self.state.clients.set_closing(self, time.perf_counter())
            self.transport.close()

    def _reject(self, status: int, message: str, extra: bytes = b"") -> None:
        """Answer a request the router cannot serve, then close the connection."""
        if self.transport is not None and not self.closed:
            reply = simple_response(status, error_body(status, message), close=True, extra=extra)
            self.transport.write(reply)
        self._close()

    # -- request parsing ----------------------------------------------------------------
    def _process(self, buf: bytes | bytearray) -> None:
        limits = self.state.limits
        while not self.busy and not self.closed and not self.paused:
            request = self.request
            if request is None:
                while buf.startswith(CRLF):  # RFC 9112 2.2: skip empty lines before a request
                    buf = buf[2:]
                end = buf.find(HEAD_END, self.searched)
                if end < 0 or end > limits.max_head:
                    if len(buf) > limits.max_head:
                        self._reject(431, f"request head over {limits.max_head} bytes")
                        return
                    self.searched = max(0, len(buf) - 3)  # never rescan what was searched
                    break
                try:
                    request = RequestHead(bytes(buf[:end]), limits.max_request_id)
                except HttpError as exc:
                    self._reject(exc.status, str(exc))
                    return
                if request.content_length > limits.max_body:
                    self._reject(413, f"request body over {limits.max_body} bytes")
                    return
                self.request, self.body_start, self.continued = request, end + 4, False
            start = self.body_start
            if request.content_length >= 0:
                stop = start + request.content_length
                if len(buf) < stop:
                    self._wait_for_body(request)
                    break
                body = bytes(buf[start:stop])
            else:
                if self.scanner is None:
                    self.scanner = ChunkScanner(start, limits.max_body)
                try:
                    stop = self.scanner.scan(buf)
                    body = dechunk(buf[start:stop]) if stop >= 0 else b""
                except HttpError as exc:
                    self._reject(exc.status, str(exc))
                    return
                if stop < 0:
                    if len(buf) - start > limits.max_body + limits.max_head:  # framing bytes
                        self._reject(413, f"request body over {limits.max_body} bytes")
                        return
                    self._wait_for_body(request)
                    break
            self.request = self.scanner = None
            self.searched = 0
            buf = buf[stop:]
            self._dispatch(request, body)
        if buf and not self.closed:
            self.pending = buf if isinstance(buf, bytearray) else bytearray(buf)

    def _wait_for_body(self, request: RequestHead) -> None:
        if request.expect_continue and not self.continued and self.transport is not None:
            self.continued = True
            self.transport.write(_CONTINUE)

    # -- routing and forwarding ---------------------------------------------------------
    def _dispatch(self, request: RequestHead, body: bytes) -> None:
        state = self.state
        target = request.target
        if target.startswith(RESERVED):
            status, content_type, payload = state.reserved(target)
            head_only = request.method == b"HEAD"
            reply = simple_response(
                status, payload, content_type, close=request.close, head_only=head_only
            )
            assert self.transport is not None
            self.transport.write(reply)
            if request.close:
                self._close()
            return
        table = state.table
        version = CHAMPION
        cookie_lines = unit = b""
        keyed = False
        if table.match is not None and table.match(RequestView(request.lines, target, body)):
            version = CHALLENGER
        else:
            weight = table.challenger_weight
            if weight:
                if table.sticky:
                    version, unit = table.sticky_version(request.cookie)
                    keyed = True
                    if version < 0:
                        version = CHALLENGER if state.draw() * 100.0 < weight else CHAMPION
                        cookie_lines, unit = table.pin(version)
                elif weight >= 100 or state.draw() * 100.0 < weight:
                    version = CHALLENGER
            if request.cookie is not None and table.expire_lines[CHALLENGER]:
                cookie_lines += table.stale_cookie_lines(request.cookie)
        if not keyed and request.cookie is not None:
            unit = table.unit(request.cookie)
        if table.unit_key:  # the rollout's user header names the unit (over the cookie)
            unit = table.header_unit(request, unit)
        request_id = request.request_id
        id_line = b""
        if request_id is None:
            request_id = state.new_request_id()
            id_line = b"\r\nx-request-id: " + request_id
        backends = state.backends
        upstream = backends[version]
        head = request.forward_head(upstream.prefix, upstream.host_header, len(body))
        data = b"".join((head, id_line, HEAD_END, body))
        self.busy, self.version, self.request_id = True, version, request_id
        self.unit = unit
        llm = None
        if state.llm_log is not None and (
            (state.openai and request.method == b"POST")
            or (b"completions" in target and is_llm_target(target))
        ):
            llm = parse_request(body, request.reference, time.time())
        self.cookie_lines, self.close_after = cookie_lines, request.close
        self.head_only = head_only = request.method == b"HEAD"
        self.started = now = time.perf_counter()
        if llm is not None:
            rid, key = request_id.decode("latin-1"), unit.decode("latin-1") or None
            self.llm = LLMTracker(llm, _SIDES[version], False, rid, key, now)
        self.sent = len(data)
        if version == CHALLENGER:
            self.retry = (request, data, len(head), len(body))
        upstream.request(self, data, head_only, now + state.timeout)
        mirror = table.mirror_weight
        if (
            version == CHAMPION
            and mirror
            and (mirror >= 100 or state.draw() * 100.0 < mirror)
            and state.want_mirror()
        ):
            other = backends[CHALLENGER]
            if other is not upstream:
                head = request.forward_head(other.prefix, other.host_header, len(body))
            data = b"".join((head, id_line, MIRROR_LINE, HEAD_END, body))
            state.mirror(data, request_id, head_only, unit, llm)

    def _done(self) -> None:
        self.retry = self.llm = None
        self.writing = 0
        self.busy = False
        self.sent = 0
        if self.close_after:
            self._close()
            return
        self._resume()
        self._account()
        self._settle()

    def _resume(self) -> None:
        pending = self.pending
        if pending is not None and not self.busy and not self.paused and not self.closed:
            self.pending = None
            if self.transport is not None:
                self.transport.resume_reading()
            self._process(pending)
