"""Resource limits of the local router: what one client, or many, may hold, and for how long.

The router buffers whole messages, so without limits a few clients sending unfinished large
bodies, or many idle connections, exhaust memory or file descriptors, and a hung model server
ties up every connection routed to it. Each limit has a default sane for a loopback router
in front of model servers, and ``LocalRouter(limits=RouterLimits(...))`` changes it.

What happens when a limit is reached (``docs/router.md``, "Limits"):

* ``max_head`` bytes of request head: ``431``, connection closed.
* ``max_body`` bytes of request body (declared or received, chunked included): ``413``.
* ``read_timeout`` seconds to receive one whole request (head and body) from its first byte:
  ``408``, connection closed. Slow senders (slowloris) cannot hold a connection longer.
* ``idle_timeout`` seconds without a request on a keep-alive connection: closed silently
  (HTTP lets a server close idle connections; clients reconnect).
* ``max_connections`` client connections: a new one first closes the oldest idle connection,
  else the oldest one still sending its request (``503``); only when every connection is
  waiting for a model server is the new one answered ``503`` and closed. New requests never
  wait behind idle or slow connections.
* ``max_buffered`` bytes of request data held by the router (unfinished requests, requests in
  flight, queued mirror copies): past it a request growing beyond ``free_per_connection``
  gets ``503`` (small requests always pass) and mirror copies are dropped (counted).
* ``max_request_id`` bytes of a client's ``x-request-id``: a longer id, or one with
  characters other than visible ASCII, or a repeated header, is replaced by the router's own
  id (forwarded, recorded and mirrored alike), so ids cannot grow the recorder.
* ``max_upstream_requests`` calls in flight per model server: more wait for a free slot; once
  the server is at the cap and has completed no answer for ``stalled_after`` seconds, waiting
  and new calls are answered ``503`` at once and recorded as errors of that version (a
  circuit breaker, as Envoy's ``max_requests`` with outlier detection), so a hung challenger
  never holds every client connection. A server that answers, however slowly, is never cut
  off.
* ``breaker_failures`` connect failures in a row (refused, unreachable, connect timeout) open
  a model server's connect breaker: calls to it are refused without dialling, one probe goes
  through after ``breaker_cooldown`` seconds (doubling up to ``breaker_max_cooldown``), and a
  connection made closes it. Challenger calls it refuses, and those whose connection failed,
  are retried on the champion; mirror copies are dropped (counted). See ``breaker.py``.
"""

from __future__ import annotations

import resource
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Protocol

KIB, MIB = 1024, 1024 * 1024
FD_RESERVE = 64
"""File descriptors left to the rest of the process when ``max_connections`` is clamped."""


@dataclass(frozen=True)
class RouterLimits:
    """Bounds on what clients may make the router hold (defaults in ``docs/router.md``)."""

    max_head: int = 64 * KIB
    """Largest request head (request line and headers), bytes: 431 past it."""
    max_body: int = 64 * MIB
    """Largest request body, bytes: 413 past it."""
    read_timeout: float = 30.0
    """Seconds to receive one whole request from its first byte: 408 past it."""
    idle_timeout: float = 60.0
    """Seconds a keep-alive connection may stay without a request before it is closed."""
    max_connections: int = 1024
    """Open client connections (clamped so they and upstream calls fit the fd limit)."""
    max_buffered: int = 256 * MIB
    """Request bytes held by the router across all connections before 503 / mirror drops."""
    free_per_connection: int = 64 * KIB
    """Bytes each connection may hold whatever ``max_buffered`` says (small requests pass)."""
    max_request_id: int = 128
    """Longest client ``x-request-id`` kept, bytes; longer or odd ids are replaced."""
    max_upstream_requests: int = 256
    """Calls in flight per model server; more wait for a slot (503 once it is stalled)."""
    stalled_after: float = 1.0
    """Seconds without any answer after which a model server at the cap counts as stalled."""
    breaker_failures: int = 5
    """Connect failures in a row that open a model server's connect breaker."""
    breaker_cooldown: float = 1.0
    """Seconds the breaker stays open before its first probe (doubling per failed probe)."""
    breaker_max_cooldown: float = 10.0
    """Longest wait between two probes of an open breaker, seconds."""

    def __post_init__(self) -> None:
        for name in (
            "max_head",
            "max_body",
            "max_connections",
            "max_buffered",
            "max_request_id",
            "max_upstream_requests",
            "breaker_failures",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"RouterLimits.{name} must be at least 1")
        if self.free_per_connection < 0 or self.stalled_after < 0:
            raise ValueError("RouterLimits.free_per_connection and stalled_after must be >= 0")
        for name in ("read_timeout", "idle_timeout"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"RouterLimits.{name} must be a positive number of seconds")
        if not 0 < self.breaker_cooldown <= self.breaker_max_cooldown:
            raise ValueError(
                "RouterLimits.breaker_cooldown must be > 0 and <= breaker_max_cooldown"
            )
        if self.max_head < 256:
            raise ValueError("RouterLimits.max_head must be at least 256 bytes")

    def fitted(self) -> RouterLimits:
        """These limits with ``max_connections`` lowered to fit the process's fd limit.

        Each client may hold an upstream call and a mirror copy, so clients get a third of
        the descriptors left after ``FD_RESERVE``; otherwise ``accept`` would fail with
        EMFILE and every new client, not only the excess, would time out.
        """
        try:
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        except (OSError, ValueError):  # pragma: no cover - every POSIX system has it
            return self
        if soft == resource.RLIM_INFINITY:
            return self
        room = max(16, (soft - FD_RESERVE) // 3)
        return self if self.max_connections <= room else replace(self, max_connections=room)


class Tracked(Protocol):
    """A client connection as the ``ConnectionTable`` sees it."""

    def expire(self, why: int) -> None:
        """Close because of ``why`` (``IDLE``, ``READING``, ``LINGERING`` or ``EVICTED``)."""
        ...


IDLE, READING, LINGERING, EVICTED = 0, 1, 2, 3


class ConnectionTable:
    """The router's client connections by state, oldest first, for timeouts and the cap.

    A connection is in at most one of ``idle`` (no request started: ``idle_timeout``),
    ``reading`` (a request started and not complete: ``read_timeout``) or ``lingering``
    (closed by the router, answer still being written: aborted after ``read_timeout``);
    a connection waiting for its model server is in none (the upstream deadline bounds it).
    Ordered dicts keep each state oldest first, so ``expire`` and eviction touch only the
    connections they close.
    """

    def __init__(self, limits: RouterLimits) -> None:
        self.limits = limits
        self.open: set[Tracked] = set()
        self.idle: OrderedDict[Tracked, float] = OrderedDict()
        self.reading: OrderedDict[Tracked, float] = OrderedDict()
        self.lingering: OrderedDict[Tracked, float] = OrderedDict()

    def admit(self, conn: Tracked, now: float) -> bool:
        """Add a new connection, closing the oldest idle (else slow) one at the cap."""
        if len(self.open) >= self.limits.max_connections:
            for table in (self.idle, self.reading):
                if table:
                    victim, _ = table.popitem(last=False)
                    self.open.discard(victim)
                    victim.expire(EVICTED)
                    break
            else:
                return False  # every connection waits for a model server: refuse this one
        self.open.add(conn)
        self.idle[conn] = now
        return True

    def set_idle(self, conn: Tracked, now: float) -> None:
        """``conn`` waits for its next request (from ``now``, or since it became idle)."""
        if conn not in self.idle:  # bytes that start no request do not reset the clock
            self.reading.pop(conn, None)
            self.idle[conn] = now

    def set_reading(self, conn: Tracked, now: float) -> None:
        """``conn`` has part of a request (its clock keeps running if already reading)."""
        self.idle.pop(conn, None)
        if conn not in self.reading:
            self.reading[conn] = now

    def set_busy(self, conn: Tracked) -> None:
        """``conn`` waits for a model server: no client deadline."""
        self.idle.pop(conn, None)
        self.reading.pop(conn, None)

    def set_closing(self, conn: Tracked, now: float) -> None:
        """The router closed ``conn``; it lingers until its last bytes are written."""
        self.open.discard(conn)
        self.set_busy(conn)
        self.lingering[conn] = now

    def gone(self, conn: Tracked) -> None:
        """``conn`` is closed for good."""
        self.open.discard(conn)
        self.set_busy(conn)
        self.lingering.pop(conn, None)

    def expire(self, now: float) -> None:
        """Close every connection whose deadline passed, oldest first."""
        limits = self.limits
        for table, timeout, why in (
            (self.idle, limits.idle_timeout, IDLE),
            (self.reading, limits.read_timeout, READING),
            (self.lingering, limits.read_timeout, LINGERING),
        ):
            cutoff = now - timeout
            while table:
                conn = next(iter(table))
                if table[conn] > cutoff:
                    break
                del table[conn]
                if why != LINGERING:
                    self.open.discard(conn)
                conn.expire(why)

    def everything(self) -> list[Tracked]:
        """Every connection still open or lingering (closed at shutdown)."""
        return [*self.open, *self.lingering]

    def clear(self) -> None:
        """Forget every connection (after a stop)."""
        self.open.clear()
        self.idle.clear()
        self.reading.clear()
        self.lingering.clear()
