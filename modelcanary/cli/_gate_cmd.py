"""``modelcanary gate serve``: run the built-in gate/load-test service until Ctrl-C.

Exit codes: 0 after a clean shutdown (Ctrl-C or SIGTERM), 2 for a bad or unusable address,
a bad token, or a non-loopback address without a token.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from rich.markup import escape

from ..errors import SpecError, SpecIssue
from ._common import err_console, guarded

TOKEN_FILE_LIMIT = 4096

gate_app = typer.Typer(
    help="The built-in gate and load-test service (Flagger loadtester compatible).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the command group to the app."""
    gate_app.command("serve")(serve)
    app.add_typer(gate_app, name="gate")


def _token(token_file: Path | None) -> str | None:
    """The bearer token: the content of ``--token-file``, else ``$MODELCANARY_GATE_TOKEN``."""
    from ..hooks._gate import TOKEN_ENV, check_token

    if token_file is None:
        value = os.environ.get(TOKEN_ENV, "").strip()
        return check_token(value, f"${TOKEN_ENV}") if value else None
    try:
        with token_file.open("rb") as handle:
            data = handle.read(TOKEN_FILE_LIMIT + 1)
    except OSError as exc:
        raise SpecError(
            SpecIssue("--token-file", f"cannot read {token_file}: {exc.strerror or exc}")
        ) from None
    if len(data) > TOKEN_FILE_LIMIT:
        raise SpecError(SpecIssue("--token-file", f"{token_file} is not a token file (too large)"))
    return check_token(data.decode("latin-1"), "--token-file")


@guarded
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
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        help="File holding the bearer token that /gate/open|close, /rollback/open|close and / "
        "require (e.g. a mounted Secret); default: $MODELCANARY_GATE_TOKEN. Required beyond "
        "loopback.",
    ),
    allow_commands: bool = typer.Option(
        False,
        "--allow-commands",
        help="Run cmd/bash tasks sent to / (off by default: / answers 403).",
    ),
    allow_host: list[str] = typer.Option(
        [],
        "--allow-host",
        help="Host name served besides localhost and IP addresses, e.g. the Service DNS name "
        "(repeat; '*.example.com' matches subdomains, '*' any name).",
    ),
) -> None:
    """Serve /gate/*, /rollback/* and (with --allow-commands) / tasks until Ctrl-C.

    State is in memory: gates start closed and are lost on restart. Requests from web pages
    are refused (foreign Host or Origin: 403, non-JSON body: 415); with a token, the
    mutating endpoints need 'Authorization: Bearer TOKEN' (401).
    """
    from ..hooks._gate import GateServer  # lazy: only this command needs it

    try:
        server = GateServer(
            host,
            port,
            task_timeout=timeout,
            namespace_regexp=namespace_regexp,
            token=_token(token_file),
            allow_commands=allow_commands,
            allow_hosts=allow_host,
        )
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
        tasks = "tasks on" if allow_commands else "tasks off"
        auth = "token required" if server.token_bytes else "no token"
        err_console.print(
            f"gate service listening on [bold]{escape(server.url)}[/] ({tasks}, {auth}; "
            "state in memory, this process only); Ctrl-C to stop"
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
