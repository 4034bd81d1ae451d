"""``modelcanary demo``: train, register and roll out two challengers on this machine."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ._common import EXIT_FAILED, EXIT_OK, guarded, out_console


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("demo")(demo)


@guarded
def demo(
    workdir: Path = typer.Option(
        Path("modelcanary-demo"),
        "--workdir",
        help="Where the MLflow registry (sqlite) and reports go.",
    ),
    interval: str = typer.Option("3s", "--interval", help="Analysis interval of the rollouts."),
) -> None:
    """Two real rollouts: a healthy challenger is promoted, a faulty one is rolled back."""
    from ..integrations._mlflow_demo import quiet, run_demo  # lazy: mlflow and scikit-learn

    quiet()
    results = run_demo(workdir, interval=interval, say=lambda text: out_console.print(escape(text)))
    for result in results:
        out_console.print(f"report of the {result.name} rollout: {escape(str(result.report))}")
    expected = {"healthy": "promoted", "faulty": "rolled_back"}
    ok = all(expected[r.name] == r.outcome for r in results)
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)
