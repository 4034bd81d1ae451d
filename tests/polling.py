"""``until``: poll a check until it answers, shared by the tests that wait on real processes,
operators and kernels. The timeout is a bound on a hung run, never a timed assertion."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def until(check: Callable[[], Any], what: str, timeout: float, interval: float = 0.3) -> Any:
    """``check()``'s first truthy answer, asked every ``interval`` seconds; AssertionError
    naming ``what`` if none came within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
