"""HTML report of a rollout: weights over time, each SLI with its threshold band, the history.

Self-contained (plotly.js inlined, opens offline). plotly is imported lazily: it lives in the
``notebook`` extra; without it the report explains how to install it.
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path
from typing import Any

from .errors import SpecError, SpecIssue
from .spec import AnalysisRecord, ModelRollout, RolloutStatus
from .spec.html import VERDICT_COLORS


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise SpecError(
            SpecIssue("--report", "needs plotly", "pip install 'modelcanary[notebook]'")
        ) from None
    return go


def weights_figure(history: list[AnalysisRecord]) -> Any:
    """Challenger and mirror weights at each analysis."""
    go = _plotly()
    times = [h.time for h in history]
    fig = go.Figure()
    fig.add_scatter(
        x=times,
        y=[h.canary_weight for h in history],
        name="challenger weight %",
        line={"shape": "hv", "color": "#1565c0"},
    )
    fig.add_scatter(
        x=times,
        y=[h.mirror_weight for h in history],
        name="mirror %",
        line={"shape": "hv", "dash": "dot", "color": "#6a1b9a"},
    )
    fig.update_layout(
        title="Traffic",
        yaxis={"range": [0, 105], "title": "%"},
        height=280,
        margin={"t": 40, "b": 30},
    )
    return fig


def metric_figures(history: list[AnalysisRecord]) -> list[Any]:
    """One chart per metric: value per interval, threshold band, pass/fail colour."""
    go = _plotly()
    series: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for record in history:
        for check in record.checks:
            series[check.metric].append((record.time, check))
    figures = []
    for metric, points in series.items():
        fig = go.Figure()
        times = [t for t, _ in points]
        values = [c.value for _, c in points]
        lows = [c.min for _, c in points if c.min is not None]
        highs = [c.max for _, c in points if c.max is not None]
        finite = [v for v in values if v is not None]
        if lows or highs:  # the passing band: between min and max (open sides to the data)
            y0 = min(lows) if lows else min([0.0, *finite])
            y1 = max(highs) if highs else max([*lows, *finite]) * 1.1
            fig.add_hrect(y0=y0, y1=y1, fillcolor="#a5d6a7", opacity=0.25, line_width=0)
        fig.add_scatter(
            x=times,
            y=values,
            mode="lines+markers",
            name=metric,
            marker={"color": [VERDICT_COLORS.get(c.verdict, "#000") for _, c in points], "size": 9},
            text=[c.reason for _, c in points],
            hoverinfo="text+y",
        )
        fig.update_layout(title=metric, height=240, margin={"t": 40, "b": 30}, showlegend=False)
        figures.append(fig)
    return figures


def render(rollout: ModelRollout, status: RolloutStatus) -> str:
    """The report as one HTML page."""
    history = list(status.history)
    parts = []
    if history:
        figures = [weights_figure(history), *metric_figures(history)]
        parts = [
            f.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False)
            for i, f in enumerate(figures)
        ]
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
