"""What the widget's rollout charts draw: traffic, one chart per SLI, the confidence bands.

Each function makes or fills one :class:`~modelcanary.notebook._panels.Panel` of the widget's
single figure from :func:`modelcanary.analysis._chartdata.chart_data`'s series (the ones the
HTML report draws too). The LLM charts are :mod:`~modelcanary.notebook._llm_view`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..analysis._chartdata import BandChart, MetricChart, Traffic
from ..spec._html import VERDICT_COLORS
from ._panels import Charts, Panel

BAND_COLORS = ("#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457")
"""One colour per metric in the confidence-band chart."""
TRAFFIC = (
    ("champion %", "#2e7d32", "solid"),
    ("challenger %", "#1565c0", "solid"),
    ("mirror %", "#6a1b9a", "dot"),
)
"""The traffic chart's lines: name, colour, dash."""
CHALLENGER_LINE = "#636efa"
"""An SLI chart's value line: plotly's first colour, as when each chart was a figure of its own
(in one figure the default colours run on across the panels' traces)."""


def traffic_panel(charts: Charts) -> Panel:
    """Champion/challenger/mirror weights over time (steps: ``shape: hv``)."""
    panel = charts.add(
        "traffic", title="Traffic", height=280, yaxis={"range": [-5, 105], "title": "%"}
    )
    for name, color, dash in TRAFFIC:
        panel.add_scatter(
            x=[],
            y=[],
            name=name,
            mode="lines+markers",
            line={"shape": "hv", "color": color, "dash": dash},
        )
    return panel


def fill_traffic(panel: Panel, traffic: Traffic) -> None:
    """The weights up to now (after a rollback the challenger's line ends at 0)."""
    series = (traffic.champion, traffic.challenger, traffic.mirror)
    with panel.batch_update():
        for trace, ys in zip(panel.data, series, strict=True):
            trace.x, trace.y = list(traffic.times), list(ys)


def metric_panel(charts: Charts, key: str, title: str) -> Panel:
    """One SLI: the challenger's values and (once compared) the champion's."""
    panel = charts.add("metric", key=f"metric:{key}", title=title, height=240)
    panel.add_scatter(
        x=[], y=[], name="challenger", mode="lines+markers", line={"color": CHALLENGER_LINE}
    )
    panel.add_scatter(
        x=[],
        y=[],
        name="champion",
        mode="lines",
        line={"dash": "dash", "color": "#9e9e9e"},
        visible=False,  # shown once the check compares with the champion (no empty entry)
    )
    return panel


def fill_metric(panel: Panel, chart: MetricChart) -> None:
    """Values with a marker per interval coloured by verdict (a cross on failures), the
    passing band behind them, the y range holding the whole band and the data."""
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
        lo, hi = min([y0, *finite]), max([y1, *finite])
        pad = (hi - lo) * 0.08 or 1.0
        y_range = [lo - pad, hi + pad]
    value, champion = panel.data
    with panel.batch_update():
        panel.set_shapes(shapes)
        panel.yaxis.range = y_range
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
        panel.showlegend = chart.has_champion  # one trace left: no legend


def band_panel(charts: Charts) -> Panel:
    """The always-valid band of the challenger-vs-champion difference, a line at 0."""
    zero = {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": 0,
        "y1": 0,
        "line": {"color": "#424242", "width": 1, "dash": "dot"},
    }
    return charts.add(
        "band",
        key="band",
        title="challenger - champion: always-valid band",
        height=280,
        yaxis={"title": "bad-event rate diff. (pts)", "zeroline": True},
        shapes=[zero],
    )


def fill_bands(panel: Panel, bands: Mapping[str, BandChart]) -> None:
    """Three traces per metric (made once: band top, band bottom filled to it, estimate)."""
    for i, key in enumerate(sorted(bands)):
        if not any(trace.legendgroup == key for trace in panel.data):
            _band_traces(panel, key, bands[key], BAND_COLORS[i % len(BAND_COLORS)])
    last = [chart.points[-1][1] for chart in bands.values()]
    span = max(max(abs(b.low), abs(b.high)) for b in last) * 300  # pts, 3x the latest band
    traces = panel.data
    with panel.batch_update():
        # the early, wide bands run off the chart: the latest ones stay readable
        panel.yaxis.range = [-min(span, 100.0), min(span, 100.0)]
        for key, chart in bands.items():
            series = chart.points
            high, low, estimate = (t for t in traces if t.legendgroup == key)
            times = [t for t, _ in series]
            high.x, high.y = times, [b.high * 100 for _, b in series]
            low.x, low.y = times, [b.low * 100 for _, b in series]
            estimate.x, estimate.y = times, [b.estimate * 100 for _, b in series]
            estimate.text = [
                f"[{b.low * 100:.3g}, {b.high * 100:.3g}] pts, {b.requests} requests"
                for _, b in series
            ]


def _band_traces(panel: Panel, key: str, chart: BandChart, color: str) -> None:
    level = f"{chart.level} %"
    name = chart.label or key
    line: dict[str, Any] = {"width": 0, "color": color}
    panel.add_scatter(
        x=[], y=[], mode="lines", line=line, legendgroup=key, showlegend=False, hoverinfo="skip"
    )
    panel.add_scatter(
        x=[],
        y=[],
        mode="lines",
        line=line,
        fill="tonexty",
        fillcolor=rgba(color, 0.25),
        legendgroup=key,
        name=f"{name} band",
        hoverinfo="skip",
    )
    panel.add_scatter(
        x=[],
        y=[],
        mode="lines+markers",
        line={"color": color},
        legendgroup=key,
        name=f"{name} difference",
        hovertemplate="%{y:.3g} pts<br>%{text}<extra>" + level + "</extra>",
    )


def rgba(color: str, alpha: float) -> str:
    """``#rrggbb`` as ``rgba(r, g, b, alpha)``."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"
