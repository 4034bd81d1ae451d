"""``modelcanary backtest FILE --data LOG.csv [--json]``: replay a request log through a rollout.

Exit codes: 0 promoted, 1 rolled back, 3 inconclusive, 2 bad input.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import typer
from rich.markup import escape
from rich.table import Table

from .._files import load
from ..errors import SpecError, SpecIssue
from ._common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_OK, guarded, out_console

EXIT_CODES = {"promoted": EXIT_OK, "rolled_back": EXIT_FAILED, "inconclusive": EXIT_INCONCLUSIVE}
_COLORS = {"pass": "green", "fail": "red", "inconclusive": "yellow", "error": "magenta"}


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("backtest")(backtest)


MAX_LINE_CHARS = 1 << 20
"""Longest CSV line read (1 MiB): a file without line breaks is refused, not slurped."""
REQUIRED_COLUMNS = ("timestamp", "version", "status")


def read_log(path: str) -> list[dict[str, str]]:
    """Rows of a CSV request log (header line required; UTF-8, a BOM is ignored).

    Bad bytes, over-long lines, rows with more fields than the header and a header without
    the required columns are SpecErrors naming the line or row, so the CLI exits 2.
    """
    try:
        with Path(path).open("rb") as handle:
            reader = csv.DictReader(_lines(handle, path))
            if not reader.fieldnames:
                raise SpecError(SpecIssue("--data", f"{path} is empty", "give a CSV with a header"))
            reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
            _check_header(reader.fieldnames)
            width = len(reader.fieldnames)
            rows: list[dict[str, str]] = []
            for row in reader:
                if None in row:
                    n = width + len(row[None])
                    raise SpecError(
                        SpecIssue(
                            f"log row {len(rows) + 1}",
                            f"has {n} fields but the header has {width} (line {reader.line_num})",
                            'quote values that contain commas ("a,b") or fix the header',
                        )
                    )
                rows.append(row)
            return rows
    except FileNotFoundError:
        raise SpecError(
            SpecIssue("--data", f"file {path!r} does not exist", "check the path")
        ) from None
    except (OSError, csv.Error) as exc:
        raise SpecError(
            SpecIssue("--data", f"cannot read {path!r}: {exc}", "give a readable UTF-8 CSV file")
        ) from None


def _lines(handle: BinaryIO, path: str) -> Iterator[str]:
    """Decoded lines, each at most :data:`MAX_LINE_CHARS` and strictly UTF-8 (line named)."""
    number = 0
    while line := handle.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise SpecError(
                SpecIssue(
                    "--data",
                    f"line {number} of {path!r} is longer than {MAX_LINE_CHARS} bytes",
                    "give one request per line (line breaks: \\n or \\r\\n)",
                )
            )
        try:
            text = line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(
                SpecIssue(
                    "--data",
                    f"line {number} of {path!r} is not UTF-8 (byte {line[exc.start]:#04x} at "
                    f"column {exc.start + 1})",
                    "save the log as UTF-8 text",
                )
            ) from None
        yield text


def _check_header(names: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        shown = ", ".join(repr(n[:40]) for n in names[:10])
        raise SpecError(
            SpecIssue(
                "--data",
                f"the header has no {', '.join(map(repr, missing))} column (it has {shown})",
                "first line: timestamp,version,latency_ms,status[,prediction,request_id]",
            )
        )


@guarded
def backtest(
    file: str = typer.Argument(..., help="ModelRollout YAML file, or - for standard input."),
    data: str = typer.Option(
        ...,
        "--data",
        "-d",
        help=(
            "CSV request log: timestamp, version, latency_ms, status"
            "[, prediction, request_id, unit, mirrored]."
        ),
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    max_intervals: int | None = typer.Option(
        None,
        "--max-intervals",
        min=1,
        help="Most analysis intervals the log may span (default 10000); beyond: exit 2.",
    ),
) -> None:
    """Replay a request log through the rollout's analysis: promoted, rolled back, inconclusive."""
    from ..analysis._backtest import MAX_WINDOWS
    from ..analysis._backtest import backtest as run_backtest

    rollout = load(file)
    try:
        result = run_backtest(rollout, read_log(data), max_windows=max_intervals or MAX_WINDOWS)
    except SpecError as exc:
        raise SpecError(exc.issues, source=data) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        raise typer.Exit(EXIT_CODES[result.verdict])
    table = Table(title=f"backtest of {rollout.name} on {escape(data)}", show_lines=False)
    for col in ("#", "time (s)", "plan", "verdict", "action", "why"):
        table.add_column(col)
    origin = result.intervals[0].window.start if result.intervals else 0.0
    for interval in result.intervals:
        plan = (
            f"mirror {interval.mirror_weight}%" if interval.mirror_weight else f"{interval.weight}%"
        )
        color = _COLORS.get(interval.verdict, "white")
        table.add_row(
            str(interval.index),
            f"{interval.window.start - origin:.0f}-{interval.window.end - origin:.0f}",
            plan,
            f"[{color}]{interval.verdict}[/]",
            interval.action,
            escape(interval.message),
        )
    out_console.print(table)
    when = "" if result.decided_after_s is None else f" after {result.decided_after_s:.0f}s"
    out_console.print(
        f"[bold]{result.verdict.replace('_', ' ')}[/]{when}: {escape(result.reason)} "
        f"({result.challenger_requests_before_decision} challenger requests, "
        f"{result.challenger_served_before_decision} served to users)"
    )
    raise typer.Exit(EXIT_CODES[result.verdict])


__all__ = ["EXIT_BAD_INPUT", "backtest", "read_log", "register"]
