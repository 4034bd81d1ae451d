"""``run_local(rollout)``: a local rollout as a notebook object (live widget, DataFrame, report).

:class:`NotebookRun` wraps :class:`~modelcanary.local._runtime.LocalRun`: it is started at once,
shown in a cell it renders the live :class:`~modelcanary.notebook._widget.RunWidget`, and it
gives the history as a pandas DataFrame and the HTML report. The kernel is never blocked
(the engine and the widget's poller run in background threads) unless you call ``wait()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..local._runtime import LocalRun
from ..spec import AnalysisRecord, ModelRollout, RolloutStatus
from ._source import LiveDisplay, PollFeed

HISTORY_COLUMNS = [
    "time",
    "phase",
    "weight",
    "mirror",
    "metric",
    "value",
    "champion_value",
    "min",
    "max",
    "verdict",
    "reason",
    "judge",
    "p_value",
]
"""Columns of :meth:`NotebookRun.history` (one row per analysis interval and metric)."""


def history_rows(history: list[AnalysisRecord]) -> list[dict[str, Any]]:
    """Flat records: one per interval and check (an interval without checks gives one row)."""
    rows: list[dict[str, Any]] = []
    for record in history:
        base = {
            "time": record.time,
            "phase": record.phase,
            "weight": record.canary_weight,
            "mirror": record.mirror_weight,
        }
        if not record.checks:
            rows.append(base | dict.fromkeys(HISTORY_COLUMNS[4:]) | {"verdict": record.verdict})
        for c in record.checks:
            rows.append(
                base
                | {
                    "metric": c.metric,
                    "value": c.value,
                    "champion_value": c.champion_value,
                    "min": c.min,
                    "max": c.max,
                    "verdict": c.verdict,
                    "reason": c.reason,
                    "judge": c.judge,
                    "p_value": c.p_value,
                }
            )
    return rows


def history_frame(status: RolloutStatus) -> Any:
    """``status.history`` as a pandas DataFrame with :data:`HISTORY_COLUMNS` (time parsed)."""
    import pandas as pd

    frame = pd.DataFrame(history_rows(list(status.history)), columns=HISTORY_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


class NotebookRun(LiveDisplay):
    """A started local rollout: live widget when displayed, plus status, wait, history, report."""

    def __init__(self, local: LocalRun, *, poll_hz: float = 4.0) -> None:
        self.local = local
        self.rollout: ModelRollout = local.rollout
        self.poll_hz = min(poll_hz, 4.0)

    # -- state ------------------------------------------------------------------------
    def status(self) -> RolloutStatus:
        """The rollout's current status."""
        return self.local.status()

    @property
    def done(self) -> bool:
        """True once the rollout is decided (or the engine stopped)."""
        return self.local.done

    @property
    def url(self) -> str:
        """The local router's address (send your own ``POST {url}/invocations``)."""
        return self.local.url

    def wait(self, timeout: float | None = None) -> RolloutStatus:
        """Block until decided (or ``timeout`` seconds); the widget shows the final state."""
        status = self.local.wait(timeout)
        if self._widget is not None:
            if self.done:
                self._widget.stop()
            self._widget.refresh(force=True)
        return status

    def history(self) -> Any:
        """The analysis history as a DataFrame: one row per interval and metric."""
        return history_frame(self.status())

    def report(self, path: str | Path = "rollout-report.html") -> Path:
        """Write the self-contained HTML report (plotly inlined); returns its path."""
        from .._report import write

        return write(path, self.rollout, self.status())

    # -- manual control ---------------------------------------------------------------
    def act(self, kind: str, reason: str = "") -> None:
        """approve, pause, resume, abort, retry or promote (applied at the next tick)."""
        self.local.act(kind, reason or f"{kind} from the notebook")

    def approve(self, reason: str = "") -> None:
        """Open the current gate or pause step once."""
        self.act("approve", reason)

    def pause(self, reason: str = "") -> None:
        """Hold the rollout where it is."""
        self.act("pause", reason)

    def resume(self, reason: str = "") -> None:
        """Continue a paused rollout."""
        self.act("resume", reason)

    def abort(self, reason: str = "") -> None:
        """Roll back now: all traffic to the champion, outcome ``aborted``."""
        self.act("abort", reason)

    def promote(self, reason: str = "") -> None:
        """Skip the remaining analysis and promote the challenger now."""
        self.act("promote", reason)

    def retry(self, reason: str = "") -> None:
        """Start a failed rollout's revision again."""
        self.act("retry", reason)

    def follow(self) -> PollFeed:
        """The widget's feed: the in-memory status, read at most ``poll_hz`` times a second."""
        return PollFeed(self, 1.0 / max(0.1, self.poll_hz))

    def close(self) -> None:
        """Stop the widget's poller, the engine, the router and the model servers."""
        if self._widget is not None:
            self._widget.stop()
        self.local.close()

    def __enter__(self) -> NotebookRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- display (LiveDisplay: the widget, _repr_mimebundle_, _ipython_display_) -----------
    def __repr__(self) -> str:
        s = self.status()
        return f"<NotebookRun {self.rollout.name!r} {s.phase} weight={s.canary_weight}%>"


def run_local(
    rollout: Any,
    *,
    tracking_uri: str | None = None,
    payloads: list[bytes] | None = None,
    poll_hz: float = 4.0,
    **kwargs: Any,
) -> NotebookRun:
    """Start ``rollout`` (a ModelRollout or a builder) on the local runtime; returns at once.

    Extra keyword arguments go to :class:`~modelcanary.local._runtime.LocalRun`.
    """
    spec = rollout.build() if hasattr(rollout, "build") else rollout
    local = LocalRun(spec, tracking_uri=tracking_uri, payloads=payloads, **kwargs)
    local.start()
    return NotebookRun(local, poll_hz=poll_hz)


class LocalRuntime:
    """``local().run(rollout)`` (``from modelcanary.notebook import local``): the embedded
    local runtime as an object holding options."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def run(self, rollout: Any) -> NotebookRun:
        """Start ``rollout`` (a builder or a ModelRollout) and return its live handle at once."""
        return run_local(rollout, **self.options)


def local(**options: Any) -> LocalRuntime:
    """The embedded local runtime (``tracking_uri=``, ``payloads=`` ... apply to every run)."""
    return LocalRuntime(**options)
