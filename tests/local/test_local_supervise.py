"""``local.supervise``: is a recorded runner still that very process (issue 13 item 7)?

Moved from ``cli/_runner.py``; real child processes, no stubs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from modelcanary.cli._runner import Runner, RunOptions
from modelcanary.engine._filestore import checked_name
from modelcanary.errors import SpecError
from modelcanary.local._supervise import is_running, process_state


def _runner(pid: int, proc_start: str | None, exit_code: int | None = None) -> Runner:
    return Runner(pid, "2026-01-01T00:00:00Z", "spec.yaml", RunOptions(), False, None,
                  proc_start, exit_code)  # fmt: skip


def test_a_running_process_its_zombie_and_a_reused_pid() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)  # fmt: skip
    try:
        state = process_state(child.pid)
        assert state is not None and state.state != "Z" and state.start_time
        assert is_running(child.pid) and is_running(child.pid, state.start_time)
        assert not is_running(child.pid, state.start_time + "0")  # another process, same pid
        assert _runner(child.pid, state.start_time).alive
        assert not _runner(child.pid, state.start_time, exit_code=0).alive
        assert child.stdin is not None
        child.stdin.close()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped: a zombie
        zombie = process_state(child.pid)
        assert zombie is not None and zombie.state == "Z"
        assert not is_running(child.pid) and not _runner(child.pid, state.start_time).alive
    finally:
        child.wait(30)
    assert process_state(child.pid) is None and not is_running(child.pid)


def test_own_process_and_checked_names() -> None:
    own = process_state(os.getpid())
    assert own is not None and is_running(os.getpid(), own.start_time)
    assert checked_name("fraud-v2", "name") == "fraud-v2"
    with pytest.raises(SpecError, match="not a valid rollout namespace"):
        checked_name("../etc", "namespace")
