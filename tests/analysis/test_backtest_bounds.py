"""Backtest on bad data: every bad cell, span and file is exit 2 naming the row (issue 12.6).

One millisecond timestamp among seconds used to make ``modelcanary backtest`` allocate one
list per 30 s window up to it (2.7 GB in 25 s, then MemoryError); ``1e308`` gave a
traceback. Now values are range-checked as they are read, the span is capped at
``max_windows`` analysis intervals (``--max-intervals``) and windows are grouped sparsely,
so memory follows the rows, never the span.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from analysis_helpers import analysis, metric, plan_log
from typer.testing import CliRunner

from modelcanary.analysis import backtest
from modelcanary.analysis._backtest import parse_log
from modelcanary.cli._main import app
from modelcanary.errors import SpecError

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "examples" / "backtest-rollout.yaml"
HEALTHY = REPO / "examples" / "backtest-healthy.csv"
EXE = str(Path(sys.executable).with_name("modelcanary"))
ERRORS = analysis(metric("error-rate", threshold_range={"max": 0.05}))
GOOD = {"timestamp": "1700000000", "version": "champion", "latency_ms": "50", "status": "200"}


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("timestamp", "1700000000175", "looks like milliseconds"),
        ("timestamp", "1e308", "outside 0-10000000000 s"),
        ("timestamp", "-5", "outside 0-"),
        pytest.param("timestamp", 10**400, "not a finite number", id="int-overflow"),
        ("latency_ms", "-1", "latency_ms '-1' is outside"),
        ("latency_ms", "1e308", "latency_ms '1e308' is outside"),
        ("latency_ms", "inf", "not a finite number"),
        ("status", "200.5", "not an HTTP status code"),
        ("status", "1000000", "not an HTTP status code"),
        ("status", "-1", "not an HTTP status code"),
        ("prediction", "inf", "prediction 'inf' is not a finite number"),
        pytest.param("version", "x" * 5000, "is not champion or challenger", id="long-cell"),
    ],
)
def test_bad_cells_name_the_row_the_column_and_the_fix(column: str, value: Any, words: str) -> None:
    rows = [dict(GOOD), {**GOOD, column: value}]
    with pytest.raises(SpecError) as info:
        parse_log(rows)
    (issue,) = info.value.issues
    assert issue.path == "log row 2" and words in issue.message and column in issue.message
    assert issue.hint and len(issue.message) < 200  # a 5000-character cell is cut


def test_bad_shapes_are_spec_errors_not_crashes() -> None:
    with pytest.raises(SpecError, match="columns differ in length"):
        parse_log({"timestamp": [1, 2], "version": ["champion"], "status": [200, 200]})
    with pytest.raises(SpecError, match="log row 1: list is not a row"):
        parse_log([[1700000000, "champion", 50, 200]])
    with pytest.raises(SpecError, match="int is not a request log"):
        parse_log(42)
    many = [{**GOOD, "status": "abc"} for _ in range(25)]
    with pytest.raises(SpecError, match="15 more bad row") as info:
        parse_log(many)
    assert len(info.value.issues) == 11


def test_a_span_beyond_max_windows_names_the_outlying_row() -> None:
    rows = plan_log(1, [(0, 0)] * 3, start=0.0)  # 90 s of relative timestamps
    rows.insert(40, {**rows[40], "timestamp": 1_000_040.0})  # 33,335 windows away
    with pytest.raises(SpecError) as info:
        backtest(ERRORS, rows)
    (issue,) = info.value.issues
    assert issue.path == "log row 41"
    assert "timestamp 1000040" in issue.message and "more than the maximum 10000" in issue.message
    assert "--max-intervals" in issue.hint


def test_a_long_span_within_max_windows_is_replayed_in_memory_that_follows_rows() -> None:
    rows = plan_log(2, [(10, 0)] * 3, start=0.0)
    rows.append({**rows[-1], "timestamp": 3e8})  # 10 million 30 s windows away
    tracemalloc.start()
    try:
        result = backtest(ERRORS, rows, max_windows=10**8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, f"{peak / 1e6:.0f} MB"
    assert result.verdict in ("promoted", "rolled_back", "inconclusive")
    assert len(result.intervals) < 20  # decided on the empty windows, not replayed to the end


def test_a_log_at_one_instant_gets_a_window_with_a_length() -> None:
    """1e-9 s added to a Unix time vanished: a zero-length window made throughput an error."""
    rows = [{**GOOD, "version": v} for v in ("champion", "challenger") * 10]
    spec = analysis(metric("throughput", threshold_range={"min": 1}, judge="threshold"))
    (interval,) = backtest(spec, rows).intervals
    assert interval.window.seconds == 1.0
    (check,) = interval.checks
    assert check.verdict == "pass" and check.value == 10.0, check.reason


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _limited() -> None:
    """Child process: at most 1.5 GB of address space (the old code asked for terabytes)."""
    limit = 1536 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("1700000012345.0", "looks like milliseconds"),  # milliseconds among seconds
        ("1e308", "outside 0-10000000000 s"),
    ],
)
def test_cli_one_bad_timestamp_is_exit_2_in_bounded_memory(
    tmp_path: Path, bad: str, words: str
) -> None:
    lines = HEALTHY.read_text().splitlines()
    cells = lines[50].split(",")
    lines[50] = ",".join([bad, *cells[1:]])
    log = tmp_path / "log.csv"
    log.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [EXE, "backtest", str(SPEC), "--data", str(log)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limited,
        env=env,
        check=False,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert "log row 50" in out.stderr and words in out.stderr and "Traceback" not in out.stderr


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["backtest", str(SPEC), *args])


def test_cli_reads_a_utf8_bom_and_rejects_bad_bytes_with_the_line(tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + HEALTHY.read_bytes())
    out = _cli("--data", str(bom), "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["verdict"] == "promoted"
    raw = HEALTHY.read_bytes().split(b"\n")
    raw[2] = raw[2] + b"\xff"
    bad = tmp_path / "latin.csv"
    bad.write_bytes(b"\n".join(raw))
    out = _cli("--data", str(bad))
    assert out.exit_code == 2 and "line 3" in out.output and "0xff" in out.output
    assert out.exception is None or isinstance(out.exception, SystemExit)


def test_cli_rejects_rows_wider_than_the_header_and_headers_without_columns(
    tmp_path: Path,
) -> None:
    wide = tmp_path / "wide.csv"
    lines = HEALTHY.read_text().splitlines()
    lines[7] += ",surplus"
    wide.write_text("\n".join(lines) + "\n")
    out = _cli("--data", str(wide))
    assert out.exit_code == 2, out.output
    assert "log row 7" in out.output and "has 7 fields but the header has 6" in out.output
    headless = tmp_path / "headless.csv"
    headless.write_text("time,version,latency_ms,code\n1700000000,champion,50,200\n")
    out = _cli("--data", str(headless))
    assert out.exit_code == 2 and "header has no 'timestamp', 'status' column" in out.output


def test_cli_refuses_a_line_longer_than_the_cap(tmp_path: Path) -> None:
    flat = tmp_path / "flat.csv"
    flat.write_text("timestamp,version,latency_ms,status\n" + "1" * (2 * 1024 * 1024))
    out = _cli("--data", str(flat))
    assert out.exit_code == 2 and "line 2" in out.output and "longer than" in out.output


def test_cli_max_intervals_bounds_the_span(tmp_path: Path) -> None:
    rows = plan_log(3, [(0, 100)] * 2)
    rows.append({**rows[-1], "timestamp": rows[-1]["timestamp"] + 86_400})  # a day later
    log = _write(tmp_path / "day.csv", rows)
    out = _cli("--data", str(log), "--max-intervals", "100")
    assert out.exit_code == 2, out.output
    assert f"log row {len(rows)}" in out.output and "more than the maximum 100" in out.output
    out = _cli("--data", str(log), "--json")  # 2,880 intervals: within the default 10,000
    assert out.exit_code in (1, 3), out.output
    json.loads(out.output, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
