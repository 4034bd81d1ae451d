"""Helpers of the serving tests: Prometheus text parsing, free ports, process checks."""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')

Sample = tuple[str, frozenset[tuple[str, str]]]
PIP = ["scikit-learn", "skops", "mlflow"]  # given when logging: skips slow requirement inference


@dataclass(frozen=True)
class Models:
    """Saved model directories and the fitted estimators (to compare predictions)."""

    classifier_dir: Path
    regressor_dir: Path
    echo_dir: Path
    classifier: Any
    regressor: Any
    X_iris: Any
    X_diabetes: Any


@dataclass(frozen=True)
class Tracking:
    url: str
    root: Path


def parse_metrics(text: str) -> dict[Sample, float]:
    """Every sample of a Prometheus 0.0.4 text: ``{(name, labels): value}``; strict."""
    samples: dict[Sample, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert not line or line.startswith(("# HELP ", "# TYPE ")), line
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        labels = frozenset(
            (m["key"], m["value"].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\"))
            for m in _LABEL.finditer(match["labels"] or "")
        )
        key = (match["name"], labels)
        assert key not in samples, f"duplicate sample {key}"
        samples[key] = float(match["value"])
    return samples


def value(samples: dict[Sample, float], name: str, **labels: str) -> float | None:
    """The sample whose labels include ``labels`` (exactly one must match)."""
    found = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(found) <= 1, f"{name} {labels} matches {len(found)} samples"
    return found[0] if found else None


def buckets(samples: dict[Sample, float], name: str) -> dict[str, float]:
    """``{le: cumulative count}`` of one histogram (single label set)."""
    return {
        dict(ls)["le"]: v for (n, ls), v in samples.items() if n == f"{name}_bucket"
    }  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_gone(pid: int) -> bool:
    """True when the process no longer runs (a zombie waiting for its reaper counts as gone)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.exists() and Path("/proc/self").exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except (FileNotFoundError, ProcessLookupError):
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_gone(pid):
            return True
        time.sleep(0.05)
    return pid_gone(pid)
