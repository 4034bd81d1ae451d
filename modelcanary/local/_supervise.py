"""Process supervision for local runs: is the process a record names still that very process?

``modelcanary run`` records its pid and the kernel's start time of the process
(``/proc/PID/stat`` field 22); ``status``, ``abort`` and ``retry`` later ask whether that runner
still runs. A pid alone is not enough: a zombie is not running, and after the process ended
the kernel may give its pid to another one, whose start time differs. Without ``/proc`` (macOS)
only the pid's existence can be checked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple


class ProcessState(NamedTuple):
    """A process as ``/proc`` shows it: state letter (``R``, ``S``, ``Z``...) and start time."""

    state: str
    start_time: str
    """Clock ticks since boot (``""`` where ``/proc`` is missing)."""


def process_state(pid: int) -> ProcessState | None:
    """The state of process ``pid``, or None when no such process exists."""
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
        return ProcessState("R", "")
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces and ')'
    return ProcessState(fields[0], fields[19])


def is_running(pid: int, start_time: str | None = None) -> bool:
    """True while process ``pid`` runs (not a zombie) and, when ``start_time`` is given, it is
    the process that started then (not a later one that reused the pid)."""
    found = process_state(pid)
    if found is None or found.state == "Z":
        return False
    return start_time is None or found.start_time == start_time


__all__ = ["ProcessState", "is_running", "process_state"]
