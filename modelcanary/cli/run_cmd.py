"""``modelcanary run FILE``: run a ModelRollout on the local runtime with a live display.

Exit codes: 0 promoted, 1 rolled back, 2 bad input, 3 error / aborted / deadline / inconclusive.
The status is persisted in ``--workdir`` (a FileStatusStore), so ``modelcanary status``,
``history`` and the action commands (``abort``, ``promote``...) work from another shell.

``--no-wait`` starts the same ``modelcanary run`` as a detached background process (its own
session, output to a log file in the work dir) and returns once that process holds the
rollout. Every runner, attached or not, records itself in ``<workdir>/runs/<ns>/<name>.json``
(pid, start time, options, the spec it runs, exit code when it ends) beside a copy of the spec
(``<name>.yaml``): ``status`` shows whether a runner is alive and ``retry`` restarts a run whose
runner has exited from that copy (see :mod:`modelcanary.cli.runner`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

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
    status_grid,
)

if TYPE_CHECKING:
    from ..local.runtime import LocalRun

DECIDED = ("Succeeded", "Failed")
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
    from ..local.runtime import LocalRun  # lazy: the runtime imports numpy and httpx

    rollout = load(file)
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
    signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` aborts the rollout like Ctrl-C
    # claim: one run per rollout and work dir, starting afresh (no status or action
    # annotations left over from an earlier run); a second run exits 2.
    with store.claim(rollout.name, rollout.metadata.namespace or "default"):
        record = record_runner(workdir, rollout, options, detached_log)
        try:
            with LocalRun(rollout, tracking_uri=tracking_uri, store=store) as handle:
                status, code = _drive(rollout, handle, quiet, timeout)
        finally:
            record_exit(workdir, rollout, record, code)
    _finish(rollout, status, report, json_out)
    raise typer.Exit(code)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


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
        while handle.status().phase not in DECIDED and time.monotonic() < stop:
            time.sleep(0.2)
        status = handle.status()
        return status, exit_code(status) if status.phase in DECIDED else EXIT_INCONCLUSIVE
    status = handle.status()
    if handle.error is not None:
        err_console.print(f"[red]engine stopped[/]: {escape(str(handle.error))}")
    code = exit_code(status) if handle.done and handle.error is None else EXIT_INCONCLUSIVE
    return status, code


# -- runners: who runs a rollout, detached runs ---------------------------------------------
@dataclass(frozen=True)
class RunOptions:
    """The ``run`` options a restarted runner needs again (paths absolute)."""

    tracking_uri: str | None = None
    timeout: float | None = None
    report: str | None = None
    json_out: str | None = None

    def argv(self) -> list[str]:
        """These options as ``modelcanary run`` arguments."""
        out: list[str] = []
        for flag, value in (
            ("--tracking-uri", self.tracking_uri),
            ("--timeout", self.timeout),
            ("--report", self.report),
            ("--json", self.json_out),
        ):
            if value is not None:
                out += [flag, str(value)]
        return out


@dataclass(frozen=True)
class Runner:
    """The process that runs (or ran) a local rollout, from ``<workdir>/runs/<ns>/<name>.json``."""

    pid: int
    """Process id of the ``modelcanary run`` process."""
    started: str
    """RFC 3339 time it started."""
    spec: str
    """The copy of the rollout spec it runs (``<name>.yaml`` beside the record)."""
    options: RunOptions
    """Its options (a restart uses them again)."""
    detached: bool = False
    """Started with ``--no-wait`` (or by ``retry``)."""
    log: str | None = None
    """The detached runner's output file."""
    proc_start: str | None = None
    """Kernel start time of the process (``/proc/PID/stat``), so a reused pid is not it."""
    exit_code: int | None = None
    """Its exit code once it ended normally (None while running, or when it was killed)."""

    @property
    def alive(self) -> bool:
        """True while that very process runs (not a zombie, not a reused pid)."""
        if self.exit_code is not None:
            return False
        state = _proc_state(self.pid)
        if state is None:
            return False
        return state[0] != "Z" and (self.proc_start is None or state[1] == self.proc_start)

    def describe(self) -> str:
        """One line for people: pid, alive or how it ended, the log."""
        how = "detached" if self.detached else "attached"
        if self.alive:
            text = f"pid {self.pid} running ({how}, since {self.started})"
        elif self.exit_code is not None:
            text = f"pid {self.pid} exited with code {self.exit_code} ({how})"
        else:
            text = f"pid {self.pid} gone without finishing ({how}; killed or crashed)"
        return text + (f"; log {self.log}" if self.log else "")


def _proc_state(pid: int) -> tuple[str, str] | None:
    """(state letter, start time) of a process from /proc, or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:  # no /proc: only whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ("R", "")
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], fields[19]


def runner_path(workdir: Path, namespace: str, name: str) -> Path:
    """``<workdir>/runs/<namespace>/<name>.json`` (names checked like the status store's)."""
    from ..engine.filestore import _checked

    return workdir / "runs" / _checked(namespace, "namespace") / f"{_checked(name, 'name')}.json"


def read_runner(workdir: Path, namespace: str, name: str) -> Runner | None:
    """The recorded runner of a rollout, or None (never run with this version, or unreadable)."""
    try:
        data = json.loads(runner_path(workdir, namespace, name).read_text(encoding="utf-8"))
        return Runner(**(data | {"options": RunOptions(**data.get("options", {}))}))
    except (OSError, ValueError, TypeError):
        return None


def _write_json(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def save_spec(workdir: Path, rollout: ModelRollout) -> Path:
    """Keep the spec a runner runs (status and pending actions dropped) beside its record."""
    from ..engine.actions import ACTION, ACTION_ID, ACTION_REASON
    from ..spec.validate import to_yaml

    notes = {
        k: v
        for k, v in (rollout.metadata.annotations or {}).items()
        if k not in (ACTION, ACTION_ID, ACTION_REASON)
    }
    meta = rollout.metadata.model_copy(update={"annotations": notes or None})
    clean = rollout.model_copy(update={"status": None, "metadata": meta})
    path = runner_path(workdir, rollout.metadata.namespace or "default", rollout.name)
    spec = path.with_suffix(".yaml")
    spec.parent.mkdir(parents=True, exist_ok=True)
    tmp = spec.with_name(f".{spec.name}.{os.getpid()}.tmp")
    tmp.write_text(to_yaml(clean), encoding="utf-8")
    os.replace(tmp, spec)
    return spec


def record_runner(
    workdir: Path, rollout: ModelRollout, options: RunOptions, detached_log: Path | None
) -> Runner:
    """Record this process as the rollout's runner (called once it holds the claim)."""
    state = _proc_state(os.getpid())
    record = Runner(
        pid=os.getpid(),
        started=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        spec=str(save_spec(workdir, rollout).resolve()),
        options=options,
        detached=detached_log is not None,
        log=str(detached_log) if detached_log is not None else None,
        proc_start=state[1] if state else None,
    )
    namespace = rollout.metadata.namespace or "default"
    _write_json(runner_path(workdir, namespace, rollout.name), asdict(record))
    return record


def record_exit(workdir: Path, rollout: ModelRollout, record: Runner, code: int) -> None:
    """Write the runner's exit code into its record."""
    namespace = rollout.metadata.namespace or "default"
    _write_json(
        runner_path(workdir, namespace, rollout.name), asdict(replace(record, exit_code=code))
    )


def start_detached(
    rollout: ModelRollout, workdir: Path, options: RunOptions, *, startup: float = 120.0
) -> int:
    """Start ``modelcanary run`` for ``rollout`` as a detached process; wait until it holds the
    rollout (its runner record and status exist); print how to follow it. Returns the exit
    code for this command: 0 started, 2 already running, 3 the runner died at start."""
    namespace = rollout.metadata.namespace or "default"
    name = rollout.name
    current = read_runner(workdir, namespace, name)
    if current is not None and current.alive:
        err_console.print(
            f"[bold red]error[/]: rollout {escape(namespace)}/{escape(name)} is already running "
            f"from {escape(str(workdir))} ({escape(current.describe())})"
        )
        err_console.print(
            f"    [dim]fix:[/] follow it with `modelcanary status {escape(name)} --workdir "
            f"{escape(str(workdir))}`, stop it with `modelcanary abort {escape(name)}`, "
            "or use another --workdir"
        )
        return EXIT_BAD_INPUT
    workdir = workdir.resolve()
    spec = save_spec(workdir, rollout)
    log = runner_path(workdir, namespace, name).with_suffix(".log")
    argv = [sys.executable, "-m", "modelcanary.cli.main", "run", str(spec), "--quiet"]
    argv += ["--workdir", str(workdir), "--detached-log", str(log), *options.argv()]
    with open(log, "wb") as out:
        child = subprocess.Popen(  # its own session: survives this command and the terminal
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    from ..engine import FileStatusStore

    store = FileStatusStore(workdir)
    deadline = time.monotonic() + startup
    while time.monotonic() < deadline:
        code = child.poll()
        runner = read_runner(workdir, namespace, name)
        if runner is not None and runner.pid == child.pid and store.get(name, namespace):
            break
        if code is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            err_console.print(
                f"[bold red]error[/]: the detached run of {escape(namespace)}/{escape(name)} "
                f"exited at start (code {code}); its log {escape(str(log))} ends with:\n"
                f"{escape(tail)}"
            )
            return EXIT_BAD_INPUT if code == EXIT_BAD_INPUT else EXIT_INCONCLUSIVE
        time.sleep(0.1)
    else:
        err_console.print(
            f"[yellow]warning[/]: pid {child.pid} has not claimed the rollout after "
            f"{startup:.0f} s; see {escape(str(log))}"
        )
    where = f"--workdir {workdir}" + ("" if namespace == "default" else f" -n {namespace}")
    out_console.print(f"started {escape(namespace)}/{escape(name)} detached (pid {child.pid})")
    out_console.print(f"  follow: modelcanary status {escape(name)} {escape(where)}")
    out_console.print(f"  steer:  modelcanary abort|promote|pause {escape(name)} {escape(where)}")
    out_console.print(f"  log:    {escape(str(log))}")
    return EXIT_OK


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
    head = status_grid(rollout.name, status, rollout.spec.analysis.threshold)
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
