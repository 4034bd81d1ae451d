"""Progress lines of the MLflow hook: what a rollout does between the alias move and the verdict.

The hook used to log "rolling out NAME vN" and, minutes later, the verdict, and nothing in
between. A :class:`ProgressLog` is fed every status the rollout goes through (each tick of a
local run; each status the operator writes, in cluster mode) and logs at INFO one line per
*change*, never one per tick:

- a stage change (phase, challenger weight, mirror weight), with the status message, e.g.
  ``m v3: Progressing, challenger 20 % (mirror 0 %): stage 2/3: canary 20%``;
- each new analysis interval, with its verdict and each check's value and verdict (and, when
  it did not pass, why: failed, held, inconclusive), e.g.
  ``m v3: analysis at 20 %: pass (error-rate 0.002 pass, latency-p99 41 pass)``;
- a new message in the same stage and without a new interval (a wait or a hold: "waiting
  for the challenger to be ready: ...", "stage 2 paused: waiting for approval").

Nothing after the decided phase (``Succeeded``/``Failed``): the hook then logs the verdict
itself once it has written it to the registry (``m v3: promoted (challenger promoted)``).

``latest()`` is the last status seen, for the receiver's ``GET /status``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..spec import AnalysisRecord, RolloutStatus
from ._mlflow_runs import stamp_millis

log = logging.getLogger("modelcanary.mlflow")

MAX_CHECKS = 6
"""Checks named in one analysis line (the rest are counted)."""


class ProgressLog:
    """Logs the changes of one rollout's status, one INFO line each (thread-safe)."""

    def __init__(self, name: str, version: str, logger: logging.Logger | None = None) -> None:
        self.label = f"{name} v{version}"
        self.log = logger or log
        self._stage: tuple[str, int, int] | None = None
        self._message: str | None = None
        self._seen = -1
        """Time (ms) of the newest analysis record logged: each record is logged once."""
        self._decided = False
        self._latest: RolloutStatus | None = None
        self._lock = threading.Lock()

    def latest(self) -> RolloutStatus | None:
        """The last status observed (None before the first)."""
        with self._lock:
            return self._latest

    def summary(self) -> dict[str, Any]:
        """The current stage as JSON data for ``GET /status`` ({} before the first status)."""
        status = self.latest()
        return {} if status is None else stage_of(status)

    def follow(self, run: Any) -> None:
        """Observe a started local run (``LocalRun``) after each of its ticks, and now."""
        earlier = run.on_tick

        def ticked(result: Any) -> None:
            if earlier is not None:
                earlier(result)
            self.observe(run.status())

        run.on_tick = ticked
        self.observe(run.status())  # what the ticks before this one did

    def observe(self, status: RolloutStatus | None) -> list[str]:
        """Log what changed since the last status; returns the lines logged."""
        if status is None:
            return []
        with self._lock:  # logged under the lock: two threads never interleave their lines
            self._latest = status
            lines = self._changes(status)
            for line in lines:
                self.log.info("%s: %s", self.label, line)
        return lines

    def _changes(self, status: RolloutStatus) -> list[str]:
        if self._decided:
            return []
        lines: list[str] = []
        new = [r for r in status.history if stamp_millis(r.time) > self._seen]
        for record in new:
            lines.append(_analysis_line(record))
        if new:
            self._seen = max(stamp_millis(r.time) for r in new)
        stage = (str(status.phase), status.canary_weight, status.mirror_weight)
        message = status.message
        if stage != self._stage:
            line = (
                f"{stage[0]}, challenger {stage[1]} % (mirror {stage[2]} %)"
                f"{': ' + message if message else ''}"
            )
            lines.append(line)
        elif message and message != self._message and not any(r.message == message for r in new):
            lines.append(message)
        self._stage, self._message = stage, message
        if status.phase.traits.decided and status.outcome is not None:
            self._decided = True  # the hook logs the verdict itself, once it is written
        return lines


def stage_of(status: RolloutStatus) -> dict[str, Any]:
    """Where a rollout is, as JSON data: phase, weights, message and the last interval."""
    last = status.history[-1] if status.history else None
    return {
        "phase": str(status.phase),
        "canaryWeight": status.canary_weight,
        "mirrorWeight": status.mirror_weight,
        "message": status.message,
        "lastAnalysis": None if last is None else {"time": last.time, "verdict": last.verdict},
    }


def _analysis_line(record: AnalysisRecord) -> str:
    """One analysis interval: where, the verdict and each check (value and verdict)."""
    checks = [f"{c.metric} {_value(c.value)} {c.verdict}" for c in record.checks[:MAX_CHECKS]] + (
        [f"{len(record.checks) - MAX_CHECKS} more"] if len(record.checks) > MAX_CHECKS else []
    )
    where = f"at {record.canary_weight} %"
    if record.mirror_weight:
        where += f" (mirror {record.mirror_weight} %)"
    detail = f" ({', '.join(checks)})" if checks else ""
    if record.verdict != "pass" and record.message:
        detail += f": {record.message}"  # why it failed, holds or counts as inconclusive
    return f"analysis {where}: {record.verdict}{detail}"


def _value(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"
