"""Shell tasks of the gate/load-test service, run like Flagger's loadtester runs them.

Flagger (fluxcd/flagger ``pkg/loadtester``):

- ``cmd`` (``task_shell.go``, ``runner.go``): ``sh -c CMD`` in the background. The webhook gets
  ``202 Accepted`` at once; a task whose hash (``name.namespace`` + command) is still queued or
  running is not started again, so a load test called every analysis interval keeps exactly
  one copy running. Its exit status never reaches the webhook; ``logCmdOutput: "true"`` logs the
  output.
- ``bash`` (``bash.go``): ``bash -c CMD`` blocking the request: ``200`` on exit 0 (with the
  output when ``returnCmdOutput: "true"``), ``500`` with ``command CMD failed: OUTPUT: ERROR``
  otherwise. Not deduplicated.
- both are killed after the service's task timeout (Flagger's ``-timeout`` flag, default 1h):
  the payload carries no webhook timeout, so the service cannot know it.

Here a timed-out or stopped task is killed with its whole process group (Flagger kills only the
shell), and commands are never logged (they may carry tokens): only a short hash of them is.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_TASK_TIMEOUT = 3600.0
"""Flagger's loadtester ``-timeout`` default: one hour."""
OUTPUT_LIMIT = 64 * 1024
"""Bytes of combined stdout/stderr kept per task (the tail)."""


@dataclass(frozen=True)
class TaskResult:
    """How one task ended."""

    rollout: str
    """``name.namespace`` of the rollout that asked for it."""
    command: str
    ok: bool
    exit_code: int | None
    """None when the task was killed (timeout or service stop)."""
    output: str
    timed_out: bool = False
    seconds: float = 0.0

    def failure(self) -> str:
        """Flagger's error text for a failed ``bash`` task: ``command CMD failed: OUT: ERR``."""
        why = "timed out" if self.timed_out else f"exit status {self.exit_code}"
        return f"command {self.command} failed: {self.output.strip()}: {why}"


def task_key(rollout: str, command: str) -> str:
    """Dedupe key of a task (Flagger: ``hash(canary + command)``); also safe to log."""
    return hashlib.sha256(f"{rollout}{command}".encode()).hexdigest()[:12]


class TaskRunner:
    """Runs shell tasks with a timeout; background ``cmd`` tasks are deduplicated while running."""

    def __init__(self, timeout: float = DEFAULT_TASK_TIMEOUT, history: int = 100) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._running: dict[str, subprocess.Popen[bytes] | None] = {}
        self._threads: set[threading.Thread] = set()
        self._results: deque[TaskResult] = deque(maxlen=history)
        self._blocking: set[subprocess.Popen[bytes]] = set()
        self._stopped = False
        self.total_execs = 0
        """Background tasks started (Flagger's ``GetTotalExecs``)."""

    def submit(
        self, rollout: str, command: str, *, shell: str = "sh", log_output: bool = False
    ) -> bool:
        """Start ``command`` in the background unless the same task is already running.

        Returns True when started, False when skipped (a running duplicate, or stopped).
        """
        key = task_key(rollout, command)
        with self._lock:
            if self._stopped or key in self._running:
                log.info("task %s for %s skipped: already running", key, rollout)
                return False
            self._running[key] = None
            self.total_execs += 1
            thread = threading.Thread(
                target=self._background,
                args=(key, rollout, command, shell, log_output),
                name=f"modelcanary-task-{key}",
                daemon=True,
            )
            self._threads.add(thread)
        thread.start()
        return True

    def run(
        self, rollout: str, command: str, *, shell: str = "bash", log_output: bool = True
    ) -> TaskResult:
        """Run ``command`` now and wait for it (at most the timeout)."""
        result = self._execute(None, rollout, command, shell)
        self._record(result, log_output)
        return result

    @property
    def stopped(self) -> bool:
        """True once ``stop()`` was called: no task starts any more."""
        with self._lock:
            return self._stopped

    def is_running(self, rollout: str, command: str) -> bool:
        """True while the background task for ``rollout`` and ``command`` runs."""
        with self._lock:
            return task_key(rollout, command) in self._running

    def results(self) -> list[TaskResult]:
        """Finished tasks, oldest first (the last ``history`` of them)."""
        with self._lock:
            return list(self._results)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no background task runs; False if some still run after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return True
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                with self._lock:
                    return not self._threads

    def stop(self, wait: float = 5.0) -> None:
        """Kill every running task (and its children) and refuse new ones."""
        with self._lock:
            self._stopped = True
            procs = [p for p in self._running.values() if p is not None] + list(self._blocking)
        for proc in procs:
            _kill_group(proc)
        self.wait_idle(wait)

    def _background(
        self, key: str, rollout: str, command: str, shell: str, log_output: bool
    ) -> None:
        try:
            result = self._execute(key, rollout, command, shell)
            self._record(result, log_output)
        finally:
            with self._lock:
                self._running.pop(key, None)
                self._threads.discard(threading.current_thread())

    def _record(self, result: TaskResult, log_output: bool) -> None:
        with self._lock:
            self._results.append(result)
        key = task_key(result.rollout, result.command)
        if result.ok:
            log.info("task %s for %s finished in %.1fs", key, result.rollout, result.seconds)
        else:
            why = "timed out" if result.timed_out else f"failed (exit {result.exit_code})"
            log.warning("task %s for %s %s after %.1fs", key, result.rollout, why, result.seconds)
        if log_output and result.output:
            log.info("task %s output:\n%s", key, result.output.rstrip())

    def _execute(self, key: str | None, rollout: str, command: str, shell: str) -> TaskResult:
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                [shell, "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a kill reaches its children
            )
        except OSError as exc:
            return TaskResult(rollout, command, False, None, f"cannot start {shell}: {exc}")
        with self._lock:
            if key is None:
                self._blocking.add(proc)
            else:
                self._running[key] = proc
            stopped = self._stopped
        if stopped:
            _kill_group(proc)
        timed_out = False
        try:
            out, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            try:
                out, _ = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # a grandchild left the group, holding the pipe
                proc.kill()
                out = b""
        finally:
            with self._lock:
                self._blocking.discard(proc)
        code = proc.returncode
        killed = timed_out or code < 0
        return TaskResult(
            rollout=rollout,
            command=command,
            ok=code == 0 and not timed_out,
            exit_code=None if killed else code,
            output=out[-OUTPUT_LIMIT:].decode("utf-8", "replace"),
            timed_out=timed_out,
            seconds=time.monotonic() - start,
        )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.returncode is not None:  # already reaped: its pid may belong to another process
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


__all__ = ["DEFAULT_TASK_TIMEOUT", "OUTPUT_LIMIT", "TaskResult", "TaskRunner", "task_key"]
