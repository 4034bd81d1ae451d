"""The local router's LLM log: every chat/completions exchange it served or mirrored.

Implements ``LLMSource`` for the embedded provider (``Recorder.interval_data`` puts a
window's exchanges in ``IntervalData.llm``). Bounded like the request recorder, O(1) per
record at any duration: exchanges are appended in the order they end (an answer ends after
its request arrived, so this order is nearly, not exactly, the ``timestamp`` order), the
oldest is dropped by moving an offset past ``max_records`` or once it ended more than
``retention_seconds`` before the newest, and the list is compacted when half of it is
dropped (amortised O(1)). A window query starts, by bisection on the end times, at the first
exchange that ended inside or after the window (none that arrived in it ended before) and
sorts what it keeps by arrival.
"""

from __future__ import annotations

import bisect
import threading

from ..analysis._llm_records import LLMExchange
from ..analysis._measurements import Window

MAX_LLM_RECORDS = 200_000
"""Exchanges kept by default (each holds up to ``MAX_ANSWER_CHARS`` of answer text)."""
_COMPACT_AT = 4096


class LLMLog:
    """Thread-safe, bounded log of LLM exchanges (the ``LLMSource`` of the local runtime)."""

    def __init__(
        self, retention_seconds: float = 3600.0, max_records: int = MAX_LLM_RECORDS
    ) -> None:
        if max_records < 1 or not retention_seconds > 0:
            raise ValueError("LLMLog needs max_records >= 1 and retention_seconds > 0")
        self.retention_seconds = retention_seconds
        self.max_records = max_records
        self._ends: list[float] = []
        """When each exchange ended (epoch seconds, never decreasing)."""
        self._items: list[LLMExchange] = []
        self._head = 0
        """Entries before this index are dropped."""
        self.total = 0
        """Exchanges ever added (dropped ones included)."""
        self._lock = threading.Lock()

    def add(self, exchange: LLMExchange) -> None:
        """Keep one exchange (it ended now, or at its timestamp plus latency if later)."""
        end = exchange.timestamp + exchange.latency_ms / 1000.0
        with self._lock:
            ends = self._ends
            if ends and end < ends[-1]:
                end = ends[-1]  # a clock step back: keep the end times sorted
            ends.append(end)
            self._items.append(exchange)
            self.total += 1
            if len(ends) - self._head > self.max_records:
                self._head += 1
            self._expire(end)

    def _expire(self, newest: float) -> None:
        ends, cut = self._ends, newest - self.retention_seconds
        head = self._head
        while head < len(ends) and ends[head] < cut:
            head += 1
        if head >= _COMPACT_AT and head * 2 >= len(ends):
            del ends[:head]
            del self._items[:head]
            head = 0
        self._head = head

    def llm_exchanges(self, window: Window) -> list[LLMExchange]:
        """The exchanges whose request arrived inside ``window``, oldest first."""
        with self._lock:
            start = max(self._head, bisect.bisect_left(self._ends, window.start))
            found = [e for e in self._items[start:] if window.start <= e.timestamp < window.end]
        found.sort(key=lambda e: e.timestamp)
        return found

    def __len__(self) -> int:
        with self._lock:
            return len(self._ends) - self._head
