"""``modelcanary run FILE``: run a ModelRollout on the local runtime with a live display.

Exit codes: 0 promoted, 1 rolled back, 2 bad input, 3 error / aborted / deadline / inconclusive
/ timeout. Bad input is exit 2 wherever it is found: a ``models:/`` URI without a tracking
server is refused before anything starts, and a model the server cannot find (unknown name,
version or alias) when its server starts; both name the field (``spec.challenger.modelUri``,
``--tracking-uri``) and the fix. ``--timeout`` aborts an undecided rollout (all traffic back on
the champion) and records the outcome ``timeout``, saying so in the message.
The status is persisted in ``--workdir`` (a FileStatusStore), so ``modelcanary status``,
``history`` and the action commands (``abort``, ``promote``...) work from another shell; the
engine notices them within a second, whatever the interval. SIGTERM and SIGINT abort the
rollout cleanly (all traffic back on the champion, outcome ``aborted``, exit 3), also while the
model servers are still starting.

``--no-wait`` starts the same ``modelcanary run`` as a detached background process (its own
session, output to a log file in the work dir) and returns once that process holds the
rollout. Every runner, attached or not, records itself in ``<workdir>/runs/<ns>/<name>.json``
(pid, start time, options, the spec it runs, exit code when it ends) beside a copy of the spec
(``<name>.yaml``): ``status`` shows whether a runner is alive and ``retry`` restarts a run whose
runner has exited from that copy (see :mod:`modelcanary.cli._runner`).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table

from .._files import load
from ..analysis._llm_records import LLMExchange, all_exchanges
from ..errors import ModelCanaryError, SpecError
from ..spec import ModelRollout, RolloutStatus
from ..spec._phases import Action
from ._common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    err_console,
    guarded,
    out_console,
    status_grid,
)
from ._run_models import check_models, model_errors
from ._runner import (
    Runner,
    RunOptions,
    read_runner,
    record_exit,
    record_runner,
    runner_path,
    save_spec,
    start_detached,
)

if TYPE_CHECKING:
    from ..engine import FileStatusStore
    from ..local._runtime import LocalRun

__all__ = [
    "RunOptions",
    "Runner",
    "exit_code",
    "read_runner",
    "record_exit",
    "record_runner",
    "run",
    "runner_path",
    "save_spec",
    "start_detached",
]

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
        help="Block until the rollout is decided (default), or start it as a detached "
        "background process and return at once (follow it with `modelcanary status NAME`).",
    ),
    detached_log: Path | None = typer.Option(None, "--detached-log", hidden=True),
) -> None:
    """Run a rollout on this machine: model servers, router and load on 127.0.0.1."""
    from ..engine import FileStatusStore
    from ..local._runtime import LocalRun  # lazy: the runtime imports numpy and httpx

    rollout = load(file)
    check_models(rollout, tracking_uri, file)
    options = RunOptions(
        tracking_uri=tracking_uri,
        timeout=timeout,
        report=str(report.resolve()) if report else None,
        json_out=str(json_out.resolve()) if json_out else None,
    )
    if not wait:
        raise typer.Exit(start_detached(rollout, workdir, options))
    store = FileStatusStore(workdir)
    code = EXIT_INCONCLUSIVE
    # claim: one run per rollout and work dir, starting afresh (no status or action
    # annotations left over from an earlier run); a second run exits 2.
    namespace = rollout.metadata.namespace or "default"
    with _stop_signals() as settled, store.claim(rollout.name, namespace):
        record = record_runner(workdir, rollout, options, detached_log)
        exchanges: list[LLMExchange] | None = None
        try:
            try:
                try:
                    with model_errors(rollout, file):
                        handle = LocalRun(rollout, tracking_uri=tracking_uri, store=store).start()
                except ModelCanaryError as exc:  # recorded with the code `guarded` exits with
                    code = EXIT_BAD_INPUT if isinstance(exc, SpecError) else EXIT_FAILED
                    raise
                try:
                    status, code = _drive(rollout, handle, quiet, timeout)
                    settled.set()  # decided: a signal now must not interrupt the clean-up
                finally:
                    handle.close()
                exchanges = all_exchanges(handle)  # an LLM rollout's, for the report
            except KeyboardInterrupt:  # stopped while the servers were starting
                status = _abort_unstarted(store, rollout)
        finally:
            record_exit(workdir, rollout, record, code)
    _finish(rollout, status, report, json_out, exchanges)
    raise typer.Exit(code)


@contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """SIGTERM (``kill PID``) and SIGINT (Ctrl-C) abort the rollout: the first one raises
    KeyboardInterrupt in the main thread, which asks the engine to abort and waits (bounded)
    for the rollout to be decided. Later ones, and any once the yielded event is set (the
    rollout is decided, servers are being stopped), are ignored so the clean-up can finish."""
    settled = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if settled.is_set():
            err_console.print("[yellow]already stopping: letting the abort and clean-up finish[/]")
            return
        settled.set()
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield settled
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _abort_unstarted(store: FileStatusStore, rollout: ModelRollout) -> RolloutStatus:
    """Record an abort for a rollout stopped before its engine ran (nothing to route back):
    the state machine decides the status, as for any abort."""
    from ..errors import ConflictError
    from ..rollout import ManualAction, Observations, step

    err_console.print("[yellow]interrupted while starting: rollout aborted[/]")
    namespace = rollout.metadata.namespace or "default"
    status = RolloutStatus()
    for _attempt in range(3):
        stored = store.get(rollout.name, namespace)
        if stored is None:  # stopped before the runtime recorded it
            store.put(rollout)
            continue
        current = stored.rollout
        status = current.status or RolloutStatus()
        if status.phase.traits.decided:
            return status
        action = ManualAction(Action.ABORT, f"signal-{time.time_ns()}", "interrupted before it ran")
        new, _ = step(current, status, Observations(action=action), datetime.now(UTC))
        try:
            store.save_status(rollout.name, namespace, new, stored.version)
        except ConflictError:
            continue
        return new
    return status


def _drive(
    rollout: ModelRollout, handle: LocalRun, quiet: bool, timeout: float | None
) -> tuple[RolloutStatus, int]:
    """Follow the running rollout (live display unless quiet); returns its status and exit code."""
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
        # poll the status: a Thread.join interrupted by the signal cannot be trusted again
        stop = time.monotonic() + 30
        while not handle.status().phase.traits.decided and time.monotonic() < stop:
            time.sleep(0.2)
        status = handle.status()
        return status, exit_code(status) if status.phase.traits.decided else EXIT_INCONCLUSIVE
    if not handle.done and timeout is not None:
        return _timed_out(rollout, handle, timeout), EXIT_INCONCLUSIVE
    status = handle.status()
    if handle.error is not None:
        err_console.print(f"[red]engine stopped[/]: {escape(str(handle.error))}")
    code = exit_code(status) if handle.done and handle.error is None else EXIT_INCONCLUSIVE
    return status, code


def _timed_out(rollout: ModelRollout, handle: LocalRun, timeout: float) -> RolloutStatus:
    """``--timeout`` ran out before a verdict: abort the rollout through the engine (all
    traffic back on the champion, as for any abort), then record the outcome ``timeout`` with
    what happened to the traffic, so ``--json`` and ``modelcanary status`` say so."""
    from ..errors import ConflictError

    err_console.print(f"[yellow]no verdict within --timeout {timeout:g}s: aborting[/]")
    handle.act("abort", f"no verdict within --timeout {timeout:g}s")
    stop = time.monotonic() + 30
    while not handle.status().phase.traits.decided and time.monotonic() < stop:
        time.sleep(0.2)
    namespace = rollout.metadata.namespace or "default"
    for _attempt in range(5):
        stored = handle.store.get(rollout.name, namespace)
        status = stored.rollout.status if stored is not None else None
        if stored is None or status is None:
            break
        if status.phase.traits.decided:
            traffic = (
                "the rollout was aborted and all traffic routed back to the champion "
                f"(challenger weight {status.canary_weight}%, mirror {status.mirror_weight}%)"
            )
        else:
            traffic = (
                f"the abort was not applied in time ({status.message}); traffic stops with "
                "the router"
            )
        new = status.updated(
            outcome="timeout",
            message=f"timed out: no verdict within --timeout {timeout:g}s; {traffic}; "
            "the router and model servers were then stopped",
        )
        try:
            handle.store.save_status(rollout.name, namespace, new, stored.version)
        except ConflictError:
            continue
        return new
    return handle.status()


def _finish(
    rollout: ModelRollout,
    status: RolloutStatus,
    report: Path | None,
    json_out: Path | None,
    exchanges: list[LLMExchange] | None = None,
) -> None:
    style = "green" if status.outcome == "promoted" else "red"
    out_console.print(
        f"[bold {style}]{status.outcome or status.phase}[/]: {escape(status.message)}"
    )
    if json_out is not None:
        json_out.write_text(json.dumps(status.to_dict(), indent=2), encoding="utf-8")
        err_console.print(f"status written to {escape(str(json_out))}")
    if report is not None:
        from .._report import write

        written = write(report, rollout, status, exchanges)
        err_console.print(f"report written to {escape(str(written))}")


def _view(rollout: ModelRollout, status: RolloutStatus, handle: object) -> Group:
    from ..spec._plan import stages

    plan = stages(rollout.spec.analysis)
    head = status_grid(rollout.name, status, rollout.spec.analysis.threshold)
    stats = getattr(handle, "load_stats", lambda: None)()
    if stats is not None:
        head.add_row(
            "[bold]load[/]",
            f"{stats.sent} sent, {stats.errors} errors",
            "[bold]rate[/]",
            f"{stats.achieved_rps:.1f} rps",
        )
    done = status.step_index + (1 if status.phase.traits.promoted else 0)
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
