"""HTML report of a rollout: weights over time, each SLI with its passing band, the sequential
metrics' always-valid band, the history. The series come from
:func:`modelcanary.analysis._chartdata.chart_data`, as the notebook widget's do.

Self-contained (plotly.js inlined, opens offline). plotly is imported lazily: it lives in the
``notebook`` extra; without it the report explains how to install it.

:func:`fragment` is the same charts and verdict as an HTML fragment: the static rendering a
notebook output keeps next to the live widget once the rollout is decided (what a frontend
without the widget's live model shows).

Every chart takes the page's full width, with room for two-line date ticks (``automargin``)
and its legend above it; a metric's champion line (and legend entry) exists only when its check
compared with the champion.

An LLM rollout (``protocol: openai``, or win-rate states in the status) also gets the widget's
LLM view, from the same numbers (:func:`~modelcanary.analysis._llm_inputs.llm_view_summary`):
TTFT and TPOT by prompt-length bucket (bars: p50, whisker to p95; and a table with the p99 and
the counts, readable where no JavaScript runs, e.g. GitHub), the win-rate always-valid band
against the non-inferiority floor, and the spend on mirrored prompts against the
``mirrorBudget`` caps. The latency and the spend come from the router's ``exchanges`` (the
local runtime records them); without them (a cluster run) the section says so and shows the
win rates the status keeps.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from .analysis._chartdata import ChartData, chart_data
from .analysis._llm_chart import LLMSummary
from .analysis._llm_inputs import llm_view_summary
from .analysis._llm_records import LLMExchange
from .analysis._llm_text import SIDE_COLORS, latency_table, summary_html
from .errors import SpecError, SpecIssue
from .spec import ModelRollout, RolloutStatus
from .spec._html import VERDICT_COLORS, checks_table, last_checked, phase_badge

NOT_RECORDED = (
    "Latency by prompt length and the mirror spend are not recorded here (the local "
    "runtime's router records every exchange; in a cluster, see the LLM server's metrics)."
)

LAYOUT: dict[str, Any] = {
    "autosize": True,
    "margin": {"t": 40, "b": 40, "l": 50, "r": 10},
    "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    "xaxis": {"automargin": True},
    "yaxis": {"automargin": True},
}
"""What every chart shares: full width, readable date ticks, legend clear of the plot."""


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise SpecError(
            SpecIssue("--report", "needs plotly", "pip install 'modelcanary[notebook]'")
        ) from None
    return go


def weights_figure(data: ChartData) -> Any:
    """Challenger and mirror weights at each analysis."""
    go = _plotly()
    traffic = data.traffic
    fig = go.Figure(layout=LAYOUT)
    fig.add_scatter(
        x=list(traffic.times),
        y=list(traffic.champion),
        name="champion %",
        line={"shape": "hv", "color": "#2e7d32"},
    )
    fig.add_scatter(
        x=list(traffic.times),
        y=list(traffic.challenger),
        name="challenger %",
        line={"shape": "hv", "color": "#1565c0"},
    )
    fig.add_scatter(
        x=list(traffic.times),
        y=list(traffic.mirror),
        name="mirror %",
        line={"shape": "hv", "dash": "dot", "color": "#6a1b9a"},
    )
    fig.update_layout(title="Traffic", yaxis={"range": [-5, 105], "title": "%"}, height=280)
    return fig


def metric_figures(data: ChartData) -> list[Any]:
    """One chart per metric: value per interval, passing band, pass/fail colour."""
    go = _plotly()
    figures = []
    for chart in data.metrics:
        fig = go.Figure(layout=LAYOUT)
        if chart.passing is not None:  # the passing band (chartdata.passing_band)
            y0, y1 = chart.passing
            fig.add_hrect(y0=y0, y1=y1, fillcolor="#a5d6a7", opacity=0.25, line_width=0)
        fig.add_scatter(
            x=list(chart.times),
            y=list(chart.values),
            mode="lines+markers",
            name="challenger",
            marker={"color": [VERDICT_COLORS.get(v, "#000") for v in chart.verdicts], "size": 9},
            text=list(chart.reasons),
            hoverinfo="text+y",
        )
        if chart.has_champion:  # only a check against the champion has a champion line
            fig.add_scatter(
                x=list(chart.times),
                y=list(chart.champion_values),
                mode="lines",
                name="champion",
                line={"dash": "dash", "color": "#9e9e9e"},
            )
        fig.update_layout(
            title=chart.label or chart.metric, height=240, showlegend=chart.has_champion
        )
        figures.append(fig)
    return figures


def band_figure(data: ChartData) -> Any | None:
    """The always-valid band of challenger - champion of each sequential metric (in points),
    at the final counts; None without a sequential metric."""
    if not data.bands:
        return None
    go = _plotly()
    fig = go.Figure(layout=LAYOUT)
    for chart in data.bands:
        times = [t for t, _ in chart.points]
        bands = [b for _, b in chart.points]
        fig.add_scatter(
            x=times,
            y=[b.estimate * 100 for b in bands],
            mode="markers",
            name=f"{chart.label or chart.metric} ({chart.level} % band)",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [(b.high - b.estimate) * 100 for b in bands],
                "arrayminus": [(b.estimate - b.low) * 100 for b in bands],
            },
            text=[f"{b.requests} requests, {b.verdict}" for b in bands],
        )
    fig.add_hline(y=0, line_dash="dot", line_color="#424242")
    fig.update_layout(
        title="challenger - champion: always-valid band",
        yaxis={"title": "bad-event rate diff. (pts)"},
        height=280,
    )
    return fig


def figures(rollout: ModelRollout, status: RolloutStatus) -> list[Any]:
    """Traffic, one chart per metric, and the confidence band (if any); none without history."""
    if not status.history:
        return []
    data = chart_data(rollout.spec.analysis, status)
    band = band_figure(data)
    return [weights_figure(data), *metric_figures(data), *([band] if band else [])]


# -- the LLM view ---------------------------------------------------------------------------
def latency_figure(summary: LLMSummary, field: str, title: str) -> Any:
    """Champion next to challenger per prompt-length bucket: p50 bars, whiskers to p95."""
    go = _plotly()
    fig = go.Figure(layout=LAYOUT)
    labels = [bucket.label for bucket in summary.buckets]
    for side, color in SIDE_COLORS.items():
        values = [getattr(bucket.side(side), field) for bucket in summary.buckets]
        fig.add_bar(
            x=labels,
            y=[None if v is None else v[0] for v in values],
            name=side,
            marker={"color": color},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [0 if v is None else v[1] - v[0] for v in values],
                "arrayminus": [0] * len(values),
            },
        )
    fig.update_layout(
        title=title,
        height=260,
        barmode="group",
        xaxis={"title": "prompt tokens", "type": "category"},
        yaxis={"title": "ms (p50, whisker to p95)"},
    )
    return fig


def win_rate_figure(summary: LLMSummary) -> Any | None:
    """Each win-rate metric's always-valid band and rate, the even line and the floor."""
    views = [v for v in summary.win_rates if v.band is not None]
    if not views:
        return None
    go = _plotly()
    fig = go.Figure(layout=LAYOUT)
    for view in views:
        assert view.band is not None
        color = VERDICT_COLORS.get(view.verdict, "#000")
        fig.add_scatter(
            x=list(view.band),
            y=[view.metric, view.metric],
            mode="lines",
            line={"width": 12, "color": color},
            opacity=0.4,
            name=f"{view.metric} band",
        )
        fig.add_scatter(
            x=[view.rate],
            y=[view.metric],
            mode="markers",
            marker={"size": 12, "color": color},
            name=f"{view.metric} win rate",
        )
    floor = views[0].floor
    fig.add_vline(x=0.5, line_dash="dot", line_color="#424242", annotation_text="even")
    fig.add_vline(
        x=floor, line_dash="dash", line_color="#424242", annotation_text=f"floor {floor:.0%}"
    )
    fig.update_layout(
        title="challenger win rate: always-valid band",
        height=200,
        showlegend=False,
        xaxis={"range": [0, 1], "tickformat": ".0%", "title": "win rate (ties count half)"},
        yaxis={"type": "category"},
    )
    return fig


def llm_parts(
    rollout: ModelRollout, status: RolloutStatus, exchanges: Sequence[LLMExchange] | None
) -> tuple[list[Any], str] | None:
    """The LLM view's figures and text (None: not an LLM rollout). ``exchanges``: the
    router's, both versions (None: not recorded; the win rates of the status only)."""
    summary = llm_view_summary(rollout, status, exchanges or ())
    if summary is None:
        return None
    figs: list[Any] = []
    text = ""
    if summary.buckets:
        figs += [
            latency_figure(summary, "ttft", "time to first token by prompt length"),
            latency_figure(summary, "tpot", "time per output token by prompt length"),
        ]
        text = latency_table(summary)
    band = win_rate_figure(summary)
    figs += [band] if band is not None else []
    text += summary_html(summary, spend=exchanges is not None)
    if exchanges is None:
        text += f"<p><i>{escape(NOT_RECORDED)}</i></p>"
    return figs, text


def _llm_section(
    rollout: ModelRollout,
    status: RolloutStatus,
    exchanges: Sequence[LLMExchange] | None,
    plotlyjs: str | bool,
    heading: str,
) -> str:
    """The LLM view as HTML (plotly.js from ``plotlyjs`` with its first chart); "" when the
    rollout is not an LLM one."""
    parts = llm_parts(rollout, status, exchanges)
    if parts is None:
        return ""
    figs, text = parts
    charts = "".join(_charts_html(figs, plotlyjs))
    return f"<div class='mc-llm-view'>{heading}{charts}{text}</div>"


def _charts_html(figs: list[Any], plotlyjs: str | bool) -> list[str]:
    """Each figure as a full-width div; plotly.js (``plotlyjs``) with the first only."""
    return [
        f.to_html(
            full_html=False,
            include_plotlyjs=plotlyjs if i == 0 else False,
            default_width="100%",
            config={"responsive": True},
        )
        for i, f in enumerate(figs)
    ]


def fragment(
    rollout: ModelRollout,
    status: RolloutStatus,
    plotlyjs: str | bool = "cdn",
    exchanges: Sequence[LLMExchange] | None = None,
) -> str:
    """The decided rollout as an HTML fragment for a notebook output: the outcome, the last
    interval's checks and the charts (plotly.js from ``plotlyjs``: "cdn" keeps a notebook
    small; "inline" works offline at about 4 MB); an LLM rollout's LLM view after them
    (``exchanges``: the router's, see the module docstring)."""
    last = last_checked(list(status.history))
    checks = checks_table(last) if last is not None else ""
    figs = figures(rollout, status)
    charts = "".join(_charts_html(figs, plotlyjs))
    llm = _llm_section(
        rollout, status, exchanges, False if figs else plotlyjs, "<h4 style='margin:4px 0'>LLM</h4>"
    )
    return (
        f"<div class='mc-static' style='width:100%'>"
        f"<h3 style='margin:4px 0'>Rollout {html.escape(rollout.name)} "
        f"{phase_badge(status)}</h3>"
        f"<p><b>Outcome: {html.escape(status.outcome or status.phase)}</b> "
        f"{html.escape(status.message)}</p>"
        f"<p>{status.iterations} analysis interval(s), {status.failed_checks} failed "
        f"check(s); final traffic: challenger {status.canary_weight} %, mirror "
        f"{status.mirror_weight} %</p>{checks}{charts}{llm}</div>"
    )


def render(
    rollout: ModelRollout,
    status: RolloutStatus,
    exchanges: Sequence[LLMExchange] | None = None,
) -> str:
    """The report as one HTML page (an LLM rollout's LLM view from ``exchanges``, the
    router's; see the module docstring)."""
    history = list(status.history)
    figs = figures(rollout, status)
    parts = _charts_html(figs, "inline")
    llm = _llm_section(rollout, status, exchanges, False if figs else "inline", "<h2>LLM</h2>")
    spec = rollout.spec
    champion = spec.champion.source if spec.champion else "-"
    challenger = spec.challenger.source if spec.challenger else status.challenger or "-"
    rows = "".join(
        f"<tr><td>{html.escape(h.time)}</td><td>{h.canary_weight}%</td><td>{h.mirror_weight}%</td>"
        f"<td style='color:{VERDICT_COLORS.get(h.verdict, '#000')}'>{h.verdict}</td>"
        f"<td>{html.escape(h.message)}</td></tr>"
        for h in history
    )
    outcome = status.outcome or status.phase
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>modelcanary: {html.escape(rollout.name)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}}
.outcome{{font-size:1.4em;font-weight:bold}}</style></head><body>
<h1>Rollout {html.escape(rollout.name)}</h1>
<p class="outcome">{html.escape(outcome)}: {html.escape(status.message)}</p>
<p>champion <code>{html.escape(champion)}</code> &rarr;
challenger <code>{html.escape(challenger)}</code>,
strategy {html.escape(spec.analysis.strategy)}, {status.iterations} analysis interval(s),
{status.failed_checks} failed check(s)</p>
{"".join(parts) or "<p>No analysis was recorded.</p>"}
{llm}
<h2>History</h2><table><tr><th>time</th><th>weight</th><th>mirror</th><th>verdict</th>
<th>why</th></tr>{rows}</table></body></html>"""


def write(
    path: str | Path,
    rollout: ModelRollout,
    status: RolloutStatus,
    exchanges: Sequence[LLMExchange] | None = None,
) -> Path:
    """Write the report (``exchanges``: an LLM rollout's, for its LLM view); returns its
    path."""
    file = Path(path)
    file.write_text(render(rollout, status, exchanges), encoding="utf-8")
    return file
