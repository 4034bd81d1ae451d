"""``modelcanary validate FILE|-``: check a ModelRollout; exit 0 valid, 2 with every problem."""

from __future__ import annotations

import typer
from rich.markup import escape

from .._files import load
from ..spec._warnings import spec_warnings
from ._common import err_console, guarded, out_console


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("validate")(validate)


@guarded
def validate(
    file: str = typer.Argument(..., help="ModelRollout YAML file, or - for standard input."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing when valid."),
) -> None:
    """Validate a ModelRollout file and explain every problem with its field path and fix."""
    rollout = load(file)
    if not quiet:
        analysis = rollout.spec.analysis
        plan = analysis.weights() or [s.weight for s in analysis.steps or []]
        out_console.print(
            f"[green]valid[/]: ModelRollout [bold]{rollout.name}[/] - strategy "
            f"{analysis.strategy}{' with shadow' if analysis.mirror else ''}, router "
            f"{rollout.spec.router.provider}, {len(analysis.metrics)} metric(s)"
            + (f", weights {plan}" if plan else "")
            + (f", {analysis.iterations} iteration(s)" if analysis.iterations else "")
        )
    for warning in spec_warnings(rollout):  # valid, but may not do what is meant (stderr)
        err_console.print(f"[yellow]warning[/]: {escape(str(warning))}")
