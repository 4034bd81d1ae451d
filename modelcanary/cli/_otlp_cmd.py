"""``modelcanary otlp serve``: an OTLP/HTTP metrics receiver that providers read remotely."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from ..errors import SpecError, SpecIssue
from ._common import guarded

otlp_app = typer.Typer(
    help="OpenTelemetry: receive OTLP metrics from model servers.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the command group to the app."""
    app.add_typer(otlp_app, name="otlp")


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise SpecError(SpecIssue("--listen", f"{value!r} is not HOST:PORT", "e.g. 127.0.0.1:4318"))
    return host.strip("[]"), int(port)


@otlp_app.command("serve")
@guarded
def serve(
    listen: str = typer.Option(
        "127.0.0.1:4318", "--listen", help="HOST:PORT to listen on (port 0 picks a free one)."
    ),
    retention: float = typer.Option(
        3600.0, "--retention", help="Seconds of points kept per series (the longest window)."
    ),
    max_series: int = typer.Option(50_000, "--max-series", help="Series kept at most."),
) -> None:
    """Receive OTLP/HTTP metrics (POST /v1/metrics, JSON or protobuf) into memory.

    Prints 'otlp receiver on http://HOST:PORT' once ready; metric providers read it with
    provider: {type: opentelemetry, address: otlp+http://HOST:PORT}. Exits 0 on SIGINT/SIGTERM.
    """
    from ..providers._otlp_receiver import OTLPReceiver
    from ..providers._otlp_store import OTLPStore

    host, port = _listen(listen)
    try:
        receiver = OTLPReceiver(
            OTLPStore(retention=retention, max_series=max_series), host, port
        ).start()
    except OSError as exc:
        raise SpecError(
            SpecIssue("--listen", f"cannot listen on {listen}: {exc.strerror}", "pick a free port")
        ) from None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    typer.echo(f"otlp receiver on {receiver.url}", err=False)
    try:
        stop.wait()
    finally:
        receiver.close()
