"""``modelcanary run FILE``: run a ModelRollout on the local runtime with a live display.

Exit codes: 0 promoted, 1 rolled back, 2 bad input, 3 error / aborted / deadline / inconclusive.
The status is persisted in ``--workdir`` (a FileStatusStore), so ``modelcanary status``,
``history`` and the action commands (``abort``, ``promote``...) work from another shell.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table

from ..files import load
from ..spec import ModelRollout, RolloutStatus
from .common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    err_console,
    guarded,
    out_console,
)

NO_WAIT_UNSUPPORTED = (
    "--no-wait is not supported: the local runtime (model servers, router, load and engine) "
    "lives inside the `modelcanary run` process, so it cannot return before the rollout is "
    "decided. Run it in the background from your shell instead (`modelcanary run FILE --quiet "
    "&`) and follow it with `modelcanary status NAME` / `modelcanary abort NAME`."
)

VERDICT_STYLE = {
    "pass": "green",
    "fail": "red",
    "inconclusive": "yellow",
    "error": "magenta",
    "skipped": "dim",
}


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("run")(run)


def exit_code(status: RolloutStatus) -> int:
    """0 promoted, 1 rolled back, 3 anything else (inconclusive, aborted, deadline, error)."""
    if status.outcome == "promoted":
        return EXIT_OK
    if status.outcome == "rolled_back":
        return EXIT_FAILED
    return EXIT_INCONCLUSIVE


@guarded
def run(
    file: str = typer.Argument(..., help="ModelRollout YAML file (router.provider: local)."),
    report: Path | None = typer.Option(None, "--report", help="Write an HTML report here."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the final status as JSON."),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        help="MLflow tracking URI for models:/ URIs.",
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", help="Give up after this many seconds."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live display; print the result."),
    workdir: Path = typer.Option(
        Path(".modelcanary"),
        "--workdir",
        help="Keep the rollout's status here, for `modelcanary status`, `history`, `abort`...",
    ),
    wait: bool = typer.Option(
        True,
        "--wait/--no-wait",
        help="Block until the rollout is decided (--no-wait is refused: see the message).",
    ),
) -> None:
    """Run a rollout on this machine: model servers, router and load on 127.0.0.1."""
    from ..engine import FileStatusStore
    from ..local.runtime import LocalRun  # lazy: the runtime imports numpy and httpx

    if not wait:
        err_console.print(f"[bold red]error[/]: {escape(NO_WAIT_UNSUPPORTED)}")
        raise typer.Exit(EXIT_BAD_INPUT)
    rollout = load(file)
    store = FileStatusStore(workdir)
    code = EXIT_INCONCLUSIVE
    # claim: one run per rollout and work dir, starting afresh (no status or action
    # annotations left over from an earlier run); a second run exits 2.
    with (
        store.claim(rollout.name, rollout.metadata.namespace or "default"),
        LocalRun(rollout, tracking_uri=tracking_uri, store=store) as handle,
    ):
        err_console.print(
            f"router listening on [bold]{handle.url}[/] "
            f"(POST {handle.url}/invocations to send your own traffic)"
        )
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            if quiet:
                handle.wait(timeout)
            else:
                with Live(
                    _view(rollout, handle.status(), handle),
                    console=out_console,
                    refresh_per_second=4,
                ) as live:
                    while not handle.done and (deadline is None or time.monotonic() < deadline):
                        time.sleep(0.25)
                        live.update(_view(rollout, handle.status(), handle))
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted: aborting the rollout[/]")
            handle.act("abort", "interrupted from the command line")
            handle.wait(10)
        status = handle.status()
        if handle.error is not None:
            err_console.print(f"[red]engine stopped[/]: {escape(str(handle.error))}")
        code = exit_code(status) if handle.done and handle.error is None else EXIT_INCONCLUSIVE
    _finish(rollout, status, report, json_out)
    raise typer.Exit(code)


def _finish(
    rollout: ModelRollout, status: RolloutStatus, report: Path | None, json_out: Path | None
) -> None:
    style = "green" if status.outcome == "promoted" else "red"
    out_console.print(
        f"[bold {style}]{status.outcome or status.phase}[/]: {escape(status.message)}"
    )
    if json_out is not None:
        json_out.write_text(json.dumps(status.to_dict(), indent=2), encoding="utf-8")
        err_console.print(f"status written to {escape(str(json_out))}")
    if report is not None:
        from ..report import write

        err_console.print(f"report written to {escape(str(write(report, rollout, status)))}")


def _view(rollout: ModelRollout, status: RolloutStatus, handle: object) -> Group:
    from ..rollout.plan import stages

    plan = stages(rollout.spec.analysis)
    head = Table.grid(padding=(0, 2))
    head.add_row("[bold]rollout[/]", escape(rollout.name), "[bold]phase[/]", escape(status.phase))
    head.add_row(
        "[bold]challenger weight[/]",
        f"{status.canary_weight}%",
        "[bold]mirror[/]",
        f"{status.mirror_weight}%",
    )
    head.add_row(
        "[bold]intervals[/]",
        str(status.iterations),
        "[bold]failed checks[/]",
        f"{status.failed_checks}/{rollout.spec.analysis.threshold}",
    )
    stats = getattr(handle, "load_stats", lambda: None)()
    if stats is not None:
        head.add_row(
            "[bold]load[/]",
            f"{stats.sent} sent, {stats.errors} errors",
            "[bold]rate[/]",
            f"{stats.achieved_rps:.1f} rps",
        )
    done = status.step_index + (
        1 if status.phase in ("Promoting", "Finalising", "Succeeded") else 0
    )
    bar = ProgressBar(total=max(1, len(plan)), completed=min(done, len(plan)), width=40)
    checks = Table("metric", "value", "range", "verdict", "why", expand=True)
    last = status.history[-1] if status.history else None
    for check in last.checks if last else []:
        rng = (
            f"{'' if check.min is None else check.min:} .. {'' if check.max is None else check.max}"
        )
        value = "-" if check.value is None else f"{check.value:.4g}"
        style = VERDICT_STYLE.get(check.verdict, "")
        checks.add_row(
            escape(check.metric), value, rng, f"[{style}]{check.verdict}[/]", escape(check.reason)
        )
    return Group(head, bar, checks, f"[dim]{escape(status.message)}[/]")
