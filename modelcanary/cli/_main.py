"""Entry point of the ``modelcanary`` command: one typer app, one module per command group."""

from __future__ import annotations

import sys

import typer

from .. import __version__
from . import _backtest_cmd as backtest_cmd
from . import _cluster_cmd as cluster_cmd
from . import _control_cmd as control_cmd
from . import _convert_cmd as convert_cmd
from . import _crd_cmd as crd_cmd
from . import _demo_cmd as demo_cmd
from . import _gate_cmd as gate_cmd
from . import _mlflow_cmd as mlflow_cmd
from . import _operator_cmd as operator_cmd
from . import _otlp_cmd as otlp_cmd
from . import _render_cmd as render_cmd
from . import _rollback_cmd as rollback_cmd
from . import _run_cmd as run_cmd
from . import _serve_cmd as serve_cmd
from . import _validate_cmd as validate_cmd

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
    rollback_cmd,
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
