"""The local router's request recorder: every request it served or mirrored, by version.

The embedded metric provider reads it directly (no Prometheus needed locally), and it can be
written out as a request log that ``modelcanary backtest`` replays. Records use the backtest's
row type, so a recorded run and a replayed log are analysed by the same code.
"""

from __future__ import annotations

import bisect
import csv
import threading
from collections.abc import Iterable
from pathlib import Path

from ..analysis._backtest import Request, interval_data
from ..analysis._measurements import IntervalData, Side, Window

_TRIM_BATCH = 1024  # drop expired records in batches: deleting a list's head is O(n)
_Row = tuple[float, Side, float, int, float | str | None, str | None]
TRANSPORT_ERROR_STATUS = 502
"""Status recorded when a version could not be reached (counts as an error, as a 5xx)."""


class Recorder:
    """Thread-safe, time-ordered request records with bounded retention."""

    def __init__(self, retention_seconds: float = 3600.0, max_records: int = 2_000_000) -> None:
        self.retention_seconds = retention_seconds
        self.max_records = max_records
        self._times: list[float] = []
        self._rows: list[_Row] = []
        self._mirrored: list[bool] = []
        self._lock = threading.Lock()

    def record(
        self,
        timestamp: float,
        version: Side,
        latency_ms: float,
        status: int,
        prediction: float | str | None = None,
        request_id: str | None = None,
        mirrored: bool = False,
    ) -> None:
        """Add one request (``mirrored``: a copy sent to the challenger, answer discarded)."""
        # a tuple of atoms, not an object: the garbage collector stops tracking it, so millions
        # of rows cost no collection pauses on the router's hot path
        row = (timestamp, version, latency_ms, status, prediction, request_id)
        with self._lock:
            if not self._times or timestamp >= self._times[-1]:  # the usual case: in order
                self._times.append(timestamp)
                self._rows.append(row)
                self._mirrored.append(mirrored)
            else:
                index = bisect.bisect_right(self._times, timestamp)
                self._times.insert(index, timestamp)
                self._rows.insert(index, row)
                self._mirrored.insert(index, mirrored)
            self._trim(timestamp)

    def _trim(self, now: float) -> None:
        cut = bisect.bisect_left(self._times, now - self.retention_seconds)
        cut = max(cut, len(self._rows) - self.max_records)
        if cut >= _TRIM_BATCH or (cut > 0 and len(self._rows) > self.max_records):
            del self._times[:cut], self._rows[:cut], self._mirrored[:cut]

    def rows(self, start: float = float("-inf"), end: float = float("inf")) -> list[Request]:
        """Records with ``start <= timestamp < end``, oldest first."""
        with self._lock:
            lo = bisect.bisect_left(self._times, start)
            hi = bisect.bisect_left(self._times, end)
            rows = self._rows[lo:hi]
        return [Request(*row) for row in rows]

    def interval_data(self, window: Window) -> IntervalData:
        """Measurements of both versions in ``window`` (mirrored pairs matched by request id)."""
        with self._lock:
            lo = bisect.bisect_left(self._times, window.start)
            hi = bisect.bisect_left(self._times, window.end)
            rows, mirrored = self._rows[lo:hi], any(self._mirrored[lo:hi])
        return interval_data(window, [Request(*row) for row in rows], mirrored)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def write_csv(self, path: str | Path, rows: Iterable[Request] | None = None) -> int:
        """Write a request log ``modelcanary backtest --data`` reads; returns the row count."""
        selected = list(self.rows() if rows is None else rows)
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["timestamp", "version", "latency_ms", "status", "prediction", "request_id"]
            )
            for r in selected:
                writer.writerow(
                    [
                        f"{r.timestamp:.6f}",
                        r.version,
                        f"{r.latency_ms:.3f}",
                        r.status,
                        "" if r.prediction is None else r.prediction,
                        r.request_id or "",
                    ]
                )
        return len(selected)
