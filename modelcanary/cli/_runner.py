"""Runners of local rollouts: who runs (or ran) a rollout, and detached runs.

Every ``modelcanary run``, attached or not, records itself in ``<workdir>/runs/<ns>/<name>.json``
(pid, start time, options, the spec it runs, exit code when it ends) beside a copy of the spec
(``<name>.yaml``). The spec may hold inline credentials (a tracking URI with a password, a
metrics provider's key), so the ``runs`` directories are 0700 and every file in them 0600,
written atomically (temp file, fsync, rename), like the status files. ``start_detached``
starts a background ``modelcanary run`` under an exclusive lock, so two concurrent starts (two
``retry`` commands) never start two runners: the second one waits, sees the first runner alive
and exits 2; the log is opened for appending, so nothing truncates a running runner's output.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from rich.markup import escape

from ..local._supervise import is_running, process_state
from ..spec import ModelRollout
from ._common import EXIT_BAD_INPUT, EXIT_INCONCLUSIVE, EXIT_OK, err_console, out_console


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
        return self.exit_code is None and is_running(self.pid, self.proc_start)

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


def runner_path(workdir: Path, namespace: str, name: str) -> Path:
    """``<workdir>/runs/<namespace>/<name>.json`` (names checked like the status store's)."""
    from ..engine._filestore import checked_name

    ns = checked_name(namespace, "namespace")
    return workdir / "runs" / ns / f"{checked_name(name, 'name')}.json"


def read_runner(workdir: Path, namespace: str, name: str) -> Runner | None:
    """The recorded runner of a rollout, or None (never run with this version, or unreadable)."""
    try:
        data = json.loads(runner_path(workdir, namespace, name).read_text(encoding="utf-8"))
        return Runner(**(data | {"options": RunOptions(**data.get("options", {}))}))
    except (OSError, ValueError, TypeError):
        return None


def private_dir(path: Path) -> Path:
    """Create ``path`` (and ``runs/`` above it) as directories only the owner can enter."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in (path, path.parent) if path.parent.name == "runs" else (path,):
        with contextlib.suppress(PermissionError):  # not ours to change: files stay 0600
            folder.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only (0600), in a private
    (0700) directory."""
    from ..engine._filestore import write_atomic

    private_dir(path.parent)
    write_atomic(path, text)


def save_spec(workdir: Path, rollout: ModelRollout) -> Path:
    """Keep the spec a runner runs (status and pending actions dropped) beside its record."""
    from ..engine._actions import without_actions
    from ..spec._validate import to_yaml

    clean = without_actions(rollout)
    path = runner_path(workdir, rollout.metadata.namespace or "default", rollout.name)
    spec = path.with_suffix(".yaml")
    write_private(spec, to_yaml(clean))
    return spec


def record_runner(
    workdir: Path, rollout: ModelRollout, options: RunOptions, detached_log: Path | None
) -> Runner:
    """Record this process as the rollout's runner (called once it holds the claim)."""
    state = process_state(os.getpid())
    record = Runner(
        pid=os.getpid(),
        started=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        spec=str(save_spec(workdir, rollout).resolve()),
        options=options,
        detached=detached_log is not None,
        log=str(detached_log) if detached_log is not None else None,
        proc_start=state.start_time if state else None,
    )
    namespace = rollout.metadata.namespace or "default"
    write_private(runner_path(workdir, namespace, rollout.name), json.dumps(asdict(record)))
    return record


def record_exit(workdir: Path, rollout: ModelRollout, record: Runner, code: int) -> None:
    """Write the runner's exit code into its record."""
    namespace = rollout.metadata.namespace or "default"
    done = asdict(replace(record, exit_code=code))
    write_private(runner_path(workdir, namespace, rollout.name), json.dumps(done))


_HELD: set[Path] = set()
"""Start locks this process holds (``_starting`` is re-entrant: ``retry`` decides and starts
under one lock)."""


def start_lock(
    workdir: Path, namespace: str, name: str, timeout: float = 150.0
) -> contextlib.AbstractContextManager[None]:
    """The lock a detached start holds: a command that decides whether to start (``retry``)
    takes it first, so two concurrent commands cannot both decide to start a runner."""
    return _starting(runner_path(workdir.resolve(), namespace, name), timeout)


@contextlib.contextmanager
def _starting(record: Path, timeout: float) -> Iterator[None]:
    """Hold ``<name>.start.lock`` beside the runner record: one detached start at a time."""
    private_dir(record.parent)
    lock = record.with_suffix(".start.lock")
    if lock in _HELD:  # already ours: the caller decided under it
        yield
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{lock} is held by another start") from None
                time.sleep(0.1)
        _HELD.add(lock)
        yield
    finally:
        _HELD.discard(lock)
        os.close(fd)  # releases the lock


def already_running(workdir: Path, namespace: str, name: str, current: Runner) -> int:
    """Say that ``current`` already runs the rollout, with the fix; the exit code (2)."""
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


def start_detached(
    rollout: ModelRollout, workdir: Path, options: RunOptions, *, startup: float = 120.0
) -> int:
    """Start ``modelcanary run`` for ``rollout`` as a detached process; wait until it holds the
    rollout (its runner record and status exist); print how to follow it. Returns the exit
    code for this command: 0 started, 2 already running, 3 the runner died at start."""
    namespace = rollout.metadata.namespace or "default"
    name = rollout.name
    workdir = workdir.resolve()
    record = runner_path(workdir, namespace, name)
    try:
        with _starting(record, startup + 30):
            current = read_runner(workdir, namespace, name)
            if current is not None and current.alive:
                return already_running(workdir, namespace, name, current)
            return _spawn(rollout, workdir, options, startup)
    except TimeoutError as exc:
        err_console.print(f"[bold red]error[/]: {escape(str(exc))}")
        return EXIT_INCONCLUSIVE


def _spawn(rollout: ModelRollout, workdir: Path, options: RunOptions, startup: float) -> int:
    namespace = rollout.metadata.namespace or "default"
    name = rollout.name
    spec = save_spec(workdir, rollout)
    log = runner_path(workdir, namespace, name).with_suffix(".log")
    argv = [sys.executable, "-m", "modelcanary.cli._main", "run", str(spec), "--quiet"]
    argv += ["--workdir", str(workdir), "--detached-log", str(log), *options.argv()]
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)  # an older log too: the run's output may echo its spec
    with os.fdopen(fd, "ab") as out:
        stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        out.write(f"--- {stamp} starting a detached runner of {namespace}/{name}\n".encode())
        out.flush()
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
