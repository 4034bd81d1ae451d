"""Upstream side of the local router: one HTTP/1.1 connection to a model server.

Connections are asyncio Protocols (no stream objects, no task per request): a request is
written, the response head and body are parsed as bytes arrive, and the waiting
``Exchange`` is called back with the whole response, or, for a streamed answer (Server-Sent
Events, any chunked body), with its head at once and its payload as each read brings it
(``on_head``, ``on_body``..., ``on_end``): nothing of a stream is held, and while the
client cannot take more (its transport's buffer is full) reading from the server pauses.
A streamed call's deadline moves forward with every read: ``timeout`` bounds the silence
between two pieces of an answer, not the whole of a long one. A reused connection that dies
before answering (the server closed it while idle) is retried once on a fresh connection.
The pool of connections per server, its caps and breakers are in ``pool``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, cast

from .body import ChunkDecoder, ChunkScanner
from .breaker import ConnectBreaker
from .http11 import (
    CHUNKED,
    HEAD_END,
    LENGTH,
    MAX_BODY,
    MAX_HEAD,
    NO_BODY,
    UNTIL_CLOSE,
    HttpError,
    ResponseHead,
)

UPSTREAM_TIMEOUT_STATUS = 504
TRANSPORT_ERROR_STATUS = 502
SATURATED_STATUS = 503
FAILED, UNREACHABLE, SHED = 0, 1, 2
"""Why a call failed (``Exchange.on_failure``): the server may have received it (failed,
timed out, stalled-breaker refusal); the connection to it failed; its connect breaker is open
and refused it without dialling. Only the last two are safe to send elsewhere."""


class StreamSource(Protocol):
    """The connection a streamed answer comes from: its reading can be paused."""

    def pause(self) -> None:
        """Stop reading until ``resume`` (the client's buffer is full)."""
        ...

    def resume(self) -> None:
        """Read again."""
        ...


class Exchange(Protocol):
    """Who waits for an upstream response (a client connection or a mirror call)."""

    def on_response(self, response: ResponseHead, body: bytes) -> None:
        """The complete response (``body`` still chunk-framed when ``framing == CHUNKED``)."""
        ...

    def on_head(self, response: ResponseHead, source: StreamSource) -> None:
        """A streamed response (``response.streamed``) starts: its head."""
        ...

    def on_body(self, data: bytes) -> None:
        """The next payload bytes of a streamed response (de-chunked)."""
        ...

    def on_end(self) -> None:
        """The streamed response is complete (a failure afterwards is ``on_failure``)."""
        ...

    def on_failure(self, status: int, message: str, cause: int = FAILED) -> None:
        """No response: 502 (transport error, bad response), 504 (timeout), 503 (a breaker);
        ``cause``: ``FAILED``, ``UNREACHABLE`` or ``SHED`` (the last two never reached it)."""
        ...


class Pool(Protocol):
    """What a connection needs of its server's pool (``pool.Upstream``)."""

    answered: float
    breaker: ConnectBreaker

    def done(self, conn: UpstreamConnection) -> None:
        """``conn`` carries no call any more."""
        ...

    def release(self, conn: UpstreamConnection) -> None:
        """Return ``conn`` after a complete response."""
        ...

    def request(
        self, exchange: Exchange, data: bytes, head_only: bool, deadline: float, fresh: bool = False
    ) -> None:
        """Send a call (``fresh``: on a new connection)."""
        ...


class UpstreamConnection(asyncio.Protocol):
    """One HTTP/1.1 connection to a model server, carrying one request at a time."""

    __slots__ = (
        "body_start",
        "buf",
        "closed",
        "data",
        "deadline",
        "decoder",
        "exchange",
        "head_only",
        "left",
        "paused",
        "received",
        "response",
        "reused",
        "scanner",
        "span",
        "streaming",
        "transport",
        "upstream",
    )

    def __init__(self, upstream: Pool) -> None:
        self.upstream = upstream
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.exchange: Exchange | None = None
        self.response: ResponseHead | None = None
        self.scanner: ChunkScanner | None = None
        self.data = b""
        self.body_start = 0
        self.deadline = self.span = 0.0
        self.head_only = self.reused = self.received = self.closed = False
        self.streaming = self.paused = False
        self.decoder: ChunkDecoder | None = None
        self.left = -1
        """Payload bytes still to come of a streamed LENGTH body (-1: not counted)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # any loop's TCP transport

    def send(self, exchange: Exchange, data: bytes, head_only: bool, deadline: float) -> None:
        """Write one request; the answer goes to ``exchange``."""
        self.exchange, self.data, self.head_only, self.deadline = (
            exchange,
            data,
            head_only,
            deadline,
        )
        self.received = False
        self.span = deadline - time.perf_counter()
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.exchange is None:  # bytes nobody asked for: the connection is unusable
            self.abort()
            return
        self.received = True
        if self.streaming:
            self._stream(data)
            return
        buf = self.buf
        view: bytes | bytearray = data
        if buf:
            buf += data
            view = buf
        response = self.response
        if response is None:
            end = view.find(HEAD_END)
            while end >= 0 and view[9:10] == b"1" and not view.startswith(b"HTTP/1.1 101"):
                view = view[end + 4 :]  # an interim 1xx answer: skip it
                end = view.find(HEAD_END)
            if end < 0:
                self._stash(view, MAX_HEAD)
                return
            try:
                response = ResponseHead(bytes(view[:end]), self.head_only)
            except HttpError as exc:
                self.fail(TRANSPORT_ERROR_STATUS, str(exc))
                return
            self.response, self.body_start = response, end + 4
            if response.streamed:
                self._start_stream(response, bytes(view[end + 4 :]))
                return
        start = self.body_start
        framing = response.framing
        if framing == LENGTH:
            stop = start + response.length
            if len(view) < stop:
                self._stash(view, MAX_BODY)
                return
        elif framing == CHUNKED:
            if self.scanner is None:
                self.scanner = ChunkScanner(start)
            try:
                stop = self.scanner.scan(view)
            except HttpError as exc:
                self.fail(TRANSPORT_ERROR_STATUS, str(exc))
                return
            if stop < 0:
                self._stash(view, MAX_BODY)
                return
        elif framing == NO_BODY:
            stop = start
        else:  # UNTIL_CLOSE: connection_lost completes it
            self._stash(view, MAX_BODY)
            return
        self._finish(response, bytes(view[start:stop]))

    def _stash(self, view: bytes | bytearray, limit: int) -> None:
        if view is not self.buf:
            self.buf[:] = view
        if len(self.buf) > limit + self.body_start:
            self.fail(TRANSPORT_ERROR_STATUS, "upstream response too large")

    # -- streamed answers --------------------------------------------------------------
    def _start_stream(self, response: ResponseHead, rest: bytes) -> None:
        exchange = self.exchange
        assert exchange is not None
        self.streaming = True
        self.buf.clear()
        framing = response.framing
        if framing == CHUNKED:
            self.decoder = ChunkDecoder()
        self.left = response.length if framing == LENGTH else -1
        exchange.on_head(response, self)
        if rest:
            self._stream(rest)
        elif self.left == 0:
            self._end()

    def _stream(self, data: bytes) -> None:
        exchange = self.exchange
        assert exchange is not None
        now = time.perf_counter()
        self.deadline = now + self.span  # a live stream is not timed out
        self.upstream.answered = now
        decoder = self.decoder
        if decoder is not None:
            try:
                payload = decoder.feed(data)
            except HttpError as exc:
                self.fail(TRANSPORT_ERROR_STATUS, str(exc))
                return
            if payload:
                exchange.on_body(payload)
            if decoder.done:
                self._end()
        elif self.left < 0:  # until the server closes the connection
            exchange.on_body(data)
        else:
            if len(data) > self.left:
                data = data[: self.left]
            self.left -= len(data)
            exchange.on_body(data)
            if not self.left:
                self._end()

    def _end(self) -> None:
        """The streamed answer is complete."""
        exchange = self.exchange
        assert exchange is not None and self.response is not None
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        self._release(self.response)
        exchange.on_end()

    def pause(self) -> None:
        """Stop reading the streamed answer (the client's buffer is full)."""
        if not self.paused and not self.closed and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        """Read the streamed answer again."""
        if self.paused and not self.closed and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def _finish(self, response: ResponseHead, body: bytes) -> None:
        exchange = self.exchange
        self._release(response)
        assert exchange is not None
        exchange.on_response(response, body)

    def _release(self, response: ResponseHead) -> None:
        """The call is over: the connection goes back to the pool (or closes)."""
        self.exchange, self.response, self.scanner, self.data = None, None, None, b""
        self.streaming, self.decoder, self.left = False, None, -1
        self.body_start = 0
        self.buf.clear()
        upstream = self.upstream
        upstream.answered = time.perf_counter()
        if upstream.breaker.failures:
            upstream.breaker.success()
        upstream.done(self)
        if response.close:
            self.abort()
        else:
            upstream.release(self)

    def fail(self, status: int, message: str) -> None:
        """Drop the connection and report ``status`` to the waiting exchange, if any."""
        exchange = self.exchange
        self.exchange = None
        self.abort()
        if exchange is not None:
            exchange.on_failure(status, message)

    def abort(self) -> None:
        """Close the connection now (never reused)."""
        self.closed = True
        self.upstream.done(self)
        if self.transport is not None:
            self.transport.abort()

    def timeout(self) -> None:
        """The deadline passed: answer 504 and drop the connection."""
        self.fail(UPSTREAM_TIMEOUT_STATUS, "upstream timed out")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        upstream = self.upstream
        upstream.done(self)
        exchange = self.exchange
        if exchange is None:
            return
        self.exchange = None
        response = self.response
        if response is not None and response.framing == UNTIL_CLOSE:
            if self.streaming:  # the close ends the streamed answer
                self.streaming = False
                exchange.on_end()
            else:
                exchange.on_response(response, bytes(self.buf[self.body_start :]))
        elif self.reused and not self.received:
            upstream.request(exchange, self.data, self.head_only, self.deadline, fresh=True)
        else:
            reason = f": {exc}" if exc else ""
            exchange.on_failure(TRANSPORT_ERROR_STATUS, f"upstream closed the connection{reason}")
