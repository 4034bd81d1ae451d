"""The live rollout widget: ipywidgets + plotly FigureWidgets, fed by a status source.

Layout (top to bottom): title and phase badge; champion/challenger/mirror weights over time;
one chart per SLI with its passing band and a marker per interval coloured by verdict (a cross
on failures); where the sequential judge is used, its always-valid confidence band of the
challenger-vs-champion difference over time (:mod:`modelcanary.analysis._bands`) with the
tests' p-values; for LLM rollouts, TTFT and TPOT by prompt-length bucket, the win-rate band
and the spend on mirrored prompts (:mod:`~modelcanary.notebook._llm_view`); the last verdict
with each check's reason; and Approve / Pause / Resume / Abort / Promote now buttons that call
the source's ``act``. Every series comes from :func:`modelcanary.analysis._chartdata.chart_data`,
the function the HTML report draws from too.

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
the page, so plotly sized it at its 700 px default (half the output). The figures are
``responsive`` and a hidden :mod:`~modelcanary.notebook._resize` widget in the view makes
plotly re-measure once the view is in the page and after a chart is added: every chart takes
the output's full width. Date ticks get bottom room (``automargin``) and the legends sit above
the plots, clear of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from copy import deepcopy
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

from ..analysis._bands import Band
from ..analysis._chartdata import BandChart, ChartData, MetricChart, chart_data, metric_label
from ..errors import ModelCanaryError, SpecError, SpecIssue
from ..spec import CheckRecord, RolloutStatus
from ..spec._html import VERDICT_COLORS, checks_table, last_checked, phase_badge, verdict_span
from ._llm_view import LLMView, llm_inputs
from ._resize import CONFIG, resizer

if TYPE_CHECKING:
    from ._source import StatusFeed, StatusSource

log = logging.getLogger("modelcanary.notebook")

BUTTONS: dict[str, tuple[str, str]] = {
    "approve": ("Approve", "success"),
    "pause": ("Pause", "warning"),
    "resume": ("Resume", "info"),
    "abort": ("Abort", "danger"),
    "promote": ("Promote now", "primary"),
}
"""Manual action -> (button label, ipywidgets button style)."""
BAND_COLORS = ("#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457")
"""One colour per metric in the confidence-band chart."""
MARGIN = {"t": 40, "b": 40, "l": 50, "r": 10}
"""Figure margins: ``automargin`` grows the bottom one when two-line date ticks need it."""
LEGEND = {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"}
"""Legends above the plot, right-aligned (below it they covered the date ticks)."""
BAND_WORDS = {
    "worse": "challenger worse than the champion",
    "better": "challenger better than the champion",
    "unsure": "no difference shown yet",
}


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


def _sync(fig: Any) -> None:
    """Mirror a FigureWidget's figure into its synced traits (``_widget_data/_layout``).

    plotly sends later edits as deltas and only refreshes these traits when the figure itself
    is displayed; inside a VBox it never is. Without this a view created later (a second
    output, a reopened notebook, the saved widget state) would start from an empty figure.
    """
    fig._widget_data = deepcopy(fig._data)
    fig._widget_layout = deepcopy(fig._layout_obj._props)


def _figure(go: Any, **layout: Any) -> Any:
    """A FigureWidget that takes the full width of the output (see the module docstring) and
    labels its time axis readably."""
    fig = go.FigureWidget()
    fig.update_layout(
        margin=MARGIN, legend=LEGEND, xaxis={"automargin": True}, yaxis={"automargin": True}
    )
    fig.update_layout(**layout)
    fig._config = {**fig._config, **CONFIG}  # re-measure on resize (see _resize)
    return fig


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunWidget:
    """The widget tree of one run (``view``) and the code that keeps it up to date."""

    def __init__(self, run: StatusSource, *, poll_hz: float = 4.0) -> None:
        widgets, go = _modules()
        self._go = go
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
        self.weights = _figure(
            go,
            title="Traffic",
            height=280,
            yaxis={"range": [-5, 105], "title": "%"},
        )
        for name, color, dash in (
            ("champion %", "#2e7d32", "solid"),
            ("challenger %", "#1565c0", "solid"),
            ("mirror %", "#6a1b9a", "dot"),
        ):
            self.weights.add_scatter(
                x=[],
                y=[],
                name=name,
                mode="lines+markers",
                line={"shape": "hv", "color": color, "dash": dash},
            )
        self.metrics: dict[str, Any] = {}
        self.metric_box = widgets.VBox([])
        self.band_box = widgets.VBox([])
        self.bands: Any = None  # the band FigureWidget, made when the first band comes
        self._band_charts: dict[str, BandChart] = {}
        self.llm = LLMView(widgets, go, _figure, _sync)
        """TTFT/TPOT by prompt length, win-rate band, spend (LLM rollouts only)."""
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
                self.weights,
                self.metric_box,
                self.band_box,
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
        startup = _startup(self.run)
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
            self._draw_startup(*startup)
            self._draw(status, done)
            self.updates += 1
        return True

    def _draw_startup(self, lines: tuple[str, ...], error: str) -> None:
        if not lines and not error:
            self.startup.value = ""
            return
        items = "".join(f"<li>{escape(line)}</li>" for line in lines)
        failed = (
            f"<p style='color:#c62828'><b>start-up failed:</b> {escape(error)}</p>" if error else ""
        )
        self.startup.value = (
            f"<div class='mc-startup' style='font-size:0.9em;color:#424242'>"
            f"<ul style='margin:2px 0'>{items}</ul>{failed}</div>"
        )

    def _draw(self, status: RolloutStatus, done: bool) -> None:
        self.phase = status.phase
        self.badge.value = phase_badge(status)
        self.summary.value = (
            f"challenger <b>{status.canary_weight}%</b> &middot; champion "
            f"<b>{100 - status.canary_weight}%</b> &middot; mirror <b>{status.mirror_weight}%</b>"
            f" &middot; {status.iterations} interval(s) &middot; "
            f"{status.failed_checks} failed check(s)"
        )
        if not done:  # what the poller saw live, between analyses (kept for the chart)
            self._seen.append((_now(), status.canary_weight, status.mirror_weight))
        data = chart_data(
            self.run.rollout.spec.analysis,
            status,
            bands=self._band_charts,
            seen=self._seen,
            now=_now(),
        )
        traffic = data.traffic
        with self.weights.batch_update():
            for trace, ys in zip(
                self.weights.data,
                (traffic.champion, traffic.challenger, traffic.mirror),
                strict=True,
            ):
                trace.x, trace.y = list(traffic.times), list(ys)
        _sync(self.weights)
        self._draw_metrics(data)
        self._draw_bands(data)
        self.llm.update(llm_inputs(self.run, status))
        if self.llm.added:
            self.resizer.tick += 1
        self._draw_pvalues(status)
        self._draw_verdict(status)
        decided = done or status.outcome is not None  # outcome: set when Succeeded/Failed
        self.decided = (status.outcome or status.phase) if decided else ""
        for button in self.buttons.values():  # off as soon as the status says so, not when
            button.disabled = decided  # the engine's thread has finished its clean-up

    @property
    def band_series(self) -> dict[str, list[tuple[str, Band]]]:
        """Each sequential metric's band points: (time of the look, running intersection)."""
        return {key: list(chart.points) for key, chart in self._band_charts.items()}

    def _draw_metrics(self, data: ChartData) -> None:
        added = False
        for chart in data.metrics:
            fig = self.metrics.get(chart.metric)
            if fig is None:
                fig = self._metric_figure(chart.label or chart.metric)
                self.metrics[chart.metric] = fig
                added = True
            self._fill_metric(fig, chart)
        if added:
            self.metric_box.children = tuple(self.metrics.values())
            self.resizer.tick += 1  # the new charts' views: fit them once attached

    def _metric_figure(self, title: str) -> Any:
        fig = _figure(self._go, title=title, height=240)
        fig.add_scatter(x=[], y=[], name="challenger", mode="lines+markers")
        fig.add_scatter(
            x=[],
            y=[],
            name="champion",
            mode="lines",
            line={"dash": "dash", "color": "#9e9e9e"},
            visible=False,  # shown once the check compares with the champion (no empty entry)
        )
        return fig

    def _fill_metric(self, fig: Any, chart: MetricChart) -> None:
        finite = [v for v in chart.values if v is not None]
        shapes = []
        y_range = None
        if chart.passing is not None:  # the passing band (chartdata.passing_band)
            y0, y1 = chart.passing
            shapes.append(
                {
                    "type": "rect",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "yref": "y",
                    "y0": y0,
                    "y1": y1,
                    "fillcolor": "#a5d6a7",
                    "opacity": 0.3,
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
            lo, hi = min([y0, *finite]), max([y1, *finite])  # the whole band and the data
            pad = (hi - lo) * 0.08 or 1.0
            y_range = [lo - pad, hi + pad]
        with fig.batch_update():
            fig.layout.shapes = shapes
            fig.layout.yaxis.range = y_range
            value, champion = fig.data
            value.x, value.y = list(chart.times), list(chart.values)
            value.marker = {
                "size": 11,
                "color": [VERDICT_COLORS.get(v, "#000") for v in chart.verdicts],
                "symbol": ["x" if v == "fail" else "circle" for v in chart.verdicts],
            }
            value.text = [f"{v}: {r}" for v, r in zip(chart.verdicts, chart.reasons, strict=True)]
            value.hovertemplate = "%{y}<br>%{text}<extra></extra>"
            champion.x, champion.y = list(chart.times), list(chart.champion_values)
            champion.visible = chart.has_champion  # hidden: no line, no legend entry
            fig.layout.showlegend = chart.has_champion  # one trace left: no legend
        _sync(fig)

    # -- sequential confidence bands ------------------------------------------------
    def _draw_bands(self, data: ChartData) -> None:
        """Redraw the band chart when a metric's sequential counts grew since the last look."""
        charts = {chart.metric: chart for chart in data.bands}
        if charts != self._band_charts:
            self._band_charts = charts
            self._plot_bands()

    def _band_figure(self) -> Any:
        fig = _figure(
            self._go,
            title="challenger - champion: always-valid band",
            height=280,
            yaxis={"title": "bad-event rate diff. (pts)", "zeroline": True},
            shapes=[
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "yref": "y",
                    "y0": 0,
                    "y1": 0,
                    "line": {"color": "#424242", "width": 1, "dash": "dot"},
                }
            ],
        )
        return fig

    def _plot_bands(self) -> None:
        if self.bands is None:
            self.bands = self._band_figure()
            self.band_box.children = (self.bands,)
            self.resizer.tick += 1
        fig = self.bands
        for i, key in enumerate(sorted(self._band_charts)):
            if not any(trace.legendgroup == key for trace in fig.data):
                color = BAND_COLORS[i % len(BAND_COLORS)]
                level = f"{self._band_charts[key].level} %"
                fig.add_scatter(
                    x=[],
                    y=[],
                    mode="lines",
                    line={"width": 0, "color": color},
                    legendgroup=key,
                    showlegend=False,
                    hoverinfo="skip",
                )
                fig.add_scatter(
                    x=[],
                    y=[],
                    mode="lines",
                    line={"width": 0, "color": color},
                    fill="tonexty",
                    fillcolor=_rgba(color, 0.25),
                    legendgroup=key,
                    name=f"{self._band_charts[key].label or key} band",
                    hoverinfo="skip",
                )
                fig.add_scatter(
                    x=[],
                    y=[],
                    mode="lines+markers",
                    line={"color": color},
                    legendgroup=key,
                    name=f"{self._band_charts[key].label or key} difference",
                    hovertemplate="%{y:.3g} pts<br>%{text}<extra>" + level + "</extra>",
                )
        last = [s[-1][1] for s in self.band_series.values()]
        span = max(max(abs(b.low), abs(b.high)) for b in last) * 300  # pts, 3x the latest band
        with fig.batch_update():
            # the early, wide bands run off the chart: the latest ones stay readable
            fig.layout.yaxis.range = [-min(span, 100.0), min(span, 100.0)]
            for key, series in self.band_series.items():
                high, low, estimate = (t for t in fig.data if t.legendgroup == key)
                times = [t for t, _ in series]
                high.x, high.y = times, [b.high * 100 for _, b in series]
                low.x, low.y = times, [b.low * 100 for _, b in series]
                estimate.x, estimate.y = times, [b.estimate * 100 for _, b in series]
                estimate.text = [
                    f"[{b.low * 100:.3g}, {b.high * 100:.3g}] pts, {b.requests} requests"
                    for _, b in series
                ]
        _sync(fig)

    def _draw_pvalues(self, status: RolloutStatus) -> None:
        """One line per tested metric: its latest band (when sequential) and p-value."""
        latest: dict[str, CheckRecord] = {}
        for record in status.history:
            for check in record.checks:
                if check.p_value is not None:
                    latest[check.metric] = check
        items = []
        analysis = self.run.rollout.spec.analysis
        for metric in sorted(set(latest) | set(self._band_charts)):
            parts = [f"<b>{escape(metric_label(metric, analysis))}</b>:"]
            chart = self._band_charts.get(metric)
            if chart is not None:
                band = chart.points[-1][1]
                parts.append(
                    f"challenger - champion {band.estimate * 100:+.3g} pts, "
                    f"{chart.level} % band [{band.low * 100:+.3g}, {band.high * 100:+.3g}] pts "
                    f"({band.requests} requests): {BAND_WORDS[band.verdict]};"
                )
                parts.append(evidence_text(chart))
            tested = latest.get(metric)
            if tested is not None:
                parts.append(
                    f"p = {tested.p_value:.3g} ({escape(tested.judge)}) "
                    f"{verdict_span(tested.verdict)}"
                )
            items.append(f"<li>{' '.join(parts)}</li>")
        if not items:
            self.pvalues.value = ""
            return
        self.pvalues.value = (
            "<div class='mc-pvalues'>Sequential tests (always valid: look as often as you "
            f"like):<ul>{''.join(items)}</ul></div>"
        )

    def _draw_verdict(self, status: RolloutStatus) -> None:
        head = ""
        if status.outcome:
            head = f"<p style='font-size:1.2em'><b>Outcome: {escape(status.outcome)}</b></p>"
        last = last_checked(list(status.history))
        body = ""
        if last is not None:
            body = (
                f"<p>Last interval: {verdict_span(last.verdict)} {escape(last.message)}</p>"
                f"{checks_table(last)}"
            )
        message = f"<p class='mc-message'>{escape(status.message)}</p>" if status.message else ""
        self.verdict.value = f"<div class='mc-verdict'>{head}{message}{body}</div>"


def _startup(run: Any) -> tuple[tuple[str, ...], str]:
    """The source's start-up lines and error ("" if none); sources without them: none."""
    log_of = getattr(run, "startup_log", None)
    error_of = getattr(run, "startup_error", None)
    lines = tuple(log_of()) if callable(log_of) else ()
    error = error_of() if callable(error_of) else None
    return lines, str(error) if error else ""


def _rgba(color: str, alpha: float) -> str:
    """``#rrggbb`` as ``rgba(r, g, b, alpha)``."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


def evidence_text(chart: BandChart) -> str:
    """``evidence 1,240 of ~5,200 challenger requests to catch 2x the champion's rate (80 %
    power);`` (empty without a progress figure)."""
    progress = chart.progress
    if progress is None:
        return ""
    if progress.needed is None:
        return f"evidence: {progress.seen:,} challenger requests;"
    share = min(100, round(100 * progress.seen / progress.needed))
    basis = f" ({progress.basis.strip()})" if progress.basis else ""  # per user, CUPED
    return (
        f"evidence {progress.seen:,} of ~{progress.needed:,.0f} challenger requests "
        f"({share} %) to catch {progress.effect:g}x the champion's rate with "
        f"{progress.power:.0%} power{basis};"
    )
