"""``run_local(rollout)``: a local rollout as a notebook object (live widget, DataFrame, report).

:class:`NotebookRun` wraps :class:`~modelcanary.local._runtime.LocalRun`. ``run_local`` returns
before anything is started: the model servers (seconds to a minute each), the router, the
load and the engine start in a background thread, so the widget shows at once and tells the
start-up as it happens (``startup_log()``: "starting champion server ...", "champion server
ready in 3.1 s", "router on http://127.0.0.1:PORT"), then the live rollout. A start-up that
fails shows in the widget (``startup_error()``), makes the status ``Failed`` (outcome
``error``) and is raised by ``wait()`` and ``wait_started()``: never silent. The kernel is never
blocked (start-up, engine and the widget's poller run in background threads) unless you call
``wait()`` or ``wait_started()``.

Once the rollout is decided, the router and the model servers (a few hundred MB per model
server) are released at once, not at ``close()``: nothing is left to route, and a notebook
kernel may live for days. What a notebook still shows after the verdict comes from the status,
which stays in memory (widget, ``status()``, ``history()``, ``report()``). ``keep_serving=True``
keeps them up until ``close()``, e.g. to send your own requests to the promoted model.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from ..analysis._llm_records import LLMExchange, all_exchanges
from ..analysis._measurements import Window
from ..local._runtime import LocalRun
from ..spec import ModelRollout, Phase, RolloutStatus
from ._history import HISTORY_COLUMNS, history_frame, history_rows
from ._source import LiveDisplay, PollFeed
from ._startup import StartupLog, default_start

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
    """A local rollout: live widget when displayed (from the start-up on), plus status, wait,
    history, report."""

    def __init__(
        self,
        local: LocalRun,
        *,
        poll_hz: float = 4.0,
        keep_serving: bool = False,
        startup: StartupLog | None = None,
    ) -> None:
        self.local = local
        self._rollout: ModelRollout = local.rollout
        self.poll_hz = min(poll_hz, 4.0)
        self.released = False
        """True once the router and model servers were stopped (after the verdict, or by
        ``close()``)."""
        self._closing = threading.Lock()
        self._closed = threading.Event()
        self._startup = startup
        self.error: BaseException | None = None
        """Why the start-up failed (None: it did not, or is not over)."""
        self._started = threading.Event()
        """Set once the start-up is over (servers, router, load and engine up, or failed)."""
        if startup is None:  # the LocalRun was started by the caller
            self._started.set()
        else:
            threading.Thread(
                target=self._start_up, name=f"modelcanary-start-{local.name}", daemon=True
            ).start()
        if not keep_serving:
            threading.Thread(
                target=self._release_when_decided,
                name=f"modelcanary-release-{self.rollout.name}",
                daemon=True,
            ).start()

    # -- start-up ---------------------------------------------------------------------
    def _start_up(self) -> None:
        """Start servers, router, load and engine (``LocalRun.start``), telling each step."""
        assert self._startup is not None
        began = time.monotonic()
        try:
            self.local.start()
        except BaseException as exc:  # kept for wait(), status() and the widget
            self.error = exc
            self._startup.add(f"start-up failed after {time.monotonic() - began:.1f} s: {exc}")
            log.error("rollout %s could not start: %s", self.rollout.name, exc)
        else:
            if self._closed.is_set():  # closed while starting: stop what was started
                self.local.close()
            else:
                self._startup.add(f"router on {self.local.url}")
                self._startup.add(
                    f"rollout running (start-up took {time.monotonic() - began:.1f} s)"
                )
        finally:
            self._started.set()

    def startup_log(self) -> list[str]:
        """What the start-up did so far ("starting challenger server ...", "router on ...")."""
        return self._startup.snapshot() if self._startup is not None else []

    def startup_error(self) -> BaseException | None:
        """Why the start-up failed (None if it did not, or is not over)."""
        return self.error

    @property
    def started(self) -> bool:
        """True once the start-up is over (the rollout runs, or the start-up failed)."""
        return self._started.is_set()

    def wait_started(self, timeout: float | None = None) -> NotebookRun:
        """Block until servers, router, load and engine are up (``url`` is then set); raises
        what made the start-up fail, or TimeoutError."""
        if not self._started.wait(timeout):
            raise TimeoutError(f"rollout {self.rollout.name!r} not started in {timeout} s")
        if self.error is not None:
            raise self.error
        return self

    # -- state ------------------------------------------------------------------------
    @property
    def rollout(self) -> ModelRollout:
        """The rollout as started."""
        return self._rollout

    def status(self) -> RolloutStatus:
        """The rollout's current status (``Failed``, outcome ``error``, when the start-up
        failed)."""
        status = self.local.status()
        if self.error is not None and status.outcome is None:
            return status.model_copy(
                update={
                    "phase": Phase.FAILED,
                    "outcome": "error",
                    "message": f"start-up failed: {self.error}",
                }
            )
        return status

    @property
    def done(self) -> bool:
        """True once the rollout is decided (or the engine stopped, or it could not start)."""
        if not self._started.is_set():
            return False
        return self.error is not None or self.local.done

    @property
    def url(self) -> str:
        """The local router's address (send your own ``POST {url}/invocations``); "" once
        the router was released after the verdict (see ``keep_serving``)."""
        return self.local.url

    def wait(self, timeout: float | None = None) -> RolloutStatus:
        """Block until decided (or ``timeout`` seconds); the widget shows the final state.
        Raises what made the start-up fail."""
        began = time.monotonic()
        if not self._started.wait(timeout):
            return self.status()
        if self.error is None:
            left = None if timeout is None else max(0.0, timeout - (time.monotonic() - began))
            self.local.wait(left)
        if self._widget is not None:
            if self.done:
                self._widget.stop()
            self._widget.refresh(force=True)
        if self.done:
            self._publish_final(by="wait")
        if self.error is not None:
            raise self.error
        return self.status()

    # -- manual control ---------------------------------------------------------------
    def act(self, kind: str, reason: str = "") -> None:
        """approve, pause, resume, abort, retry or promote (applied at the next tick)."""
        self.local.act(kind, reason or f"{kind} from the notebook")

    def llm_exchanges(self, window: Window) -> list[LLMExchange]:
        """The chat/completions exchanges the router recorded in ``window`` (an LLM rollout;
        kept after the router is released, with the status): the widget's LLM view."""
        return self.local.llm_exchanges(window)

    def report(self, path: str | Path = "rollout-report.html") -> Path:
        """Write the self-contained HTML report (plotly inlined; an LLM rollout's LLM view
        from the router's exchanges); returns its path."""
        from .._report import write

        return write(path, self.rollout, self.status(), all_exchanges(self))

    def static_html(self) -> str:
        """What the output shows without the live widget (see ``LiveDisplay``); an LLM
        rollout's decided output also has the LLM view, from the router's exchanges."""
        status = self.status()
        if not self._final(status):
            return super().static_html()
        from .._report import fragment

        return fragment(self.rollout, status, self.fallback_plotlyjs, all_exchanges(self))

    def follow(self) -> PollFeed:
        """The widget's feed: the in-memory status, read at most ``poll_hz`` times a second."""
        return PollFeed(self, 1.0 / max(0.1, self.poll_hz))

    def close(self) -> None:
        """Stop the widget's poller, the engine, the router and the model servers (also
        during the start-up: a server not started yet is not started)."""
        self._closed.set()
        if self._startup is not None:
            self._startup.closed.set()
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
            if self.done:
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
    """Start ``rollout`` (a ModelRollout or a builder) on the local runtime; returns at once,
    before the model servers are up (they start in the background: the widget tells the
    start-up; ``wait_started()`` blocks until ``url`` is set).

    The router and model servers stop as soon as the rollout is decided, unless
    ``keep_serving`` (then at ``close()``). Extra keyword arguments go to
    :class:`~modelcanary.local._runtime.LocalRun`. A bad spec is refused here, at once.
    """
    spec = rollout.build() if hasattr(rollout, "build") else rollout
    startup = StartupLog(spec, kwargs.pop("start_server", None) or default_start)
    local = LocalRun(
        spec,
        tracking_uri=tracking_uri,
        payloads=payloads,
        start_server=startup.start_server,
        **kwargs,
    )
    return NotebookRun(local, poll_hz=poll_hz, keep_serving=keep_serving, startup=startup)


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
