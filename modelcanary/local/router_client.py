"""Client side of the local router: one asyncio Protocol per client connection.

Requests are parsed as bytes arrive (``Content-Length`` or chunked bodies, de-chunked before
forwarding), routed with the current ``RouteTable``, forwarded on a pooled upstream
connection, and answered with the upstream's response (plus ``x-modelcanary-version`` and
any affinity cookie). Pipelined requests are served in order, one at a time. The connection
object itself is the primary call's ``Exchange``: no per-request callback objects.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

from .http11 import (
    CHUNKED,
    HEAD_END,
    MAX_BODY,
    MAX_HEAD,
    HttpError,
    RequestHead,
    ResponseHead,
)
from .http_body import ChunkScanner, dechunk, error_body, simple_response
from .matching import RequestView
from .router_proxy import CLOSE_LINE, MIRROR_LINE, PAUSE_AT, RESERVED, VERSION_LINES, ProxyState
from .router_table import CHALLENGER, CHAMPION

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_JOIN_LIMIT = 64 * 1024  # bodies up to this size are joined with the head into one write


class ClientConnection(asyncio.Protocol):
    """Serves one client connection of the router."""

    __slots__ = (
        "body_start",
        "busy",
        "close_after",
        "closed",
        "continued",
        "cookie_lines",
        "head_only",
        "paused",
        "pending",
        "request",
        "request_id",
        "scanner",
        "started",
        "state",
        "transport",
        "version",
    )

    def __init__(self, state: ProxyState) -> None:
        self.state = state
        self.transport: asyncio.Transport | None = None
        self.pending: bytearray | None = None
        self.request: RequestHead | None = None
        self.scanner: ChunkScanner | None = None
        self.body_start = self.version = 0
        self.started = 0.0
        self.request_id = self.cookie_lines = b""
        self.busy = self.closed = self.paused = self.continued = False
        self.head_only = self.close_after = False

    # -- asyncio callbacks -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # any loop's TCP transport
        self.state.clients.add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.transport is not None:
            self.state.clients.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        pending = self.pending
        if pending is not None:
            pending += data
            if self.busy or self.paused:
                if len(pending) > PAUSE_AT and self.transport is not None:
                    self.transport.pause_reading()
                return
            self.pending = None
            self._process(pending)
        elif self.busy or self.paused:
            self.pending = bytearray(data)
        else:
            self._process(data)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._resume()

    # -- request parsing ----------------------------------------------------------------
    def _process(self, buf: bytes | bytearray) -> None:
        while not self.busy and not self.closed and not self.paused:
            request = self.request
            if request is None:
                end = buf.find(HEAD_END)
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        self._reject(431, "request head too large")
                        return
                    break
                try:
                    request = RequestHead(bytes(buf[:end]))
                except HttpError as exc:
                    self._reject(exc.status, str(exc))
                    return
                if request.content_length > MAX_BODY:
                    self._reject(413, "request body too large")
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
                    self.scanner = ChunkScanner(start)
                try:
                    stop = self.scanner.scan(buf)
                    body = dechunk(buf[start:stop]) if stop >= 0 else b""
                except HttpError as exc:
                    self._reject(exc.status, str(exc))
                    return
                if stop < 0:
                    if len(buf) > MAX_BODY:
                        self._reject(413, "request body too large")
                        return
                    self._wait_for_body(request)
                    break
            self.request = self.scanner = None
            buf = buf[stop:]
            self._dispatch(request, body)
        if buf and not self.closed:
            self.pending = buf if isinstance(buf, bytearray) else bytearray(buf)

    def _wait_for_body(self, request: RequestHead) -> None:
        if request.expect_continue and not self.continued and self.transport is not None:
            self.continued = True
            self.transport.write(_CONTINUE)

    def _reject(self, status: int, message: str) -> None:
        """Answer a request the router cannot serve, then close the connection."""
        self.closed = True
        self.pending = None
        if self.transport is not None:
            self.transport.write(simple_response(status, error_body(status, message), close=True))
            self.transport.close()

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
                self.closed = True
                self.transport.close()
            return
        table = state.table
        version = CHAMPION
        cookie_lines = b""
        if table.match is not None and table.match(RequestView(request.lines, target, body)):
            version = CHALLENGER
        else:
            weight = table.challenger_weight
            if weight:
                if table.sticky:
                    version = table.sticky_version(request.cookie)
                    if version < 0:
                        version = CHALLENGER if state.draw() * 100.0 < weight else CHAMPION
                        cookie_lines = table.set_lines[version]
                elif weight >= 100 or state.draw() * 100.0 < weight:
                    version = CHALLENGER
            if request.cookie is not None and table.expire_lines[CHALLENGER]:
                cookie_lines += table.stale_cookie_lines(request.cookie)
        request_id = request.request_id
        id_line = b""
        if request_id is None:
            request_id = state.new_request_id()
            id_line = b"\r\nx-request-id: " + request_id
        backends = state.backends
        upstream = backends[version]
        head = request.forward_head(upstream.prefix, upstream.host_header, len(body))
        self.busy, self.version, self.request_id = True, version, request_id
        self.cookie_lines, self.close_after = cookie_lines, request.close
        self.head_only = head_only = request.method == b"HEAD"
        self.started = now = time.perf_counter()
        upstream.request(
            self, b"".join((head, id_line, HEAD_END, body)), head_only, now + state.timeout
        )
        mirror = table.mirror_weight
        if version == CHAMPION and mirror and (mirror >= 100 or state.draw() * 100.0 < mirror):
            other = backends[CHALLENGER]
            if other is not upstream:
                head = request.forward_head(other.prefix, other.host_header, len(body))
            state.mirror(b"".join((head, id_line, MIRROR_LINE, HEAD_END, body)), request_id)

    # -- Exchange: the upstream's answer ------------------------------------------------
    def on_response(self, response: ResponseHead, body: bytes) -> None:
        """Write the upstream's answer to the client, then record it."""
        seconds = time.perf_counter() - self.started
        chunked = response.framing == CHUNKED
        transport = self.transport
        if not self.closed and transport is not None:
            out = dechunk(body) if chunked and self.close_after else body
            head = response.client_head(len(out), chunked and self.close_after)
            extra = VERSION_LINES[self.version] + self.cookie_lines
            if self.close_after:
                extra += CLOSE_LINE
            if len(out) <= _JOIN_LIMIT:
                transport.write(b"".join((head, extra, HEAD_END, out)))
            else:
                transport.write(b"".join((head, extra, HEAD_END)))
                transport.write(out)
        self.state.observe(
            self.version, False, response.status, seconds, body, chunked, self.request_id
        )
        self._done()

    def on_failure(self, status: int, message: str) -> None:
        """Answer 502/504 for an upstream that failed or timed out, then record it."""
        seconds = time.perf_counter() - self.started
        if not self.closed and self.transport is not None:
            extra = VERSION_LINES[self.version]
            reply = simple_response(
                status, error_body(status, message), close=self.close_after, extra=extra
            )
            self.transport.write(reply)
        self.state.observe(self.version, False, status, seconds, b"", False, self.request_id)
        self._done()

    def _done(self) -> None:
        self.busy = False
        if self.close_after:
            self.closed = True
            self.pending = None
            if self.transport is not None:
                self.transport.close()
            return
        self._resume()

    def _resume(self) -> None:
        pending = self.pending
        if pending is not None and not self.busy and not self.paused and not self.closed:
            self.pending = None
            if self.transport is not None:
                self.transport.resume_reading()
            self._process(pending)
