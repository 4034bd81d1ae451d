"""The live rollout widget: ipywidgets + ONE plotly FigureWidget, fed by a status source.

Layout (top to bottom): title and phase badge; one figure whose panels
(:mod:`~modelcanary.notebook._panels`) are the champion/challenger/mirror weights over time,
one chart per SLI with its passing band and a marker per interval coloured by verdict (a cross
on failures), where the sequential judge is used its always-valid confidence band of the
challenger-vs-champion difference over time (:mod:`modelcanary.analysis._bands`), and for LLM
rollouts TTFT and TPOT by prompt-length bucket and the win-rate band
(:mod:`~modelcanary.notebook._llm_view`, whose text line with the spend follows the figure);
the tests' p-values; the last verdict with each check's reason; and Approve / Pause / Resume /
Abort / Promote now buttons that call the source's ``act``. Every series comes from
:func:`modelcanary.analysis._chartdata.chart_data`, the function the HTML report draws from
too (:mod:`~modelcanary.notebook._drawing` draws them, :mod:`~modelcanary.notebook._texts`
writes the text parts).

One figure, not one per chart: each plotly 7 FigureWidget carries plotly's ~5 MB JavaScript
bundle as its own trait, so one per chart sent ~20 MB per rollout and stalled busy pages.

One widget for both runtimes: it draws a :class:`~modelcanary.notebook._source.StatusSource`
(a local ``NotebookRun`` or a cluster's ``ClusterRun``). A daemon thread follows the source's
feed (the local run's status read at most 4 times a second; in a cluster, a watch on the
ModelRollout resource) and only touches the widgets when something changed; it stops once the
rollout is decided. Widget value updates from a thread are safe enough in ipykernel (each is
one comm message).

Start-up: a source may say what it is doing before the rollout runs (``startup_log()``: model
servers starting, the router's address; ``startup_error()``: why it could not start); the
widget shows those lines above the charts, so it can be displayed before any server is up.

Size: plotly's widget front-end draws a figure when its view is made, before the view is in
the page, so plotly sized it at its 700 px default (half the output). The figure is
``responsive`` and a hidden :mod:`~modelcanary.notebook._resize` widget in the view makes
plotly re-measure once the view is in the page and after a chart is added: the charts take
the output's full width. Each panel keeps room below for two-line date ticks and above for
its title and its legend, clear of the plot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

from ..analysis._bands import Band
from ..analysis._chartdata import BandChart, ChartData, chart_data
from ..errors import ModelCanaryError, SpecError, SpecIssue
from ..spec import RolloutStatus
from ..spec._html import phase_badge
from ._drawing import band_panel, fill_bands, fill_metric, fill_traffic, metric_panel, traffic_panel
from ._llm_view import LLMView, llm_inputs
from ._panels import Charts, Panel, sync
from ._resize import resizer
from ._texts import (
    evidence_text,
    pvalues_html,
    startup_html,
    startup_of,
    summary_html,
    verdict_html,
)

if TYPE_CHECKING:
    from ._source import StatusFeed, StatusSource

__all__ = ["BUTTONS", "RunWidget", "chart_data", "evidence_text"]

log = logging.getLogger("modelcanary.notebook")

BUTTONS: dict[str, tuple[str, str]] = {
    "approve": ("Approve", "success"),
    "pause": ("Pause", "warning"),
    "resume": ("Resume", "info"),
    "abort": ("Abort", "danger"),
    "promote": ("Promote now", "primary"),
}
"""Manual action -> (button label, ipywidgets button style)."""


def _modules() -> tuple[Any, Any]:
    """ipywidgets and plotly.graph_objects, or a SpecError saying which extra to install."""
    try:
        import ipywidgets as widgets
        import plotly.graph_objects as go
    except ImportError:
        raise SpecError(
            SpecIssue(
                "notebook", "needs ipywidgets and plotly", "pip install 'modelcanary[notebook]'"
            )
        ) from None
    return widgets, go


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunWidget:
    """The widget tree of one run (``view``) and the code that keeps it up to date."""

    def __init__(self, run: StatusSource, *, poll_hz: float = 4.0) -> None:
        widgets, go = _modules()
        self.run = run
        self.period = 1.0 / max(0.1, min(poll_hz, 4.0))
        spec = run.rollout.spec
        champion = spec.champion.source if spec.champion else "champion"
        challenger = spec.challenger.source if spec.challenger else "challenger"
        self.title = widgets.HTML(
            f"<h3 style='margin:4px 0'>Rollout {escape(run.rollout.name)}</h3>"
            f"<div>champion <code>{escape(champion)}</code> &rarr; challenger "
            f"<code>{escape(challenger)}</code></div>"
        )
        self.badge = widgets.HTML()
        self.startup = widgets.HTML()
        """What the source did before the rollout ran (servers starting, the router's
        address) and why it could not start, if so."""
        self.summary = widgets.HTML()
        self.charts = Charts(go)
        """The one FigureWidget (``charts.figure``) and its panels, top to bottom."""
        self.weights: Panel = traffic_panel(self.charts)
        self.metrics: dict[str, Panel] = {}
        """One panel per SLI check, by its key (e.g. ``latency-p99@champion``)."""
        self.bands: Panel | None = None  # the band panel, made when the first band comes
        self._band_charts: dict[str, BandChart] = {}
        self.llm = LLMView(
            widgets, go, lambda _go, **layout: self.charts.add("llm", **layout), sync
        )
        """TTFT/TPOT by prompt length, win-rate band (panels), spend (LLM rollouts only)."""
        self.pvalues = widgets.HTML()
        self.verdict = widgets.HTML()
        self.feedback = widgets.HTML()
        self.buttons: dict[str, Any] = {}
        for kind, (label, style) in BUTTONS.items():
            button = widgets.Button(
                description=label, button_style=style, tooltip=f"{kind} the rollout"
            )
            button.on_click(self._clicker(kind))
            self.buttons[kind] = button
        self.resizer = resizer()
        """Hidden: makes plotly fit the charts to the output's width (see ``_resize``)."""
        self.view = widgets.VBox(
            [
                widgets.HBox([self.title, self.badge]),
                self.startup,
                self.summary,
                self.figure,
                self.llm.box,
                self.pvalues,
                self.verdict,
                widgets.HBox(list(self.buttons.values())),
                self.feedback,
                self.resizer,
            ],
            layout=widgets.Layout(width="100%"),
        )
        self.on_final: Callable[[], None] | None = None
        """Called once the widget drew the decided state (the run's static fallback then)."""
        self.phase = ""
        self.decided = ""
        """The outcome (or final phase) once the drawn status is decided; "" before."""
        self.updates = 0
        self._seen: list[tuple[str, int, int]] = []
        self._key: tuple[Any, ...] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._feed: StatusFeed | None = None
        self.refresh(force=True)

    @property
    def figure(self) -> Any:
        """The widget's one plotly FigureWidget: every chart is a panel of it."""
        return self.charts.figure

    # -- following the source ---------------------------------------------------------
    def start(self) -> None:
        """Start following the source's feed (no-op when running or already decided)."""
        if self._thread is not None or self.run.done:
            return
        from ._source import feed_of

        self._feed = feed_of(self.run, self.period)
        self._thread = threading.Thread(
            target=self._follow, args=(self._feed,), name="modelcanary-widget", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop following (the widgets keep their last state)."""
        self._stop.set()
        if self._feed is not None:
            self._feed.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    @property
    def polling(self) -> bool:
        """True while the thread following the source runs."""
        return self._thread is not None and self._thread.is_alive()

    def _follow(self, feed: StatusFeed) -> None:
        try:
            for status in feed:
                if self._stop.is_set():
                    break
                try:
                    self.refresh(status=status)
                except Exception:  # a display hiccup must not stop the widget
                    log.exception("widget refresh failed")
        except Exception as exc:  # the feed failed for good (e.g. access to the resource lost)
            log.warning("the widget stopped following the rollout: %s", exc)
            self.feedback.value = f"<i>stopped following: {escape(str(exc))}</i>"
        finally:
            feed.close()
        if not self._stop.is_set():
            try:  # the final state, with the source's own view of "done"
                self.refresh(force=True)
            except Exception:
                log.exception("widget refresh failed")
        if self.on_final is not None and self.run.done:
            try:
                self.on_final()
            except Exception:
                log.exception("publishing the final state failed")

    def _clicker(self, kind: str) -> Any:
        def click(_button: Any) -> None:
            # a press the page sent before the decided state reached it (a busy page, a slow
            # link) comes after the verdict: nothing is sent, and the feedback says why
            if self.run.done or self.decided:
                self.feedback.value = (
                    f"<i>{escape(kind)} not sent: the rollout was already decided "
                    f"({escape(self.decided or 'done')})</i>"
                )
                return
            try:
                self.run.act(kind, f"{kind} from the notebook widget")
            except ModelCanaryError as exc:  # e.g. no RBAC to annotate the resource
                self.feedback.value = f"<i>{escape(kind)} failed: {escape(str(exc))}</i>"
                return
            self.feedback.value = (
                f"<i>{escape(kind)} sent at {_now()}; applied at the rollout's next tick</i>"
            )

        return click

    # -- rendering --------------------------------------------------------------------
    def refresh(self, force: bool = False, status: RolloutStatus | None = None) -> bool:
        """Redraw from ``status`` (default: the source's current one) if it changed; returns
        True when it redrew."""
        if status is None:
            status = self.run.status()
        done = self.run.done
        last = status.history[-1].time if status.history else None
        startup = startup_of(self.run)
        key = (
            startup,
            status.phase,
            status.canary_weight,
            status.mirror_weight,
            len(status.history),
            last,
            status.paused,
            status.outcome,
            status.message,
            status.last_analysis_time,
            done,
        )
        with self._lock:
            if key == self._key and not force:
                return False
            self._key = key
            self.startup.value = startup_html(*startup)
            self._draw(status, done)
            self.updates += 1
        return True

    def _draw(self, status: RolloutStatus, done: bool) -> None:
        self.phase = status.phase
        self.badge.value = phase_badge(status)
        self.summary.value = summary_html(status)
        if not done:  # what the poller saw live, between analyses (kept for the chart)
            self._seen.append((_now(), status.canary_weight, status.mirror_weight))
        analysis = self.run.rollout.spec.analysis
        data = chart_data(analysis, status, bands=self._band_charts, seen=self._seen, now=_now())
        panels = len(self.charts.panels)
        fill_traffic(self.weights, data.traffic)
        self._draw_metrics(data)
        self._draw_bands(data)
        self.llm.update(llm_inputs(self.run, status))
        sync(self.figure)  # a view made later (a reload, the saved state) starts from here
        if len(self.charts.panels) > panels:
            self.resizer.tick += 1  # the new charts: fit them once drawn
        self.pvalues.value = pvalues_html(status, analysis, self._band_charts)
        self.verdict.value = verdict_html(status)
        decided = done or status.outcome is not None  # outcome: set when Succeeded/Failed
        self.decided = (status.outcome or status.phase) if decided else ""
        for button in self.buttons.values():  # off as soon as the status says so, not when
            button.disabled = decided  # the engine's thread has finished its clean-up

    @property
    def band_series(self) -> dict[str, list[tuple[str, Band]]]:
        """Each sequential metric's band points: (time of the look, running intersection)."""
        return {key: list(chart.points) for key, chart in self._band_charts.items()}

    def _draw_metrics(self, data: ChartData) -> None:
        for chart in data.metrics:
            panel = self.metrics.get(chart.metric)
            if panel is None:
                title = chart.label or chart.metric
                panel = self.metrics[chart.metric] = metric_panel(self.charts, chart.metric, title)
            fill_metric(panel, chart)

    def _draw_bands(self, data: ChartData) -> None:
        """Redraw the band chart when a metric's sequential counts grew since the last look."""
        charts = {chart.metric: chart for chart in data.bands}
        if charts != self._band_charts:
            self._band_charts = charts
            if self.bands is None:
                self.bands = band_panel(self.charts)
            fill_bands(self.bands, charts)
