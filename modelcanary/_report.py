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
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from .analysis._chartdata import ChartData, chart_data
from .errors import SpecError, SpecIssue
from .spec import ModelRollout, RolloutStatus
from .spec._html import VERDICT_COLORS, checks_table, last_checked, phase_badge

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


def fragment(rollout: ModelRollout, status: RolloutStatus, plotlyjs: str | bool = "cdn") -> str:
    """The decided rollout as an HTML fragment for a notebook output: the outcome, the last
    interval's checks and the charts (plotly.js from ``plotlyjs``: "cdn" keeps a notebook
    small; "inline" works offline at about 4 MB)."""
    last = last_checked(list(status.history))
    checks = checks_table(last) if last is not None else ""
    charts = "".join(_charts_html(figures(rollout, status), plotlyjs))
    return (
        f"<div class='mc-static' style='width:100%'>"
        f"<h3 style='margin:4px 0'>Rollout {html.escape(rollout.name)} "
        f"{phase_badge(status)}</h3>"
        f"<p><b>Outcome: {html.escape(status.outcome or status.phase)}</b> "
        f"{html.escape(status.message)}</p>"
        f"<p>{status.iterations} analysis interval(s), {status.failed_checks} failed "
        f"check(s); final traffic: challenger {status.canary_weight} %, mirror "
        f"{status.mirror_weight} %</p>{checks}{charts}</div>"
    )


def render(rollout: ModelRollout, status: RolloutStatus) -> str:
    """The report as one HTML page."""
    history = list(status.history)
    parts = _charts_html(figures(rollout, status), "inline")
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
<h2>History</h2><table><tr><th>time</th><th>weight</th><th>mirror</th><th>verdict</th>
<th>why</th></tr>{rows}</table></body></html>"""


def write(path: str | Path, rollout: ModelRollout, status: RolloutStatus) -> Path:
    """Write the report; returns its path."""
    file = Path(path)
    file.write_text(render(rollout, status), encoding="utf-8")
    return file
