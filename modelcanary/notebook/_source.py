"""What the live widget is fed by: a *status source*, which either runtime implements.

:class:`~modelcanary.notebook._widget.RunWidget` draws one rollout from any object with a
``rollout``, ``status()``, ``done`` and ``act(kind, reason)``; its background thread follows the
source's :meth:`StatusSource.follow` feed, an iterator of statuses that ends once the rollout is
decided and that another thread can ``close()``:

- the local runtime (:class:`~modelcanary.notebook._run.NotebookRun`) has its status in memory:
  its feed is :class:`PollFeed`, a read at most 4 times a second;
- a cluster (:class:`~modelcanary.notebook._cluster.ClusterRun`) pushes: its feed is a watch on
  the ModelRollout resource (Kubernetes watch API), one item per version the operator writes.

A source without ``follow`` (a fixed status in the tests) is polled with :class:`PollFeed`.

How a run shows in a notebook (:class:`LiveDisplay`): one output whose mimebundle holds the
live widget's view (``application/vnd.jupyter.widget-view+json``) and a static ``text/html``
rendering. Each display gets a display id; once the rollout is decided, the output is
updated in place (``update_display``) so its ``text/html`` is the *final* state (outcome,
last checks, every chart, from :func:`modelcanary._report.fragment`) next to the widget view.
A frontend that has the widget's model (the kernel is alive: JupyterLab re-attaches after a
reload) draws the widget; one without it (nbviewer, GitHub, an HTML export, VS Code without
the kernel) shows the final charts. Before the verdict the ``text/html`` is the status as of
the display.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..spec import ModelRollout, RolloutStatus
from ..spec._html import status_html

if TYPE_CHECKING:
    from ._widget import RunWidget


@runtime_checkable
class StatusFeed(Protocol):
    """Statuses as they change; ends once the rollout is decided. ``close()`` is thread-safe
    and makes a thread blocked on the feed return."""

    def __iter__(self) -> Iterator[RolloutStatus]: ...

    def close(self) -> None: ...


class StatusSource(Protocol):
    """One rollout as the widget sees it (local or in a cluster)."""

    @property
    def rollout(self) -> ModelRollout:
        """The rollout (its spec: title, SLIs and their passing bands)."""
        ...

    @property
    def done(self) -> bool:
        """True once the rollout is decided (the widget stops following, buttons go off)."""
        ...

    def status(self) -> RolloutStatus:
        """The current status."""
        ...

    def act(self, kind: str, reason: str = "") -> None:
        """A manual action from a button: approve, pause, resume, abort or promote."""
        ...


class Pollable(Protocol):
    """What :class:`PollFeed` reads."""

    @property
    def done(self) -> bool: ...

    def status(self) -> RolloutStatus: ...


class PollFeed:
    """The status of a source that cannot push, read every ``period`` seconds until done."""

    def __init__(self, source: Pollable, period: float) -> None:
        self.source = source
        self.period = period
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[RolloutStatus]:
        while not self._closed.wait(self.period):
            done = self.source.done  # read first: the status read after it is at least as new
            yield self.source.status()
            if done:
                return

    def close(self) -> None:
        """Stop after the current wait (returns at once)."""
        self._closed.set()


def feed_of(source: StatusSource, period: float) -> StatusFeed:
    """``source.follow()`` when it has one, else a :class:`PollFeed` of it."""
    follow = getattr(source, "follow", None)
    if callable(follow):
        feed = follow()
        if isinstance(feed, StatusFeed):
            return feed
    return PollFeed(source, period)


class LiveDisplay:
    """What both runtimes' run handles share: how a run shows in a notebook (the live widget,
    made on first display, with the status as HTML where widgets do not render), its history
    and report, and the manual actions, all over ``rollout``, ``status()`` and ``act()``."""

    _widget: RunWidget | None = None
    poll_hz: float = 4.0
    fallback_plotlyjs: str | bool = "cdn"
    """Where the decided run's static charts load plotly.js from: "cdn" (a small notebook;
    the viewer needs the internet) or "inline" (about 4 MB per output, works offline)."""
    _display_ids: list[str] | None = None
    _final_sent_by: frozenset[str] | None = None
    _display_lock = threading.Lock()

    @property
    def rollout(self) -> ModelRollout:  # pragma: no cover - implemented by the runs
        """The rollout as submitted."""
        raise NotImplementedError

    def status(self) -> RolloutStatus:  # pragma: no cover - implemented by the runs
        raise NotImplementedError

    def act(self, kind: str, reason: str = "") -> None:  # pragma: no cover - by the runs
        raise NotImplementedError

    # -- what a run tells ---------------------------------------------------------------
    def history(self) -> Any:
        """The analysis history as a DataFrame: one row per interval and metric, each row's
        numbers in the one unit its ``unit`` column names."""
        from ._history import history_frame

        return history_frame(self.status(), self.rollout)

    def report(self, path: str | Path = "rollout-report.html") -> Path:
        """Write the self-contained HTML report (plotly inlined); returns its path."""
        from .._report import write

        return write(path, self.rollout, self.status())

    # -- manual control -----------------------------------------------------------------
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

    def widget(self) -> RunWidget:
        """The live widget (made on first use, then following the run until it is decided)."""
        if self._widget is None:
            from ._widget import RunWidget

            self._widget = RunWidget(self, poll_hz=self.poll_hz)  # type: ignore[arg-type]
            self._widget.on_final = self._publish_final
            self._widget.start()
        return self._widget

    def _final(self, status: RolloutStatus) -> bool:
        """True once the rollout is decided (the source says done, or the status has an
        outcome)."""
        return bool(getattr(self, "done", False)) or status.outcome is not None

    def static_html(self) -> str:
        """What the output shows without the live widget: the final state (outcome, checks,
        every chart) once decided, else the status as of now."""
        status = self.status()
        if not self._final(status):
            return status_html(status)
        from .._report import fragment

        return fragment(self.rollout, status, self.fallback_plotlyjs)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget().view._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):  # a static rendering where the widget cannot render
            bundle["text/html"] = self.static_html()
        return bundle

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display_id = uuid.uuid4().hex
        with self._display_lock:
            self._display_ids = [*(self._display_ids or []), display_id]
        display(self._repr_mimebundle_(), raw=True, display_id=display_id)  # type: ignore[no-untyped-call]

    def _publish_final(self, by: str = "widget") -> None:
        """Once decided: update every output showing this run in place, so the notebook keeps
        the final charts next to the widget view (see the module docstring). At most once per
        caller (``by``): the widget's thread (its updates reach the cell that displayed the
        run) and ``wait()`` (whose updates also reach a client that only listens to the cell
        being run, e.g. nbclient)."""
        with self._display_lock:
            sent = self._final_sent_by or frozenset()
            if by in sent or not self._display_ids or not self._final(self.status()):
                return
            self._final_sent_by = sent | {by}
            ids = list(self._display_ids)
        from IPython.display import update_display

        bundle = self._repr_mimebundle_()
        for display_id in ids:
            update_display(bundle, raw=True, display_id=display_id)  # type: ignore[no-untyped-call]


__all__ = ["LiveDisplay", "PollFeed", "Pollable", "StatusFeed", "StatusSource", "feed_of"]
