"""``modelcanary mlflow-hook``: MLflow registry aliases start rollouts (run, register)."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import typer
from rich.markup import escape

from ..errors import SpecError, SpecIssue
from .common import EXIT_OK, guarded, out_console

hook_app = typer.Typer(
    help="MLflow registry hook: setting the challenger alias on a version starts a rollout.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the command group to the app."""
    app.add_typer(hook_app, name="mlflow-hook")


def _secret(value: str | None) -> str | None:
    """``--secret``: the value of the environment variable of that name, else the value."""
    if value is None:
        return os.environ.get("MODELCANARY_WEBHOOK_SECRET") or None
    return os.environ.get(value, value) or None


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise SpecError(
            SpecIssue("--listen", f"{value!r} is not host:port", "write e.g. 127.0.0.1:8765")
        ) from None


SECRET_HELP = (
    "Webhook secret, or the name of an environment variable holding it "
    "(default: $MODELCANARY_WEBHOOK_SECRET)."
)


@hook_app.command("run")
@guarded
def run(
    tracking_uri: str = typer.Option(..., "--tracking-uri", help="MLflow tracking/registry URI."),
    listen: str = typer.Option("127.0.0.1:8765", "--listen", help="Receiver address host:port."),
    secret: str | None = typer.Option(None, "--secret", help=SECRET_HELP),
    model: list[str] = typer.Option([], "--model", help="Registered model to watch (repeat)."),
    template: Path | None = typer.Option(
        None, "--template", help="Rollout template YAML (default: the model's rollout tag)."
    ),
    challenger_alias: str = typer.Option("challenger", "--challenger-alias"),
    champion_alias: str = typer.Option("champion", "--champion-alias"),
    poll_interval: float = typer.Option(10.0, "--poll-interval", help="Seconds between polls."),
) -> None:
    """Receive registry webhooks and poll the registry; roll out each new challenger."""
    from ..files import load
    from ..integrations.mlflow_hook import RegistryHook

    spec = load(template) if template is not None else None  # bad template: exit 2 now
    host, port = _listen(listen)
    key = _secret(secret)
    hook = RegistryHook(
        tracking_uri,
        secret=key,
        template=spec,
        models=model,
        challenger_alias=challenger_alias,
        champion_alias=champion_alias,
        poll_interval=poll_interval,
        host=host,
        port=port,
        on_outcome=lambda r: out_console.print(
            f"{escape(r.name)} v{r.version}: [bold]{r.outcome}[/] {escape(r.message)}"
        ),
    )
    with hook:
        where = f"webhooks on {hook.url}, " if key else "no secret: polling only, "
        out_console.print(f"modelcanary mlflow hook: {where}polling every {poll_interval:g}s")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a service manager's stop
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        out_console.print("stopping (aborting rollouts in flight)")
    raise typer.Exit(EXIT_OK)


@hook_app.command("register")
@guarded
def register_cmd(
    tracking_uri: str = typer.Option(..., "--tracking-uri", help="MLflow tracking/registry URI."),
    url: str = typer.Option(..., "--url", help="Public URL of `mlflow-hook run`'s receiver."),
    secret: str | None = typer.Option(None, "--secret", help=SECRET_HELP),
    name: str = typer.Option("modelcanary", "--name", help="Webhook name in MLflow."),
) -> None:
    """Create (or update) the MLflow webhook that notifies the hook of alias changes."""
    from ..integrations.mlflow_hook import register_webhook

    key = _secret(secret)
    if not key:
        raise SpecError(
            SpecIssue("--secret", "is required", "unsigned webhooks would let anyone roll out")
        )
    webhook_id = register_webhook(tracking_uri, url, key, name=name)
    out_console.print(f"webhook {escape(name)} ({webhook_id}) -> {escape(url)}")
    raise typer.Exit(EXIT_OK)
