"""``modelcanary gate serve``: run the built-in gate/load-test service until Ctrl-C.

Exit codes: 0 after a clean shutdown (Ctrl-C or SIGTERM), 2 for a bad or unusable address.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import threading
from types import FrameType
from typing import Any

import typer
from rich.markup import escape

from .common import err_console

gate_app = typer.Typer(
    help="The built-in gate and load-test service (Flagger loadtester compatible).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the command group to the app."""
    gate_app.command("serve")(serve)
    app.add_typer(gate_app, name="gate")


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8090, "--port", min=1, max=65535, help="Port to listen on."),
    timeout: float = typer.Option(
        3600.0,
        "--timeout",
        min=0.001,
        help="Seconds a cmd/bash task may run before it is killed (Flagger's -timeout).",
    ),
    namespace_regexp: str | None = typer.Option(
        None,
        "--namespace-regexp",
        help="Only serve rollouts whose namespace matches this regular expression.",
    ),
) -> None:
    """Serve /gate/*, /rollback/* and / (cmd, bash tasks) until Ctrl-C.

    State is in memory: gates start closed and are lost on restart.

    The service runs the commands it is sent: keep it on loopback or a trusted network.
    """
    from ..hooks.gate import GateServer  # lazy: only this command needs it

    try:
        server = GateServer(host, port, task_timeout=timeout, namespace_regexp=namespace_regexp)
    except re.error as exc:
        raise typer.BadParameter(str(exc), param_hint="'--namespace-regexp'") from None
    try:
        server.start()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise typer.BadParameter(
            f"cannot listen on {host}:{port}: {reason}", param_hint="'--host' / '--port'"
        ) from None

    log_handler = logging.StreamHandler()  # gate decisions and task outcomes, like Flagger's
    log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    hooks_log = logging.getLogger("modelcanary.hooks")
    previous_level = hooks_log.level
    hooks_log.addHandler(log_handler)
    hooks_log.setLevel(logging.INFO)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous_handlers: dict[signal.Signals, Any] = {}
    with contextlib.suppress(ValueError):  # not the main thread: Ctrl-C is a KeyboardInterrupt
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous_handlers[sig] = signal.signal(sig, on_signal)
    try:
        err_console.print(
            f"gate service listening on [bold]{escape(server.url)}[/] "
            "(state in memory, this process only); Ctrl-C to stop"
        )
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig, previous in previous_handlers.items():
            signal.signal(sig, previous)
        server.stop()
        hooks_log.removeHandler(log_handler)
        hooks_log.setLevel(previous_level)
    err_console.print("gate service stopped")
