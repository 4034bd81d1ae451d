"""The local router's request recorder: every request it served or mirrored, by version.

The embedded metric provider reads it directly (no Prometheus needed locally), and it can be
written out as a request log that ``modelcanary backtest`` replays. Records use the backtest's
row type, so a recorded run and a replayed log are analysed by the same code.

Storage is bounded and costs O(1) per record at any duration: rows are appended to a small
open chunk and every ``CHUNK_ROWS`` rows the chunk is sealed into compact numpy columns
(:mod:`._chunk`: about 47 bytes a row, 61 with a 16-character unit key, instead of ~300
for Python objects). Past ``max_records`` the oldest row is dropped by moving an offset,
and a whole chunk is freed once all its rows are gone; nothing is ever shifted.
Rows older than ``retention_seconds`` before the newest one are dropped the same way.
Memory is therefore at most ``max_records + CHUNK_ROWS`` rows.

Beside the rows it keeps per-second counts of mirror copies: how many the mirror weight asked
for (eligible) and how many were dropped (queue or buffer full, challenger's breaker open), so
the mirror coverage of any window can be reported (:meth:`Recorder.mirror_coverage`).

Beside it, ``llm`` (an :class:`LLMLog`, same retention) keeps the router's chat/completions
exchanges; once it has any, :meth:`Recorder.interval_data` gives the window's exchanges of
both versions in ``IntervalData.llm`` (the LLM SLIs, win rates and costs are computed from
them).

Each row may carry a unit key: the user or session the request belongs to (the value of the
rollout's ``analysis.unitKey`` header, else the router's session-affinity cookie value). Once
any row has one, :meth:`Recorder.interval_data` gives both versions ``VersionData.units`` so
the analysis judges per user, not per request.

**Pre-period covariates (CUPED).** Champion requests before the challenger first *served* one
(or :meth:`Recorder.end_pre_period`) are the pre-period; later windows' ``units`` carry each
request's unit pre-period error rate (:mod:`._covariates`) and the analysis CUPED-adjusts.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import math
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from ..analysis._backtest import Request, interval_data
from ..analysis._measurements import IntervalData, Side, UnitRequests, Window
from ..analysis._measurements import MirrorCoverage as MirrorCoverage  # re-exported
from ._chunk import Chunk, Row
from ._covariates import MAX_COVARIATE_UNITS as MAX_COVARIATE_UNITS  # re-exported
from ._covariates import Covariates, pre_period_rates
from ._llm_log import MAX_LLM_RECORDS, LLMLog

CHUNK_ROWS = 2048
"""Rows per sealed chunk: the unit in which memory is freed (and the bound's slack)."""
MAX_MIRROR_BUCKETS = 100_000
"""Seconds of mirror counts kept at most (besides ``retention_seconds``)."""
TRANSPORT_ERROR_STATUS = 502
"""Status recorded when a version could not be reached (counts as an error, as a 5xx)."""

MAX_UNIT_CHARS = 32
"""Unit keys longer than this are stored as a 32-character hash (a client's cookie value
cannot widen the key column)."""


class Recorder:
    """Thread-safe, time-ordered request records, bounded in rows and in age."""

    def __init__(
        self,
        retention_seconds: float = 3600.0,
        max_records: int = 2_000_000,
        max_llm_records: int = MAX_LLM_RECORDS,
    ) -> None:
        if max_records < 1 or not retention_seconds > 0:
            raise ValueError("Recorder needs max_records >= 1 and retention_seconds > 0")
        self.llm = LLMLog(retention_seconds, max_llm_records)
        """The LLM exchanges the router records (bounded like the rows)."""
        self.retention_seconds = retention_seconds
        self.max_records = max_records
        self._chunks: deque[Chunk] = deque()
        self._times: list[float] = []
        """Timestamps of the open chunk (sorted)."""
        self._open: list[Row] = []
        self._head = 0
        """Rows already dropped from the oldest chunk (the first sealed one, else the open)."""
        self._count = 0
        self._newest = -math.inf
        self._mirrors: deque[list[int]] = deque()
        """``[second, eligible, dropped]`` per second with mirror copies, oldest first."""
        self._keyed = False
        """Set by the first request with a unit key: from then on every window's data carries
        ``VersionData.units`` (once judged per unit, a metric's tests stay per unit)."""
        self._pre_end: float | None = None
        """When the pre-period ended: the first served challenger request, or as given."""
        self._covariates: Covariates | None = None
        """Each unit's pre-period error rate (computed once, after the pre-period ended)."""
        self._lock = threading.Lock()

    # -- writing ------------------------------------------------------------------------
    def record(
        self,
        timestamp: float,
        version: Side,
        latency_ms: float,
        status: int,
        prediction: float | str | None = None,
        request_id: str | None = None,
        mirrored: bool = False,
        unit: str | None = None,
    ) -> None:
        """Add one request (``mirrored``: a copy sent to the challenger, answer discarded;
        ``unit``: the user or session key of the request: its unit header or affinity
        cookie value)."""
        if unit and len(unit) > MAX_UNIT_CHARS:
            unit = hashlib.blake2b(unit.encode(), digest_size=MAX_UNIT_CHARS // 2).hexdigest()
        # a tuple of atoms, not an object: the garbage collector stops tracking it
        row = (timestamp, version, latency_ms, status, prediction, request_id, mirrored, unit or "")
        with self._lock:
            if unit:
                self._keyed = True
            served = version == "challenger" and not mirrored and self._covariates is None
            if served and (self._pre_end is None or timestamp < self._pre_end):
                self._pre_end = timestamp  # the challenger's first served request
            if timestamp >= self._newest:  # the usual case: in order
                self._newest = timestamp
                self._times.append(timestamp)
                self._open.append(row)
            elif not self._insert(row):
                return
            self._count += 1
            if self._count > self.max_records:
                self._drop_oldest()
            if len(self._times) >= CHUNK_ROWS:
                self._chunks.append(Chunk(self._open))
                self._times, self._open = [], []
                self._expire()

    def end_pre_period(self, timestamp: float) -> None:
        """End the champion's pre-period at ``timestamp`` (otherwise: the challenger's first
        served request). Ignored once the covariates were computed: they never change."""
        with self._lock:
            if self._covariates is None:
                self._pre_end = timestamp

    @property
    def pre_period_end(self) -> float | None:
        """When the pre-period ended (None: the challenger has not served a request yet)."""
        return self._pre_end

    def count_mirrors(self, timestamp: float, eligible: int, dropped: int) -> None:
        """Add mirror copies asked for and dropped around ``timestamp`` (per-second counts)."""
        second = int(timestamp)
        with self._lock:
            buckets = self._mirrors
            if buckets and buckets[-1][0] == second:
                buckets[-1][1] += eligible
                buckets[-1][2] += dropped
            elif not buckets or second > buckets[-1][0]:
                buckets.append([second, eligible, dropped])
                if len(buckets) > MAX_MIRROR_BUCKETS:
                    buckets.popleft()
            else:  # a clock step back: keep order, count it in its own second
                index = bisect.bisect_left([b[0] for b in buckets], second)
                if index < len(buckets) and buckets[index][0] == second:
                    buckets[index][1] += eligible
                    buckets[index][2] += dropped
                else:
                    buckets.insert(index, [second, eligible, dropped])

    def _insert(self, row: Row) -> bool:
        """Place an out-of-order row (rare: a clock step); False when older than all kept."""
        timestamp = row[0]
        if timestamp < self._newest - self.retention_seconds:
            return False
        times, chunks = self._times, self._chunks
        if not chunks or (times and timestamp >= times[0]):
            index = bisect.bisect_right(times, timestamp)
            if not chunks and index < self._head:
                return False  # older than rows already dropped
            times.insert(index, timestamp)
            self._open.insert(index, row)
            return True
        for k in range(len(chunks) - 1, -1, -1):  # from the newest: the row is nearly in order
            chunk = chunks[k]
            if k and timestamp < chunk.times[0]:
                continue
            index = int(chunk.times.searchsorted(timestamp, "right"))
            if k == 0 and index < self._head:
                return False
            rows = chunk.rows(0, len(chunk))
            rows.insert(index, row)
            chunks[k] = Chunk(rows)
            return True
        return False

    def _drop_oldest(self) -> None:
        self._head += 1
        self._count -= 1
        if self._chunks and self._head >= len(self._chunks[0]):
            self._chunks.popleft()
            self._head = 0

    def _expire(self) -> None:
        """Drop rows and mirror counts older than ``retention_seconds`` before the newest."""
        cut = self._newest - self.retention_seconds
        chunks = self._chunks
        while chunks and chunks[0].times[-1] < cut:
            self._count -= len(chunks.popleft()) - self._head
            self._head = 0
        first = chunks[0].search(cut) if chunks else bisect.bisect_left(self._times, cut)
        if first > self._head:
            self._count -= first - self._head
            self._head = first
        buckets = self._mirrors
        while buckets and buckets[0][0] < cut - 1:
            buckets.popleft()

    # -- reading ------------------------------------------------------------------------
    def _select(self, start: float, end: float) -> tuple[list[tuple[Chunk, int, int]], list[Row]]:
        """Chunk slices and open rows with ``start <= timestamp < end`` (taken under the lock;
        chunks are immutable, so they are read after it is released)."""
        with self._lock:
            self._expire()
            parts = []
            for k, chunk in enumerate(self._chunks):
                if chunk.times[-1] < start:
                    continue
                if chunk.times[0] >= end:
                    break
                lo = max(chunk.search(start), self._head if k == 0 else 0)
                hi = chunk.search(end)
                if hi > lo:
                    parts.append((chunk, lo, hi))
            lo = bisect.bisect_left(self._times, start)
            if not self._chunks:
                lo = max(lo, self._head)
            hi = bisect.bisect_left(self._times, end)
            tail = self._open[lo:hi] if hi > lo else []
        return parts, tail

    def _rows(self, start: float, end: float) -> Iterator[Row]:
        parts, tail = self._select(start, end)
        for chunk, lo, hi in parts:
            yield from chunk.rows(lo, hi)
        yield from tail

    def rows(self, start: float = float("-inf"), end: float = float("inf")) -> list[Request]:
        """Records with ``start <= timestamp < end``, oldest first (with their unit keys and
        mirror-copy flags)."""
        return [
            Request(*row[:6], unit=row[7] or None, mirrored=bool(row[6]))
            for row in self._rows(start, end)
        ]

    def interval_data(self, window: Window) -> IntervalData:
        """Measurements of both versions in ``window`` (mirrored pairs matched by request id;
        ``llm``: the window's LLM exchanges, once the router recorded any).

        Once any request was recorded with a unit key (a unit header or session affinity),
        both versions also get ``units``: one row per request (key, failed, latency), an
        empty key for a request of its own; the sequential judge then tests per user instead
        of per request.
        """
        rows = list(self._rows(window.start, window.end))
        mirrored = any(row[6] for row in rows)
        data = interval_data(window, [Request(*row[:6]) for row in rows], mirrored)
        if self.llm.total:  # an LLM rollout: its exchanges, even none in this window
            data = replace(data, llm=tuple(self.llm.llm_exchanges(window)))
        if not self._keyed:
            return data
        covariates = self._covariates_for(window)
        return replace(
            data,
            challenger=replace(data.challenger, units=_units(rows, "challenger", covariates)),
            champion=replace(data.champion, units=_units(rows, "champion", covariates)),
        )

    def _covariates_for(self, window: Window) -> Covariates | None:
        """The units' pre-period rates once the pre-period is over and ``window`` reaches past
        it (computed on first use, then fixed); None before or without pre-period requests."""
        end = self._pre_end
        if end is None or window.end <= end:
            return None
        if self._covariates is None:
            parts, tail = self._select(-math.inf, end)
            found = pre_period_rates(parts, tail, end)
            with self._lock:
                if self._covariates is None:
                    self._covariates = found
        return None if math.isnan(self._covariates.mean) else self._covariates

    def unit_keys(self, start: float = float("-inf"), end: float = float("inf")) -> list[str]:
        """The unit key of each record with ``start <= timestamp < end`` ("" for none)."""
        return [row[7] for row in self._rows(start, end)]

    def mirror_coverage(self, window: Window) -> MirrorCoverage:
        """Mirror copies asked for and dropped in ``window`` (to the second)."""
        start, end = math.floor(window.start), window.end
        with self._lock:
            eligible = dropped = 0
            for second, asked, lost in self._mirrors:
                if start <= second < end:
                    eligible += asked
                    dropped += lost
        return MirrorCoverage(eligible, dropped)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return self._count

    def write_csv(self, path: str | Path, rows: Iterable[Request] | None = None) -> int:
        """Write a request log ``modelcanary backtest --data`` reads; returns the row count.

        Requests keyed by user (session affinity, ``analysis.unitKey``) carry their key in the
        ``unit`` column, so the backtest judges them per user as the runtime did; the
        ``mirrored`` column marks the challenger's answers to mirror copies (1), so the backtest
        never has to infer them from request ids a client may reuse."""
        selected = list(self.rows() if rows is None else rows)
        columns = [
            "timestamp", "version", "latency_ms", "status", "prediction", "request_id", "mirrored"
        ]  # fmt: skip
        keyed = any(r.unit for r in selected)
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([*columns, "unit"] if keyed else columns)
            for r in selected:
                line = [
                    f"{r.timestamp:.6f}",
                    r.version,
                    f"{r.latency_ms:.3f}",
                    r.status,
                    "" if r.prediction is None else r.prediction,
                    r.request_id or "",
                    "" if r.mirrored is None else int(r.mirrored),
                ]
                writer.writerow([*line, r.unit or ""] if keyed else line)
        return len(selected)


def _units(rows: list[Row], side: Side, covariates: Covariates | None = None) -> UnitRequests:
    """One version's rows keyed by unit: key, failed (5xx) and latency per request, and each
    request's pre-period covariate once the pre-period is over."""
    import numpy as np

    mine = [row for row in rows if row[1] == side]
    return UnitRequests(
        tuple(row[7] for row in mine),
        np.array([row[3] >= 500 for row in mine], dtype=bool),
        np.array([row[2] for row in mine], dtype=np.float64),
        side,
        None
        if covariates is None
        else np.array([covariates.of(row[0], row[7]) for row in mine], dtype=np.float64),
    )
