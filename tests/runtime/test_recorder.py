"""The local router's recorder: windows, interval data with mirrored pairs, request-log export."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

from modelcanary.analysis import Counts, PairedPredictions, Window
from modelcanary.analysis._backtest import parse_log
from modelcanary.local._recorder import Recorder


def test_windows_and_interval_data_pair_mirrored_requests() -> None:
    rec = Recorder()
    for i in range(10):
        rec.record(
            100.0 + i, "champion", 10.0 + i, 200, prediction=float(i % 2), request_id=f"r{i}"
        )
    for i in range(0, 10, 2):  # mirrored copies of every other request
        rec.record(
            100.2 + i,
            "challenger",
            20.0,
            200 if i else 503,
            prediction=1.0,
            request_id=f"r{i}",
            mirrored=True,
        )
    assert len(rec.rows(100, 105)) == 5 + 3
    data = rec.interval_data(Window(100, 110))
    assert data.mirrored is True
    assert isinstance(data.champion.counts, Counts) and data.champion.counts.total == 10
    assert isinstance(data.challenger.counts, Counts)
    assert (data.challenger.counts.total, data.challenger.counts.errors) == (5, 1)
    assert isinstance(data.paired, PairedPredictions) and len(data.paired) == 5
    assert list(data.paired.champion) == [0.0] * 5 and list(data.paired.challenger) == [1.0] * 5


def test_out_of_order_records_stay_sorted_and_retention_trims() -> None:
    rec = Recorder(retention_seconds=100, max_records=10_000)
    for t in (5.0, 3.0, 4.0, 1.0):
        rec.record(t, "champion", 1.0, 200)
    assert [r.timestamp for r in rec.rows()] == [1.0, 3.0, 4.0, 5.0]
    for i in range(1100):  # older than the retention once the next record arrives
        rec.record(10.0 + i * 0.01, "challenger", 1.0, 200)
    rec.record(1000.0, "challenger", 1.0, 200)
    assert [r.timestamp for r in rec.rows()] == [1000.0]  # expired records trimmed in a batch


def test_concurrent_writers_lose_nothing() -> None:
    rec = Recorder()

    def write(offset: int) -> None:
        for i in range(2000):
            rec.record(offset + i * 0.001, "champion", 1.0, 200)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rec) == 8000
    times = [r.timestamp for r in rec.rows()]
    assert times == sorted(times)


def test_request_log_round_trips_through_backtest_parser(tmp_path: Path) -> None:
    rec = Recorder()
    rec.record(1.5, "champion", 12.25, 200, prediction="fraud", request_id="a")
    rec.record(1.75, "challenger", 30.5, 502, prediction=None, request_id="a", mirrored=True)
    path = tmp_path / "log.csv"
    assert rec.write_csv(path) == 2
    with path.open() as handle:
        rows = parse_log(list(csv.DictReader(handle)))
    assert [(r.version, r.status, r.prediction, r.request_id) for r in rows] == [
        ("champion", 200, "fraud", "a"),
        ("challenger", 502, None, "a"),
    ]
