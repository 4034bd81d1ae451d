"""Helpers shared by CLI commands: error printing and exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import ModelCanaryError, SpecError

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
        err_console.print(f"[bold red]error[/]{where}: {len(exc.issues)} problem(s)")
        for issue in exc.issues:
            path = f"[bold]{escape(issue.path)}[/]: " if issue.path else ""
            fix = f"\n    [dim]fix:[/] {escape(issue.hint)}" if issue.hint else ""
            err_console.print(f"  - {path}{escape(issue.message)}{fix}")
    else:
        err_console.print(f"[bold red]error[/]: {escape(str(exc))}")


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
