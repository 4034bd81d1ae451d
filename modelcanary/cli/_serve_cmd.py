"""``modelcanary serve MODEL_URI``: serve one MLflow model over HTTP until SIGINT/SIGTERM."""

from __future__ import annotations

import typer

from ._common import guarded


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("serve")(serve)


@guarded
def serve(
    model_uri: str | None = typer.Argument(
        None,
        help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH or a model directory "
        "(none with --llm-sim).",
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
    llm_sim: bool = typer.Option(
        False,
        "--llm-sim",
        help="Serve a simulated OpenAI-compatible LLM instead of a model (tests, demos).",
    ),
    ttft_ms: float = typer.Option(50.0, "--ttft-ms", help="--llm-sim: mean time to first token."),
    tokens_per_second: float = typer.Option(
        100.0, "--tokens-per-second", help="--llm-sim: output tokens per second."
    ),
    rate_limit_rate: float = typer.Option(
        0.0, "--rate-limit-rate", help="--llm-sim: share of requests answered 429."
    ),
    refusal_rate: float = typer.Option(
        0.0, "--refusal-rate", help="--llm-sim: share of requests answered with a refusal."
    ),
    quality: float = typer.Option(
        0.9, "--quality", help="--llm-sim: chance a task-set prompt gets its reference answer."
    ),
) -> None:
    """Serve a model with MLflow's scoring protocol plus Prometheus /metrics.

    Prints 'serving MODEL_URI on http://HOST:PORT' once ready; exits 0 on SIGINT/SIGTERM.
    """
    if llm_sim:
        _serve_llm_sim(
            host, port, model_name, fault_error_rate, fault_seed,
            ttft_ms=ttft_ms, tokens_per_second=tokens_per_second,
            rate_limit_rate=rate_limit_rate, refusal_rate=refusal_rate, quality=quality,
        )  # fmt: skip
    if model_uri is None:
        raise typer.BadParameter("give MODEL_URI, or --llm-sim", param_hint="MODEL_URI")
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


def _serve_llm_sim(
    host: str,
    port: int,
    model_name: str | None,
    error_rate: float,
    seed: int | None,
    **behaviour: float,
) -> None:
    """``serve --llm-sim``: the OpenAI-compatible simulator until SIGINT/SIGTERM."""
    from ..errors import SpecError, SpecIssue
    from ..serving._llm_server import serve_llm_sim_until_stopped
    from ..serving._llm_sim import LLMSimConfig

    try:
        config = LLMSimConfig(
            model=model_name or "sim-llm",
            error_rate=error_rate,
            seed=seed,
            ttft_ms=behaviour["ttft_ms"],
            tokens_per_second=behaviour["tokens_per_second"],
            rate_limit_rate=behaviour["rate_limit_rate"],
            refusal_rate=behaviour["refusal_rate"],
            quality=behaviour["quality"],
        )
    except ValueError as exc:
        raise SpecError(SpecIssue("--llm-sim options", str(exc), "give shares in [0, 1]")) from None
    raise typer.Exit(serve_llm_sim_until_stopped(config, host=host, port=port))
