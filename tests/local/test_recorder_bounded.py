"""The recorder's memory is bounded by its configuration and flat at any duration.

It used to keep one Python tuple per request (~200 bytes with its floats and strings) and,
at ``max_records``, delete the head of three lists per record (O(n): the router fell from
22.7k to 560 requests/s after ~2 million requests, RSS 623 MB). Rows now live in compact
numpy chunks (~50 bytes a row) and dropping the oldest moves an offset. The throughput side
is measured by ``benchmarks/router.py --soak``; these tests pin memory and exactness.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy  # noqa: F401  (imported before tracing: its import is not the recorder's memory)

from modelcanary.analysis import Window
from modelcanary.analysis._backtest import Request, interval_data
from modelcanary.local._recorder import CHUNK_ROWS, Recorder


def _fill(rec: Recorder, start: int, count: int) -> None:
    for i in range(start, start + count):
        rec.record(
            1000.0 + i * 0.001,
            "challenger" if i % 3 == 0 else "champion",
            1.0 + (i % 97) * 0.01,
            200 if i % 50 else 503,
            prediction=(i % 7) / 7,
            request_id=f"5f1e2d3c4b5a-{i}",  # the router's own ids look like this
            mirrored=i % 3 == 0,
        )


def test_memory_is_bounded_by_max_records_and_flat_at_any_duration() -> None:
    cap = 50_000
    rec = Recorder(retention_seconds=1e9, max_records=cap)
    tracemalloc.start()
    try:
        _fill(rec, 0, 2 * cap)
        at_cap, _ = tracemalloc.get_traced_memory()
        _fill(rec, 2 * cap, 4 * cap)  # three times as long again
        later, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(rec) == cap
    assert later < cap * 100, f"{later / cap:.0f} bytes per row kept"  # was ~200 per row
    assert later - at_cap < CHUNK_ROWS * 300  # flat: at most one chunk's slack


def test_at_its_cap_it_keeps_exactly_the_newest_rows_in_order() -> None:
    rec = Recorder(retention_seconds=1e9, max_records=5_000)
    expected = []
    for i in range(12_345):
        label = None if i % 11 == 0 else ("fraud" if i % 2 else "ok")
        prediction: float | str | None = label if i % 5 else float(i)
        copy = i % 2 == 0 and i % 3 == 0  # some challenger rows are mirror copies
        row = Request(
            100.0 + i,
            "champion" if i % 2 else "challenger",
            i * 0.5,
            200,
            prediction,
            f"id-{i}",
            mirrored=copy,
        )
        rec.record(
            row.timestamp,
            row.version,
            row.latency_ms,
            row.status,
            row.prediction,
            row.request_id,
            mirrored=copy,
        )
        expected.append(row)
    kept = rec.rows()
    assert len(rec) == len(kept) == 5_000
    newest = expected[-5_000:]
    assert kept == newest
    window = Window(100.0 + 10_000, 100.0 + 11_000)
    data = rec.interval_data(window)
    assert (
        data.champion.counts
        == interval_data(window, rec.rows(window.start, window.end)).champion.counts
    )


def test_request_ids_labels_and_mirror_flags_survive_compaction() -> None:
    rec = Recorder()
    for i in range(3 * CHUNK_ROWS + 7):
        rec.record(
            i * 0.01,
            "challenger" if i % 2 else "champion",
            2.5,
            200,
            prediction=None if i % 4 == 0 else ("yes" if i % 3 else 0.25),
            request_id=None if i % 5 == 0 else f"client-id-{i}",
            mirrored=bool(i % 2),
        )
    rows = rec.rows()
    assert [r.request_id for r in rows[:6]] == [
        None,
        "client-id-1",
        "client-id-2",
        "client-id-3",
        "client-id-4",
        None,
    ]
    assert [r.prediction for r in rows[:4]] == [None, "yes", "yes", 0.25]
    assert len(rows) == 3 * CHUNK_ROWS + 7
    assert rec.interval_data(Window(0.0, 0.1)).mirrored is True
    assert rec.interval_data(Window(0.0, 0.01)).mirrored is False  # only the champion's row 0


def test_a_late_row_is_placed_in_order_even_in_a_compacted_chunk() -> None:
    rec = Recorder(retention_seconds=1e6)
    for i in range(2 * CHUNK_ROWS):
        rec.record(float(i), "champion", 1.0, 200)
    rec.record(10.5, "challenger", 1.0, 500, request_id="late")  # a clock step back
    rows = rec.rows(10.0, 12.0)
    assert [(r.timestamp, r.request_id) for r in rows] == [
        (10.0, None),
        (10.5, "late"),
        (11.0, None),
    ]
    times = [r.timestamp for r in rec.rows()]
    assert times == sorted(times) and len(times) == 2 * CHUNK_ROWS + 1


def test_retention_drops_old_rows_and_mirror_counts() -> None:
    rec = Recorder(retention_seconds=60)
    for i in range(3 * CHUNK_ROWS):
        rec.record(i * 0.1, "champion", 1.0, 200)
        if i % 10 == 0:
            rec.count_mirrors(i * 0.1, 10, 3)
    newest = (3 * CHUNK_ROWS - 1) * 0.1
    assert min(r.timestamp for r in rec.rows()) >= newest - 60
    assert len(rec) == len(rec.rows())
    everything = rec.mirror_coverage(Window(0.0, math.inf))
    assert everything.eligible == 10 * 61 and everything.dropped == 3 * 61  # 61 s kept
    assert everything.ratio == 0.7
