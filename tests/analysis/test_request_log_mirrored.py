"""The request log's ``mirrored`` column: the recorder writes it and the backtest trusts it.

Without it the backtest takes a challenger row whose ``request_id`` a champion row carries as
a mirror copy; a client that reuses its own ids (retries, a fixed id per session) then makes
served challenger requests look like copies: fewer served requests counted, and a window the
CUPED plan reads as mirrored.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from analysis_helpers import analysis, metric

from modelcanary.analysis import backtest
from modelcanary.analysis._requestlog import mirror_copies, parse_log
from modelcanary.errors import SpecError
from modelcanary.local import Recorder


def _served_log(*, with_column: bool) -> list[dict[str, Any]]:
    """A canary at 10 %: every challenger request is served, but the client sends the same
    x-request-id on the champion and challenger requests of a session (ids reused)."""
    rows: list[dict[str, Any]] = []
    for i in range(2000):
        session = f"s{(i // 10) % 50}"  # ten requests per session, one to the challenger
        version = "challenger" if i % 10 == 0 else "champion"
        row: dict[str, Any] = {
            "timestamp": i * 0.06,
            "version": version,
            "latency_ms": 20.0,
            "status": 200,
            "request_id": session,
        }
        if with_column:
            row["mirrored"] = 0
        rows.append(row)
    return rows


def test_a_mirrored_column_of_zeros_counts_reused_ids_as_served_requests() -> None:
    spec = analysis(metric("error-rate", threshold_range={"max": 5}), step_weights=[10])
    inferred = backtest(spec, _served_log(with_column=False))
    told = backtest(spec, _served_log(with_column=True))
    assert inferred.challenger_requests_before_decision == told.challenger_requests_before_decision
    assert told.challenger_requests_before_decision > 0
    # the ids alone make every served challenger request a copy; the column says otherwise
    assert inferred.challenger_served_before_decision == 0
    assert told.challenger_served_before_decision == told.challenger_requests_before_decision


def test_the_recorders_log_carries_the_flag_and_parses_back(tmp_path: Path) -> None:
    rec = Recorder()
    rec.record(1.0, "champion", 10.0, 200, request_id="a")
    rec.record(1.1, "challenger", 12.0, 200, request_id="a", mirrored=True)
    rec.record(2.0, "challenger", 11.0, 200, request_id="a")  # a client reusing its id
    path = tmp_path / "log.csv"
    assert rec.write_csv(path) == 3
    with path.open() as handle:
        lines = list(csv.DictReader(handle))
    assert [line["mirrored"] for line in lines] == ["0", "1", "0"]
    rows = parse_log(lines)
    assert [r.mirrored for r in rows] == [False, True, False]
    assert mirror_copies(rows) == [False, True, False]
    # the same rows without the flag: the id pairs decide, and the reused id is a "copy"
    bare = [{k: v for k, v in line.items() if k != "mirrored"} for line in lines]
    assert mirror_copies(parse_log(bare)) == [False, True, True]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), (1.0, True), (True, True), ("0", False), (0, False), ("", None)],
)
def test_the_flag_reads_what_csv_files_and_dataframes_hold(value: Any, expected: Any) -> None:
    row = {"timestamp": 1, "version": "challenger", "latency_ms": 3, "status": 200}
    assert parse_log([{**row, "mirrored": value}])[0].mirrored is expected


@pytest.mark.parametrize(
    ("version", "value", "words"),
    [
        ("challenger", "maybe", "mirrored 'maybe' is not 0 or 1"),
        ("challenger", 2, "mirrored 2 is not 0 or 1"),
        ("champion", "1", "mirrored is 1 on a champion row"),
    ],
)
def test_a_bad_flag_names_the_row_and_the_fix(version: str, value: Any, words: str) -> None:
    row = {"timestamp": 1, "version": version, "latency_ms": 3, "status": 200, "mirrored": value}
    with pytest.raises(SpecError) as caught:
        parse_log([row, row])
    text = str(caught.value)
    assert "log row 1" in text and "log row 2" in text and words in text, text
    assert "give" in text  # the fix
