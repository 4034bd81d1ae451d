"""Follow and steer local rollouts from another shell: ``status``, ``history`` and actions.

``modelcanary run FILE --workdir DIR`` keeps its rollout in a FileStatusStore under ``DIR``;
these commands read it (``status``, ``history``) or write a manual-action annotation into it
(``promote``, ``abort``, ``retry``, ``approve``, ``pause``, ``resume``), which the running
engine notices within a second (it watches the work dir while it waits) and applies at once.
``retry`` on a rollout whose runner has exited starts a new detached runner from the spec saved
in the work dir (a promoted rollout is refused; two concurrent retries start one runner). Exit
0 ok, 2 bad input (unknown rollout, bad name, nothing to retry, already running), 3 a restart
died at start.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from ..spec import ModelRollout, RolloutStatus
from ..spec._phases import Phase
from ._common import EXIT_BAD_INPUT, check_cells, err_console, guarded, out_console, print_history
from ._runner import RunOptions, already_running, read_runner, start_detached, start_lock

if TYPE_CHECKING:  # the engine imports the providers (httpx, numpy): load it lazily
    from ..engine import FileStatusStore
    from ..ports import Stored

ACTION_HELP = {
    "promote": "Promote the challenger now, skipping the remaining analysis.",
    "abort": "Abort the rollout: all traffic back to the champion (outcome aborted).",
    "retry": "Restart a Failed rollout: through its runner while one runs it, else by starting "
    "a new detached runner from the spec saved in the work dir.",
    "approve": "Open the current manual gate or pause step once.",
    "pause": "Pause the rollout where it is (no analysis, weights held).",
    "resume": "Resume a paused rollout.",
}

NAME = typer.Argument(..., help="Rollout name (metadata.name).")
NAMESPACE = typer.Option("default", "--namespace", "-n", help="Rollout namespace.")
WORKDIR = typer.Option(
    Path(".modelcanary"), "--workdir", help="The work dir given to `modelcanary run`."
)


def register(app: typer.Typer) -> None:
    """Add ``status``, ``history`` and one command per manual action."""
    app.command("status")(status)
    app.command("history")(history)
    for kind, text in ACTION_HELP.items():
        app.command(kind, help=f"{text} Written to the work dir; applied within a second.")(
            _action(kind)
        )


def _find(name: str, namespace: str, workdir: Path) -> tuple[FileStatusStore, Stored]:
    """The stored rollout, or exit 2 naming the rollouts that do exist."""
    from ..engine import FileStatusStore

    store = FileStatusStore(workdir)
    stored = store.get(name, namespace)
    if stored is not None:
        return store, stored
    known = [f"{s.rollout.metadata.namespace or 'default'}/{s.rollout.name}" for s in store.list()]
    err_console.print(
        f"[bold red]error[/]: no rollout {escape(namespace)}/{escape(name)} in "
        f"{escape(str(workdir))}; known: {escape(', '.join(known)) if known else 'none'}"
    )
    err_console.print(
        "    [dim]fix:[/] start it with `modelcanary run FILE --workdir DIR`, or pass the "
        "--workdir / --namespace it was run with"
    )
    raise typer.Exit(EXIT_BAD_INPUT)


@guarded
def status(
    name: str = NAME,
    namespace: str = NAMESPACE,
    workdir: Path = WORKDIR,
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Show a rollout's phase, weights, outcome, message and last checks."""
    _, stored = _find(name, namespace, workdir)
    current = stored.rollout.status or RolloutStatus()
    if as_json:
        typer.echo(json.dumps(current.to_dict(), indent=2))
        return
    head = Table.grid(padding=(0, 2))
    head.add_row("[bold]rollout[/]", escape(f"{namespace}/{name}"))
    head.add_row("[bold]phase[/]", escape(current.phase))
    head.add_row("[bold]outcome[/]", escape(current.outcome or "-"))
    head.add_row(
        "[bold]weights[/]",
        f"challenger {current.canary_weight}%, mirror {current.mirror_weight}%",
    )
    head.add_row(
        "[bold]intervals[/]",
        f"{current.iterations} (failed checks {current.failed_checks})",
    )
    head.add_row("[bold]message[/]", escape(current.message))
    runner = read_runner(workdir, namespace, name)
    head.add_row("[bold]runner[/]", escape(runner.describe() if runner else "-"))
    out_console.print(head)
    last = current.history[-1] if current.history else None
    if last is None:
        return
    checks = Table("metric", "value", "min", "max", "verdict", "why")
    checks.title = f"checks at {last.time}"
    for check in last.checks:
        checks.add_row(*check_cells(check))
    out_console.print(checks)


@guarded
def history(
    name: str = NAME,
    namespace: str = NAMESPACE,
    workdir: Path = WORKDIR,
    as_json: bool = typer.Option(False, "--json", help="Print the history records as JSON."),
) -> None:
    """One line per analysis interval: time, weight, mirror, verdict, message."""
    _, stored = _find(name, namespace, workdir)
    print_history((stored.rollout.status or RolloutStatus()).history, as_json)


def _action(kind: str) -> Callable[..., None]:
    @guarded
    def command(
        name: str = NAME,
        namespace: str = NAMESPACE,
        workdir: Path = WORKDIR,
        reason: str = typer.Option("", "--reason", help="Why (kept with the action)."),
    ) -> None:
        from ..engine import action_annotations

        store, stored = _find(name, namespace, workdir)
        if kind == "retry":  # decided under the start lock: one of two concurrent retries starts
            with start_lock(workdir, namespace, name):
                _, stored = _find(name, namespace, workdir)
                runner = read_runner(workdir, namespace, name)
                if runner is None or not runner.alive:
                    raise typer.Exit(_restart(stored.rollout, workdir))
                if not (stored.rollout.status or RolloutStatus()).phase.traits.final:
                    raise typer.Exit(already_running(workdir, namespace, name, runner))
        phase = (stored.rollout.status or RolloutStatus()).phase
        runner = read_runner(workdir, namespace, name)
        stamp = f"{kind}-{time.time_ns()}"
        store.annotate(name, namespace, action_annotations(kind, stamp, reason))
        err_console.print(
            f"{kind} requested for {escape(namespace)}/{escape(name)} (id {stamp}); "
            "the running `modelcanary run` applies it within a second"
        )
        if phase.traits.final:
            err_console.print(
                f"[yellow]note[/]: the rollout is already {escape(phase)}; the action takes "
                "effect only if an engine is still running it"
            )
        if runner is not None and not runner.alive:
            err_console.print(
                f"[yellow]note[/]: no runner is running it (runner {escape(runner.describe())}), "
                f"so nothing applies the action; `modelcanary retry {escape(name)}` restarts a "
                "failed run"
            )

    command.__name__ = kind
    command.__doc__ = ACTION_HELP[kind]
    return command


def _restart(rollout: ModelRollout, workdir: Path) -> int:
    """``retry`` with no live runner: start a detached runner again from the saved spec, or
    refuse (exit 2) when the rollout was promoted. Returns the exit code."""
    from .._files import load

    name, namespace = rollout.name, rollout.metadata.namespace or "default"
    current = rollout.status or RolloutStatus()
    if current.phase == Phase.SUCCEEDED or current.outcome == "promoted":
        err_console.print(
            f"[bold red]error[/]: rollout {escape(namespace)}/{escape(name)} was promoted "
            f"(phase {escape(current.phase)}); there is nothing to retry"
        )
        err_console.print(
            "    [dim]fix:[/] to roll out another challenger, change the spec and run "
            f"`modelcanary run FILE --workdir {escape(str(workdir))}` (add --no-wait to detach)"
        )
        return EXIT_BAD_INPUT
    runner = read_runner(workdir, namespace, name)
    spec = Path(runner.spec) if runner is not None else None
    if spec is not None and spec.is_file():
        rollout = load(spec)
    why = runner.describe() if runner is not None else "no runner recorded"
    err_console.print(
        f"no runner is running {escape(namespace)}/{escape(name)} (phase {escape(current.phase)};"
        f" {escape(why)}): restarting it detached from its saved spec"
    )
    return start_detached(rollout, workdir, runner.options if runner else RunOptions())
