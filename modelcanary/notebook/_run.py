"""``run_local(rollout)``: a local rollout as a notebook object (live widget, DataFrame, report).

:class:`NotebookRun` wraps :class:`~modelcanary.local._runtime.LocalRun`: it is started at once,
shown in a cell it renders the live :class:`~modelcanary.notebook._widget.RunWidget`, and it
gives the history as a pandas DataFrame and the HTML report. The kernel is never blocked
(the engine and the widget's poller run in background threads) unless you call ``wait()``.

Once the rollout is decided, the router and the model servers (a few hundred MB per model
server) are released at once, not at ``close()``: nothing is left to route, and a notebook
kernel may live for days. What a notebook still shows after the verdict comes from the status,
which stays in memory (widget, ``status()``, ``history()``, ``report()``). ``keep_serving=True``
keeps them up until ``close()``, e.g. to send your own requests to the promoted model.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..local._runtime import LocalRun
from ..spec import ModelRollout, RolloutStatus
from ._history import HISTORY_COLUMNS, history_frame, history_rows
from ._source import LiveDisplay, PollFeed

__all__ = [
    "HISTORY_COLUMNS",
    "LocalRuntime",
    "NotebookRun",
    "history_frame",
    "history_rows",
    "local",
    "run_local",
]

log = logging.getLogger("modelcanary.notebook")


class NotebookRun(LiveDisplay):
    """A started local rollout: live widget when displayed, plus status, wait, history, report."""

    def __init__(
        self, local: LocalRun, *, poll_hz: float = 4.0, keep_serving: bool = False
    ) -> None:
        self.local = local
        self._rollout: ModelRollout = local.rollout
        self.poll_hz = min(poll_hz, 4.0)
        self.released = False
        """True once the router and model servers were stopped (after the verdict, or by
        ``close()``)."""
        self._closing = threading.Lock()
        self._closed = threading.Event()
        if not keep_serving:
            threading.Thread(
                target=self._release_when_decided,
                name=f"modelcanary-release-{self.rollout.name}",
                daemon=True,
            ).start()

    # -- state ------------------------------------------------------------------------
    @property
    def rollout(self) -> ModelRollout:
        """The rollout as started."""
        return self._rollout

    def status(self) -> RolloutStatus:
        """The rollout's current status."""
        return self.local.status()

    @property
    def done(self) -> bool:
        """True once the rollout is decided (or the engine stopped)."""
        return self.local.done

    @property
    def url(self) -> str:
        """The local router's address (send your own ``POST {url}/invocations``); "" once
        the router was released after the verdict (see ``keep_serving``)."""
        return self.local.url

    def wait(self, timeout: float | None = None) -> RolloutStatus:
        """Block until decided (or ``timeout`` seconds); the widget shows the final state."""
        status = self.local.wait(timeout)
        if self._widget is not None:
            if self.done:
                self._widget.stop()
            self._widget.refresh(force=True)
        return status

    # -- manual control ---------------------------------------------------------------
    def act(self, kind: str, reason: str = "") -> None:
        """approve, pause, resume, abort, retry or promote (applied at the next tick)."""
        self.local.act(kind, reason or f"{kind} from the notebook")

    def follow(self) -> PollFeed:
        """The widget's feed: the in-memory status, read at most ``poll_hz`` times a second."""
        return PollFeed(self, 1.0 / max(0.1, self.poll_hz))

    def close(self) -> None:
        """Stop the widget's poller, the engine, the router and the model servers."""
        self._closed.set()
        if self._widget is not None:
            self._widget.stop()
        self._release()

    def _release(self) -> None:
        """Stop the engine, load, router and model servers, once (the status stays)."""
        with self._closing:
            self.local.close()
            self.released = True

    def _release_when_decided(self) -> None:
        """Wait for the verdict (or the engine's end), then release what served the rollout."""
        while not self._closed.is_set():
            if self.local.done:
                break
            try:
                self.local.wait(1.0)
            except BaseException:  # the engine died: wait() re-raises; nothing left to run
                break
            self._closed.wait(0.2)  # also bounds the loop while the runtime starts up
        if self._closed.is_set():
            return
        self._release()
        status = self.local.status()
        log.info(
            "rollout %s decided (%s): router and model servers stopped; the status stays",
            self.rollout.name,
            status.outcome or status.phase,
        )

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
    keep_serving: bool = False,
    **kwargs: Any,
) -> NotebookRun:
    """Start ``rollout`` (a ModelRollout or a builder) on the local runtime; returns at once.

    The router and model servers stop as soon as the rollout is decided, unless
    ``keep_serving`` (then at ``close()``). Extra keyword arguments go to
    :class:`~modelcanary.local._runtime.LocalRun`.
    """
    spec = rollout.build() if hasattr(rollout, "build") else rollout
    local = LocalRun(spec, tracking_uri=tracking_uri, payloads=payloads, **kwargs)
    local.start()
    return NotebookRun(local, poll_hz=poll_hz, keep_serving=keep_serving)


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
