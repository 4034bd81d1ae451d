"""The local router's keep-alive connection pool per model server, with its caps and breakers.

Idle connections (``upstream.UpstreamConnection``) are reused LIFO. Deadlines are enforced by
``expire``, which the router calls on a coarse timer, so no timer is armed per request.

At most ``max_requests`` calls are in flight per server; more wait in a FIFO for a free slot
(within their own deadline). A circuit breaker keeps a hung server from holding every client:
once the server is at the cap and has completed no answer for ``stalled_after`` seconds, the
waiting calls and every new one fail at once with 503 (recorded as errors of that version)
instead of waiting for their timeout. A server that answers, however slowly, is never cut
off: its calls only wait their turn.

A second breaker, per server, watches connections (``ConnectBreaker``): after
``breaker_failures`` connect failures in a row (a server that exited refuses every
connection) calls are refused without dialling, one probe per cooldown excepted. Such calls
fail with ``UNREACHABLE`` (the connection failed) or ``SHED`` (refused by the breaker): the
server never received them, so the client connection may retry them on the champion.
"""

from __future__ import annotations

import asyncio
import collections
import re
import time
from urllib.parse import urlsplit

from ...errors import RouterError
from .breaker import ConnectBreaker
from .upstream import (
    SATURATED_STATUS,
    SHED,
    TRANSPORT_ERROR_STATUS,
    UNREACHABLE,
    UPSTREAM_TIMEOUT_STATUS,
    Exchange,
    UpstreamConnection,
)

_URL_PART = re.compile(r"[\x21-\x7e]*")
"""Backend netloc and path prefix go into the Host header and the request line: visible ASCII."""
_Call = tuple[Exchange, bytes, bool, float]
"""A call waiting for a slot: exchange, request bytes, HEAD, deadline."""


class Upstream:
    """A model server's base URL and its keep-alive connection pool (used on the loop only)."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 5.0,
        max_idle: int = 512,
        max_requests: int = 256,
        stalled_after: float = 1.0,
        breaker: ConnectBreaker | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise RouterError(f"backend {url!r} is not a plain http:// URL (host[:port])")
        if not (_URL_PART.fullmatch(parts.netloc) and _URL_PART.fullmatch(parts.path)):
            raise RouterError(
                f"backend {url!r} has spaces, control or non-ASCII characters: "
                "percent-encode the path"
            )
        try:
            port = parts.port or 80
        except ValueError:
            raise RouterError(f"backend {url!r} has a bad port") from None
        self.url = url
        self.host, self.port = parts.hostname, port
        self.prefix = parts.path.rstrip("/").encode()
        """Path prefix prepended to every forwarded request target."""
        self.host_header = parts.netloc.encode()
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self.max_requests = max_requests
        self.stalled_after = stalled_after
        self.breaker = breaker or ConnectBreaker()
        """Connect failures in a row; refuses calls without dialling while open."""
        self.answered = time.perf_counter()
        """When the last answer was completed (or the pool was created)."""
        self.idle: list[UpstreamConnection] = []
        self.busy: set[UpstreamConnection] = set()
        self.retired = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.waiting: collections.deque[_Call] = collections.deque()
        """Calls waiting for a free slot (at most one per client connection or mirror)."""
        self._draining = False

    @property
    def inflight(self) -> int:
        """Calls sent or connecting."""
        return len(self.busy) + len(self._tasks)

    def stalled(self, now: float) -> bool:
        """At the cap with no answer completed for ``stalled_after`` seconds."""
        return self.inflight >= self.max_requests and now - self.answered >= self.stalled_after

    def _refuse(self, exchange: Exchange) -> None:
        exchange.on_failure(
            SATURATED_STATUS,
            f"model server not answering: {self.max_requests} calls in flight, "
            f"no answer for {self.stalled_after:g} s",
        )

    def _shed(self, exchange: Exchange) -> None:
        why = self.breaker.last_error or "connect failures"
        exchange.on_failure(
            SATURATED_STATUS, f"model server unreachable, breaker open ({why})", SHED
        )

    def request(
        self, exchange: Exchange, data: bytes, head_only: bool, deadline: float, fresh: bool = False
    ) -> None:
        """Send ``data`` on an idle connection, or on a new one (``fresh``: never reuse).

        At the cap the call waits for a slot, or, when the server is stalled, fails with
        503 on the next loop turn (never re-entrantly: mirror copies failing in a row must
        not recurse); so does a call the open connect breaker refuses (``SHED``).
        """
        breaker = self.breaker
        if breaker.open_until and not breaker.allow(time.perf_counter()):
            asyncio.get_running_loop().call_soon(self._shed, exchange)
            return
        if not fresh and self.inflight >= self.max_requests:
            if self.stalled(time.perf_counter()):
                asyncio.get_running_loop().call_soon(self._refuse, exchange)
            else:
                self.waiting.append((exchange, data, head_only, deadline))
            return
        self._send(exchange, data, head_only, deadline, fresh)

    def _send(
        self, exchange: Exchange, data: bytes, head_only: bool, deadline: float, fresh: bool
    ) -> None:
        idle = self.idle
        while idle and not fresh:
            conn = idle.pop()
            if not conn.closed:
                conn.reused = True
                self.busy.add(conn)
                conn.send(exchange, data, head_only, deadline)
                return
        task = asyncio.get_running_loop().create_task(
            self._connect(exchange, data, head_only, deadline)
        )
        self._tasks.add(task)
        task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slot_freed()

    def done(self, conn: UpstreamConnection) -> None:
        """``conn`` carries no call any more: its slot goes to a waiting call."""
        self.busy.discard(conn)
        self._slot_freed()

    def _slot_freed(self) -> None:
        if self.waiting and not self._draining:
            self._draining = True
            asyncio.get_running_loop().call_soon(self._drain)  # after the caller finished

    def _drain(self) -> None:
        self._draining = False
        while self.waiting and self.inflight < self.max_requests:
            self._send(*self.waiting.popleft(), False)

    async def _connect(
        self, exchange: Exchange, data: bytes, head_only: bool, deadline: float
    ) -> None:
        loop = asyncio.get_running_loop()
        wait = max(0.0, min(self.connect_timeout, deadline - time.perf_counter()))
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: UpstreamConnection(self), self.host, self.port),
                wait,
            )
        except TimeoutError:
            self.breaker.failure(time.perf_counter(), "connect timed out")
            exchange.on_failure(UPSTREAM_TIMEOUT_STATUS, "upstream connect timed out", UNREACHABLE)
            return
        except OSError as exc:
            self.breaker.failure(time.perf_counter(), exc.strerror or str(exc))
            exchange.on_failure(TRANSPORT_ERROR_STATUS, f"upstream unreachable: {exc}", UNREACHABLE)
            return
        if self.breaker.failures:
            self.breaker.success()
        conn.reused = False
        self.busy.add(conn)
        conn.send(exchange, data, head_only, deadline)

    def release(self, conn: UpstreamConnection) -> None:
        """Return a connection after a complete response (closed when retired or full)."""
        if self.retired or len(self.idle) >= self.max_idle:
            conn.abort()
        else:
            self.idle.append(conn)

    def expire(self, now: float) -> None:
        """Time out the calls whose deadline passed; refuse waiting ones once stalled."""
        if self.busy:
            for conn in [c for c in self.busy if c.deadline <= now]:
                conn.timeout()
        if self.waiting:
            stalled = self.stalled(now)
            calls, self.waiting = self.waiting, collections.deque()
            for call in calls:
                if stalled:
                    self._refuse(call[0])
                elif call[3] <= now:
                    call[0].on_failure(UPSTREAM_TIMEOUT_STATUS, "upstream timed out (busy)")
                else:
                    self.waiting.append(call)

    def retire(self) -> None:
        """Stop pooling: idle connections close now, busy ones after their response."""
        self.retired = True
        for conn in self.idle:
            conn.abort()
        self.idle.clear()

    def close(self) -> None:
        """Drop every connection (router shutdown)."""
        self.retire()
        calls, self.waiting = self.waiting, collections.deque()
        for call in calls:
            call[0].on_failure(TRANSPORT_ERROR_STATUS, "router stopping")
        for conn in list(self.busy):
            conn.fail(TRANSPORT_ERROR_STATUS, "router stopping")
        for task in self._tasks:
            task.cancel()

    @property
    def drained(self) -> bool:
        """No request in flight or waiting any more."""
        return not self.busy and not self._tasks and not self.waiting
