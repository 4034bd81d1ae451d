"""``modelcanary serve MODEL_URI``: serve one MLflow model over HTTP until SIGINT/SIGTERM."""

from __future__ import annotations

import typer

from ._common import guarded


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("serve")(serve)


@guarded
def serve(
    model_uri: str = typer.Argument(
        ...,
        help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH or a model directory.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on; 0 picks a free one."),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        help="MLflow tracking server for models:/ and runs:/ URIs (default: MLFLOW_TRACKING_URI).",
    ),
    model_name: str | None = typer.Option(
        None, "--model-name", help="Metric label 'model' (default: registered or directory name)."
    ),
    model_version: str | None = typer.Option(
        None, "--model-version", help="Metric label 'version' (default: resolved version)."
    ),
    fault_error_rate: float = typer.Option(
        0.0, "--fault-error-rate", help="Testing only: answer 500 to this fraction of requests."
    ),
    fault_latency_ms: float = typer.Option(
        0.0, "--fault-latency-ms", help="Testing only: add this delay to every request."
    ),
    fault_seed: int | None = typer.Option(
        None, "--fault-seed", help="Testing only: seed of the fault draws (reproducible runs)."
    ),
) -> None:
    """Serve a model with MLflow's scoring protocol plus Prometheus /metrics.

    Prints 'serving MODEL_URI on http://HOST:PORT' once ready; exits 0 on SIGINT/SIGTERM.
    """
    from ..serving._faults import Faults
    from ..serving._run import serve_until_stopped

    faults = Faults(fault_error_rate, fault_latency_ms, fault_seed)
    code = serve_until_stopped(
        model_uri,
        host=host,
        port=port,
        tracking_uri=tracking_uri,
        faults=faults,
        model_name=model_name,
        model_version=model_version,
    )
    raise typer.Exit(code)
