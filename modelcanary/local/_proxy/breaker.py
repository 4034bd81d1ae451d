"""A connect circuit breaker for one model server: stop dialling a server that is gone.

A challenger whose process exited refuses every connection. Without a breaker each call
routed or mirrored to it opens a new connection that fails (a system call, a task, an
exception, a recorded error per request), which cut the champion's throughput to a quarter
when every champion request was mirrored to a dead challenger.

The breaker counts consecutive connect failures (refused, unreachable, connect timeout).
At ``threshold`` it opens: calls to the server are refused at once without dialling
(``blocked``), for ``cooldown`` seconds. Then it is half-open: one call is let through as a
probe (``allow``), and the next probe waits twice as long (up to ``max_cooldown``) unless a
call succeeds, which closes the breaker. A probe that hangs is no obstacle: the next one is
let through after the cooldown anyway, so the breaker never stays stuck.

Successes are connections made and complete answers; anything else (answers with an error
status, timeouts of a connected call) is not the breaker's business: the analysis judges it.
Used on the router's event loop only (no lock).
"""

from __future__ import annotations


class ConnectBreaker:
    """Consecutive connect failures open it; while open, one probe per cooldown goes through."""

    __slots__ = (
        "backoff",
        "cooldown",
        "failures",
        "last_error",
        "max_cooldown",
        "open_until",
        "opened",
        "threshold",
    )

    def __init__(self, threshold: int = 5, cooldown: float = 1.0, max_cooldown: float = 10.0):
        if threshold < 1 or cooldown <= 0 or max_cooldown < cooldown:
            raise ValueError("breaker: threshold >= 1 and 0 < cooldown <= max_cooldown")
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.failures = 0
        """Consecutive connect failures."""
        self.open_until = 0.0
        """0 when closed; else the ``perf_counter`` time the next probe may go (open)."""
        self.backoff = cooldown
        self.opened = 0
        """Times the breaker opened (a closed -> open transition)."""
        self.last_error = ""

    @property
    def is_open(self) -> bool:
        """Open or half-open: calls are refused except one probe per cooldown."""
        return self.open_until > 0.0

    def blocked(self, now: float) -> bool:
        """True when a call now would be refused (open, and no probe is due): no change."""
        return now < self.open_until

    def allow(self, now: float) -> bool:
        """May a call dial the server now? When open, the first call after the cooldown is
        let through as the probe and the next probe is scheduled (backoff doubled)."""
        if not self.open_until:
            return True
        if now < self.open_until:
            return False
        self.open_until = now + self.backoff
        self.backoff = min(self.backoff * 2.0, self.max_cooldown)
        return True

    def success(self) -> None:
        """A connection was made or an answer completed: close the breaker."""
        self.failures = 0
        self.open_until = 0.0
        self.backoff = self.cooldown

    def failure(self, now: float, error: str) -> None:
        """A connect attempt failed; open the breaker at ``threshold`` in a row."""
        self.failures += 1
        self.last_error = error
        if not self.open_until and self.failures >= self.threshold:
            self.open_until = now + self.backoff
            self.backoff = min(self.backoff * 2.0, self.max_cooldown)
            self.opened += 1
