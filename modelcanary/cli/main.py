"""Entry point of the ``modelcanary`` command: one typer app, one module per command group."""

from __future__ import annotations

import sys

import typer

from .. import __version__
from . import (
    backtest_cmd,
    cluster_cmd,
    control_cmd,
    convert_cmd,
    crd_cmd,
    demo_cmd,
    gate_cmd,
    mlflow_cmd,
    operator_cmd,
    otlp_cmd,
    render_cmd,
    run_cmd,
    serve_cmd,
    validate_cmd,
)

app = typer.Typer(
    name="modelcanary",
    help="Progressive delivery for ML models: shadow, canary, A/B and blue/green rollouts "
    "decided by inference SLIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = [
    validate_cmd,
    crd_cmd,
    convert_cmd,
    render_cmd,
    backtest_cmd,
    run_cmd,
    control_cmd,
    cluster_cmd,  # after control_cmd: adds a cluster mode to status/history/actions
    operator_cmd,
    demo_cmd,
    serve_cmd,
    gate_cmd,
    mlflow_cmd,
    otlp_cmd,
]
for _module in COMMAND_MODULES:
    _module.register(app)


@app.command("version")
def version() -> None:
    """Print the modelcanary version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry: run the app; usage errors exit 2 (click's convention)."""
    sys.exit(app(standalone_mode=True))


if __name__ == "__main__":  # pragma: no cover
    main()
