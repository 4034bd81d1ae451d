"""The widget's LLM view: TTFT and TPOT by prompt-length bucket, the win-rate band, the spend.

Shown when the rollout's versions speak ``protocol: openai`` or the source has LLM exchanges
or win-rate states; hidden (no children) otherwise. The numbers come from
:func:`modelcanary.analysis._llm_chart.llm_summary`; this module only draws them:

- two grouped bar charts, champion next to challenger per prompt-length bucket: the p50 as the
  bar, a whisker up to the p95, the p99 and the request count in the hover text (compare the
  two bars of one bucket: the SLIs are stratified the same way);
- the win-rate band chart: per ``win-rate`` metric, the always-valid interval of the
  challenger's win rate (ties count half), the observed rate, the even line (0.5) and the
  non-inferiority floor ``0.5 - margin`` (a band wholly under the floor: rolled back on
  quality; wholly over it: not worse);
- one line of text with the judged pairs and verdicts, and the spend on mirrored prompts
  (prompts, tokens, cost) against the ``mirrorBudget`` caps.

Where the data comes from (:func:`llm_inputs`): the source's ``llm_exchanges(window)`` when it
is an :class:`~modelcanary.analysis._llm_records.LLMSource` (the local runtime's router records
every exchange), the win-rate states the analysis keeps in the status, and the prices and caps
in the spec; the buckets are the ``promptBuckets`` of the rollout's first TTFT/TPOT metric that
sets them (else the default edges). A source that no longer has its exchanges (one that drops
them after the verdict) leaves the view with the last charts it drew. The static report of the
decided rollout (:func:`modelcanary._report.fragment`, ``report()``) draws the same summary
(:mod:`modelcanary.analysis._llm_inputs`) with the same text lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..analysis._llm_chart import QUANTILES, LLMSummary
from ..analysis._llm_inputs import (
    budget_of,
    edges_of,
    is_llm,
    llm_view_summary,
    stored_win_rates,
    win_rates_of,
)
from ..analysis._llm_records import all_exchanges
from ..analysis._llm_text import (
    SIDE_COLORS,
    VERDICT_WORDS,
    ms,
    spend_text,
    summary_html,
    win_rate_text,
)
from ..spec import RolloutStatus
from ..spec._html import VERDICT_COLORS

__all__ = [
    "SIDE_COLORS",
    "VERDICT_WORDS",
    "LLMView",
    "budget_of",
    "edges_of",
    "is_llm",
    "llm_inputs",
    "spend_text",
    "stored_win_rates",
    "summary_html",
    "win_rate_text",
    "win_rates_of",
]
"""The view, and (re-exported) the inputs it shares with the static report
(:mod:`modelcanary.analysis._llm_inputs`) and the text lines it shares with it
(:mod:`modelcanary.analysis._llm_text`)."""


def llm_inputs(run: Any, status: RolloutStatus) -> LLMSummary | None:
    """What the view draws for ``run`` at ``status``; None when the rollout is not an LLM one
    and has no LLM data (:func:`~modelcanary.analysis._llm_inputs.llm_view_summary`, as the
    static report)."""
    return llm_view_summary(run.rollout, status, all_exchanges(run))


class LLMView:
    """The LLM part of the widget: three panels of the widget's one figure (``figure`` makes
    one: a :class:`~modelcanary.notebook._panels.Panel`) and ``box``, the text line (empty
    until the rollout shows LLM data)."""

    def __init__(
        self, widgets: Any, go: Any, figure: Callable[..., Any], sync: Callable[[Any], None]
    ) -> None:
        self._widgets, self._go, self._figure, self._sync = widgets, go, figure, sync
        self.box = widgets.VBox([])
        self.text = widgets.HTML()
        self.ttft: Any = None
        self.tpot: Any = None
        self.win_rate: Any = None
        self.summary: LLMSummary | None = None
        self.added = False
        """True once the last ``update`` made the charts (the widget then re-fits them)."""

    def _make(self) -> None:
        self.ttft = self._latency_figure("time to first token by prompt length")
        self.tpot = self._latency_figure("time per output token by prompt length")
        self.win_rate = self._figure(
            self._go,
            title="challenger win rate: always-valid band",
            height=200,
            showlegend=False,  # the band, the dot and the lines are named by their hover text
            xaxis={"range": [0, 1], "tickformat": ".0%", "title": "win rate (ties count half)"},
        )
        self.box.children = (self.text,)

    def _latency_figure(self, title: str) -> Any:
        fig = self._figure(
            self._go,
            title=title,
            height=260,
            barmode="group",
            xaxis={"title": "prompt tokens", "type": "category"},
            yaxis={"title": "ms (p50, whisker to p95)"},
        )
        for side, color in SIDE_COLORS.items():
            fig.add_bar(x=[], y=[], name=side, marker={"color": color})
        return fig

    def update(self, summary: LLMSummary | None) -> None:
        """Draw ``summary`` (None: nothing to show, the view stays empty)."""
        self.added = False
        if summary is None:
            return
        last = self.summary
        if not summary.exchanges and last is not None and last.exchanges:  # router released
            summary = replace(
                summary, buckets=last.buckets, spend=last.spend, exchanges=last.exchanges
            )
        self.summary = summary
        if self.ttft is None:
            self._make()
            self.added = True
        self._fill_latency(self.ttft, summary, "ttft")
        self._fill_latency(self.tpot, summary, "tpot")
        self._fill_win_rate(summary)
        self.text.value = summary_html(summary)

    def _fill_latency(self, fig: Any, summary: LLMSummary, field: str) -> None:
        labels = [bucket.label for bucket in summary.buckets]
        with fig.batch_update():
            for trace, side in zip(fig.data, SIDE_COLORS, strict=True):
                stats = [bucket.side(side) for bucket in summary.buckets]
                values = [getattr(s, field) for s in stats]
                trace.x = labels
                trace.y = [None if v is None else v[0] for v in values]
                trace.error_y = {
                    "type": "data",
                    "symmetric": False,
                    "array": [0 if v is None else v[1] - v[0] for v in values],
                    "arrayminus": [0] * len(values),
                }
                trace.text = [
                    f"{side} {s.requests} requests ({s.errors} errors): "
                    + ", ".join(
                        f"p{q} {ms(None if v is None else v[i])}" for i, q in enumerate(QUANTILES)
                    )
                    for s, v in zip(stats, values, strict=True)
                ]
                trace.hovertemplate = "%{text}<extra></extra>"
                trace.textposition = "none"  # the text is the hover, not a label in the bar
        self._sync(fig)

    def _fill_win_rate(self, summary: LLMSummary) -> None:
        fig = self.win_rate
        views = [v for v in summary.win_rates if v.band is not None]
        for view in views:  # two traces per metric, made once: its band and its rate
            if not any(trace.legendgroup == view.metric for trace in fig.data):
                fig.add_scatter(
                    x=[],
                    y=[],
                    mode="lines",
                    line={"width": 12},
                    opacity=0.4,
                    name=f"{view.metric} band",
                    legendgroup=view.metric,
                    hoverinfo="skip",
                )
                fig.add_scatter(
                    x=[],
                    y=[],
                    mode="markers",
                    marker={"size": 12},
                    name=f"{view.metric} win rate",
                    legendgroup=view.metric,
                    hovertemplate="%{x:.1%}<br>%{text}<extra></extra>",
                )
        shapes = [
            {
                "type": "line",
                "xref": "x",
                "x0": x,
                "x1": x,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"color": "#424242", "width": 1, "dash": dash},
            }
            for view in summary.win_rates[:1]
            for x, dash in ((0.5, "dot"), (view.floor, "dash"))
        ]
        notes = [
            {
                "x": x,
                "xref": "x",
                "y": 1,
                "yref": "paper",
                "yanchor": "bottom",
                "text": text,
                "showarrow": False,
                "font": {"size": 10, "color": "#424242"},
            }
            for view in summary.win_rates[:1]
            for x, text in ((0.5, "even"), (view.floor, f"floor {view.floor:.0%}"))
        ]
        with fig.batch_update():
            fig.set_shapes(shapes)
            fig.set_annotations(notes)
            for view in views:
                assert view.band is not None
                low, high = view.band
                color = VERDICT_COLORS.get(view.verdict, "#000")
                band, rate = (t for t in fig.data if t.legendgroup == view.metric)
                band.x, band.y = [low, high], [view.metric, view.metric]
                band.line.color = color
                rate.x, rate.y = [view.rate], [view.metric]
                rate.marker.color = color
                rate.text = [f"{view.pairs} pairs, band [{low:.1%}, {high:.1%}]"]
            fig.yaxis.type = "category"
        self._sync(fig)
