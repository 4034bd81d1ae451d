"""The answering half of a client connection of the local router: the ``Exchange`` callbacks
the upstream connection calls with the answer.

A buffered answer (``on_response``) is written whole, de-chunked for a client whose connection
closes after it. A streamed answer (``on_head``, ``on_body``, ``on_end``) is written as each
piece arrives, re-framed as chunks (or, to a client whose connection closes after it, delimited
by the close), so the client sees the first token when the router does; a stream cut off
upstream is cut off to the client too (``on_failure``: the connection is aborted, a truncated
answer never looks complete). A challenger call that never reached the challenger is sent to
the champion instead (``_to_champion``). Every answer is recorded once it is written.

``Answering`` is a slot-less base of ``client.ClientConnection``, which holds the state (its
``__slots__``) and the request side (parsing, routing, forwarding).
"""

from __future__ import annotations

import asyncio
import time

from .._llm_parse import LLMTracker
from .body import dechunk, error_body, simple_response
from .forward import CLOSE_LINE, VERSION_LINES, ProxyState
from .http11 import CHUNKED, HEAD_END, LENGTH, RequestHead, ResponseHead
from .reading import begin_stream, read_stream, record_whole
from .table import CHALLENGER, CHAMPION
from .upstream import FAILED, StreamSource

JOIN_LIMIT = 64 * 1024
"""Buffered answers up to this size are joined with the head into one write."""
RAW, CHUNKS = 1, 2
"""How a streamed answer is written: as it comes (a length, or the close, ends it), or
re-framed as chunks."""
_LAST_CHUNK = b"0\r\n\r\n"


class Answering:
    """Writes the upstream's answer to the client and records it (see the module docstring)."""

    __slots__ = (
        "close_after",
        "closed",
        "cookie_lines",
        "head_only",
        "llm",
        "paused",
        "preview",
        "request_id",
        "retry",
        "sent",
        "source",
        "started",
        "state",
        "status",
        "transport",
        "unit",
        "version",
        "writing",
    )
    """The connection's state both halves use (``ClientConnection.__init__`` sets it)."""

    state: ProxyState
    transport: asyncio.Transport | None
    closed: bool
    paused: bool
    close_after: bool
    head_only: bool
    version: int
    cookie_lines: bytes
    request_id: bytes
    unit: bytes
    started: float
    sent: int
    retry: tuple[RequestHead, bytes, int, int] | None
    llm: LLMTracker | None
    source: StreamSource | None
    writing: int
    status: int
    preview: bytearray | None

    def _done(self) -> None:
        """The call is over: serve what is pending, or close (the connection's own)."""
        raise NotImplementedError

    def _head_lines(self) -> bytes:
        """The lines the router adds to an answer's head: the version, any affinity cookie,
        and ``connection: close`` when the connection closes after it."""
        extra = VERSION_LINES[self.version] + self.cookie_lines
        return extra + CLOSE_LINE if self.close_after else extra

    def on_response(self, response: ResponseHead, body: bytes) -> None:
        """Write the upstream's answer to the client, then record it."""
        now = time.perf_counter()
        chunked = response.framing == CHUNKED
        transport = self.transport
        if not self.closed and transport is not None:
            out = dechunk(body) if chunked and self.close_after else body
            head = response.client_head(len(out), chunked and self.close_after)
            extra = self._head_lines()
            if len(out) <= JOIN_LIMIT:
                transport.write(b"".join((head, extra, HEAD_END, out)))
            else:
                transport.write(b"".join((head, extra, HEAD_END)))
                transport.write(out)
        self.state.observe(
            self.version, False, response.status, now - self.started, body, chunked,
            self.request_id, self.unit,
        )  # fmt: skip
        record_whole(self.state, self.llm, response, body, now)
        self._done()

    def on_head(self, response: ResponseHead, source: StreamSource) -> None:
        """A streamed answer starts: write its head now, its body as it comes."""
        self.source, self.status = source, response.status
        begin_stream(self, response)
        raw = self.close_after or response.framing == LENGTH
        self.writing = RAW if raw else CHUNKS
        transport = self.transport
        if not self.closed and transport is not None:
            head = response.stream_head(not raw)
            extra = self._head_lines()
            transport.write(b"".join((head, extra, HEAD_END)))
        if self.paused:  # the client's buffer was full already
            source.pause()

    def on_body(self, data: bytes) -> None:
        """Forward the next piece of a streamed answer at once."""
        transport = self.transport
        if not self.closed and transport is not None:
            if self.writing == CHUNKS:
                transport.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                transport.write(data)
        read_stream(self, data)

    def on_end(self) -> None:
        """The streamed answer is complete: end it, record it."""
        now = time.perf_counter()
        transport = self.transport
        if self.writing == CHUNKS and not self.closed and transport is not None:
            transport.write(_LAST_CHUNK)
        preview, self.preview, self.source = self.preview, None, None
        self.state.observe(
            self.version, False, self.status, now - self.started,
            bytes(preview) if preview is not None else b"", False, self.request_id, self.unit,
        )  # fmt: skip
        llm = self.llm
        if llm is not None:
            self.state.record_llm(llm.end(now), llm.request)
        self._done()

    def on_failure(self, status: int, message: str, cause: int = FAILED) -> None:
        """Answer 502/503/504 for an upstream that failed or timed out, then record it; a
        challenger call that never reached the challenger goes to the champion instead; a
        stream cut off after its head is cut off to the client (connection aborted)."""
        now = time.perf_counter()
        seconds = now - self.started
        llm = self.llm
        if cause != FAILED and self.version == CHALLENGER and self._to_champion():
            self.state.observe(
                CHALLENGER, False, status, seconds, b"", False, self.request_id, self.unit
            )
            if llm is not None:  # the champion answers: a new tracker, the same request
                self.state.record_llm(llm.failed(status, now), llm.request)
                self.llm = LLMTracker(
                    llm.request, "champion", False, llm.request_id, llm.unit, self.started
                )
            return
        transport = self.transport
        if self.source is not None:  # the head went out: the client must see the cut
            self.source = self.preview = None
            self.close_after = True
            if not self.closed and transport is not None:
                self.closed = True
                transport.abort()
        elif not self.closed and transport is not None:
            extra = VERSION_LINES[self.version]
            reply = simple_response(
                status, error_body(status, message), close=self.close_after, extra=extra
            )
            transport.write(reply)
        self.state.observe(
            self.version, False, status, seconds, b"", False, self.request_id, self.unit
        )
        if llm is not None:
            self.state.record_llm(llm.failed(status, now), llm.request)
        self._done()

    def _to_champion(self) -> bool:
        """Send the challenger call kept in ``retry`` to the champion (False: cannot)."""
        state, retry = self.state, self.retry
        champion = state.backends[CHAMPION]
        if retry is None or state.stopping or champion is state.backends[CHALLENGER]:
            return False
        request, sent, cut, size = retry  # the id line, blank line and body follow the head
        head = request.forward_head(champion.prefix, champion.host_header, size)
        data = b"".join((head, memoryview(sent)[cut:]))
        state.metrics.retried += 1
        self.retry = None
        self.version, self.cookie_lines = CHAMPION, b""  # no affinity to a dead challenger
        self.started = now = time.perf_counter()
        self.sent = len(data)
        champion.request(self, data, self.head_only, now + state.timeout)
        return True


__all__ = ["CHUNKS", "JOIN_LIMIT", "RAW", "Answering"]
