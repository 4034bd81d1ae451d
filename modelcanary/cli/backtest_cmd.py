"""``modelcanary backtest FILE --data LOG.csv [--json]``: replay a request log through a rollout.

Exit codes: 0 promoted, 1 rolled back, 3 inconclusive, 2 bad input.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import SpecError, SpecIssue
from ..files import load
from .common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_OK, guarded, out_console

EXIT_CODES = {"promoted": EXIT_OK, "rolled_back": EXIT_FAILED, "inconclusive": EXIT_INCONCLUSIVE}
_COLORS = {"pass": "green", "fail": "red", "inconclusive": "yellow", "error": "magenta"}


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("backtest")(backtest)


def read_log(path: str) -> list[dict[str, str]]:
    """Rows of a CSV request log (header line required)."""
    file = Path(path)
    try:
        with file.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames:
                raise SpecError(SpecIssue("", f"{path} is empty", "give a CSV with a header line"))
            return [dict(row) for row in reader]
    except FileNotFoundError:
        raise SpecError(
            SpecIssue("--data", f"file {path!r} does not exist", "check the path")
        ) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError, csv.Error) as exc:
        raise SpecError(
            SpecIssue("--data", f"cannot read {path!r}: {exc}", "give a readable UTF-8 CSV file")
        ) from None


@guarded
def backtest(
    file: str = typer.Argument(..., help="ModelRollout YAML file, or - for standard input."),
    data: str = typer.Option(
        ...,
        "--data",
        "-d",
        help="CSV request log: timestamp, version, latency_ms, status[, prediction, request_id].",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Replay a request log through the rollout's analysis: promoted, rolled back, inconclusive."""
    from ..analysis.backtest import backtest as run_backtest

    rollout = load(file)
    try:
        result = run_backtest(rollout, read_log(data))
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
