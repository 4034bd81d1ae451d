"""Fault injection for tests and demos: make a model server slow or failing on purpose.

Off by default. A served request first waits ``latency_ms``, then fails with HTTP 500 with
probability ``error_rate`` (without calling the model). ``seed`` makes the sequence of
failures reproducible for a given order of requests.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from ..errors import SpecError, SpecIssue


@dataclass(frozen=True)
class Faults:
    """What to inject: an error fraction in [0, 1], an added delay, an optional seed."""

    error_rate: float = 0.0
    latency_ms: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        issues = []
        if not 0.0 <= self.error_rate <= 1.0:
            issues.append(
                SpecIssue("faults.error_rate", f"{self.error_rate} is not in [0, 1]", "e.g. 0.05")
            )
        if self.latency_ms < 0:
            issues.append(SpecIssue("faults.latency_ms", "must be >= 0", "e.g. 50"))
        if issues:
            raise SpecError(issues)

    @property
    def active(self) -> bool:
        """True when any fault is injected."""
        return self.error_rate > 0 or self.latency_ms > 0

    def to_args(self) -> list[str]:
        """The command-line flags that reproduce these faults."""
        args = []
        if self.error_rate:
            args += ["--fault-error-rate", repr(self.error_rate)]
        if self.latency_ms:
            args += ["--fault-latency-ms", repr(self.latency_ms)]
        if self.seed is not None:
            args += ["--fault-seed", str(self.seed)]
        return args


class FaultInjector:
    """Draws the fault decision of each request from one seeded generator (thread-safe)."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()

    @property
    def delay_seconds(self) -> float:
        """Delay to add before answering."""
        return self.faults.latency_ms / 1000.0

    def should_fail(self) -> bool:
        """True for a random ``error_rate`` fraction of calls."""
        if self.faults.error_rate <= 0:
            return False
        with self._lock:
            return self._random.random() < self.faults.error_rate
