"""Helpers shared by CLI commands: error printing, exit codes and the status displays that the
local (``run``, ``status``, ``history``) and cluster (``watch``, ``--cluster``) commands share."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import ModelCanaryError, SpecError

if TYPE_CHECKING:
    from ..spec import AnalysisRecord, CheckRecord, RolloutStatus

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INCONCLUSIVE = 3

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def print_error(exc: ModelCanaryError) -> None:
    """Print an error for a person: the message and each issue, never a traceback."""
    if isinstance(exc, SpecError):
        where = f" in {escape(exc.source)}" if exc.source else ""
        err_console.print(f"[bold red]error[/]{where}: {problem_count(exc)}")
        for issue in exc.issues:
            path = f"[bold]{escape(issue.path)}[/]: " if issue.path else ""
            fix = f"\n    [dim]fix:[/] {escape(issue.hint)}" if issue.hint else ""
            err_console.print(f"  - {path}{escape(issue.message)}{fix}")
    else:
        err_console.print(f"[bold red]error[/]: {escape(str(exc))}")


def problem_count(exc: SpecError) -> str:
    """``3 problem(s)``; for a capped list (its last issue stands for the ones left out)
    ``showing 50 of 20,000 problems``: the summary line is not a problem of its own."""
    listed = [issue for issue in exc.issues if not issue.omitted]
    if len(listed) == len(exc.issues):
        return f"{len(listed)} problem(s)"
    total = len(listed) + sum(issue.omitted for issue in exc.issues)
    return f"showing {len(listed):,} of {total:,} problems"


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn SpecError into exit 2 and other modelcanary errors into exit 1, with a clean message."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SpecError as exc:
            print_error(exc)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except ModelCanaryError as exc:
            print_error(exc)
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper


def status_grid(where: str, status: RolloutStatus, threshold: int) -> Table:
    """The head of a live rollout view: rollout and phase, weights, intervals and failed checks
    (callers add their own rows)."""
    head = Table.grid(padding=(0, 2))
    head.add_row("[bold]rollout[/]", escape(where), "[bold]phase[/]", escape(status.phase))
    head.add_row(
        "[bold]challenger weight[/]",
        f"{status.canary_weight}%",
        "[bold]mirror[/]",
        f"{status.mirror_weight}%",
    )
    head.add_row(
        "[bold]intervals[/]",
        str(status.iterations),
        "[bold]failed checks[/]",
        f"{status.failed_checks}/{threshold}",
    )
    return head


def check_cells(check: CheckRecord) -> tuple[str, str, str, str, str, str]:
    """One check as the cells of a ``metric, value, min, max, verdict, why`` table row."""
    return (
        escape(check.metric),
        "-" if check.value is None else f"{check.value:.4g}",
        "" if check.min is None else f"{check.min:g}",
        "" if check.max is None else f"{check.max:g}",
        escape(check.verdict),
        escape(check.reason),
    )


def print_history(records: Sequence[AnalysisRecord], as_json: bool) -> None:
    """``history``: the records as JSON, or one line per analysis interval (time, weights,
    verdict, message); "no analysis interval yet" on stderr when there is none."""
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    if not records:
        err_console.print("no analysis interval yet")
        return
    for r in records:
        typer.echo(
            f"{r.time}  weight {r.canary_weight:>3}%  mirror {r.mirror_weight:>3}%  "
            f"{r.verdict:<12}  {r.message}"
        )
