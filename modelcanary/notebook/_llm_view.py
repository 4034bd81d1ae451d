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
them after the verdict) leaves the view with the last charts it drew.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from html import escape
from typing import Any

from ..analysis._bands import sequential_states
from ..analysis._chartdata import level_text
from ..analysis._checks import metric_key
from ..analysis._interval import shared_alpha
from ..analysis._llm_chart import QUANTILES, LLMSummary, Spend, WinRate, llm_summary
from ..analysis._llm_records import PROMPT_BUCKETS, LLMExchange, LLMSource
from ..analysis._measurements import Side, Window
from ..analysis._winrate import WinRateState
from ..spec import RolloutStatus
from ..spec._html import VERDICT_COLORS
from ..spec._llm import DEFAULT_MARGIN

SIDE_COLORS: dict[Side, str] = {"champion": "#2e7d32", "challenger": "#1565c0"}
"""Bar colour of each version (as in the traffic chart)."""
VERDICT_WORDS = {
    "fail": "worse than the champion by more than the margin",
    "pass": "not worse than the champion (within the margin)",
    "inconclusive": "not decided yet",
}


def is_llm(rollout: Any) -> bool:
    """True when a version of the rollout declares ``protocol: openai``."""
    spec = rollout.spec
    return any(v is not None and v.is_llm for v in (spec.champion, spec.challenger))


def exchanges_of(run: Any) -> list[LLMExchange]:
    """All the source's LLM exchanges so far: a source that keeps them is an
    :class:`~modelcanary.analysis._llm_records.LLMSource` (``llm_exchanges(window)``); other
    sources have none."""
    if not isinstance(run, LLMSource):
        return []
    return list(run.llm_exchanges(Window(0.0, math.inf)))


def budget_of(rollout: Any) -> dict[str, float | int | None]:
    """``spec.analysis.mirrorBudget`` as ``max_prompts`` / ``max_tokens`` / ``max_cost``."""
    budget = rollout.spec.analysis.mirror_budget
    if budget is None:
        return {}
    return {
        "max_prompts": budget.max_prompts,
        "max_tokens": budget.max_tokens,
        "max_cost": budget.max_cost,
    }


def win_rates_of(
    rollout: Any, status: RolloutStatus
) -> dict[str, tuple[WinRateState, float, float]]:
    """Each ``win-rate`` metric's state (kept by the sequential judge in the status), margin
    (the metric's, else the default) and alpha (the one the judge used: the metric's, else
    the rollout's shared budget)."""
    analysis = rollout.spec.analysis
    params = {
        metric_key(metric): (
            metric.margin if metric.margin is not None else DEFAULT_MARGIN,
            metric.alpha or shared_alpha(analysis),
        )
        for metric in analysis.metrics
    }
    default = (DEFAULT_MARGIN, shared_alpha(analysis))
    return {
        key: (state, *params.get(key, default))
        for key, state in stored_win_rates(status.analysis_state).items()
    }


def stored_win_rates(analysis_state: Mapping[str, Any] | None) -> dict[str, WinRateState]:
    """The win-rate tests in ``status.analysis_state`` (metric key -> state): the sequential
    states that carry one."""
    return {
        key: state.win_rate
        for key, state in sequential_states(analysis_state).items()
        if state.win_rate is not None
    }


def edges_of(rollout: Any) -> tuple[int, ...]:
    """The prompt-length bucket edges the latency SLIs use: the first ``ttft-*``/``tpot-*``
    metric's ``promptBuckets``, else the default."""
    for metric in rollout.spec.analysis.metrics:
        if metric.name.startswith(("ttft-", "tpot-")) and metric.prompt_buckets:
            return tuple(metric.prompt_buckets)
    return PROMPT_BUCKETS


def llm_inputs(run: Any, status: RolloutStatus) -> LLMSummary | None:
    """What the view draws for ``run`` at ``status``; None when the rollout is not an LLM one
    and has no LLM data."""
    exchanges = exchanges_of(run)
    win_rates = win_rates_of(run.rollout, status)
    if not exchanges and not win_rates and not is_llm(run.rollout):
        return None
    return llm_summary(
        exchanges,
        edges=edges_of(run.rollout),
        pricing=run.rollout.spec.challenger.pricing if run.rollout.spec.challenger else None,
        budget=budget_of(run.rollout),
        win_rates=win_rates,
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g} ms"


def spend_text(spend: Spend) -> str:
    """``spend so far: 120 of 500 mirrored prompts, 35,200 tokens, $0.042 of $1``."""
    prompts = f"{spend.prompts:,}" + (
        f" of {spend.max_prompts:,}" if spend.max_prompts is not None else ""
    )
    tokens = f"{spend.tokens:,}" + (
        f" of {spend.max_tokens:,}" if spend.max_tokens is not None else ""
    )
    parts = [f"{prompts} mirrored prompts", f"{tokens} tokens"]
    if spend.cost is not None:
        cost = f"{spend.cost:.4g}" + (f" of {spend.max_cost:g}" if spend.max_cost else "")
        parts.append(f"cost {cost}")
    return "spend so far: " + ", ".join(parts)


def win_rate_text(view: WinRate) -> str:
    """One metric's pairs, rate, band and verdict, as HTML."""
    color = VERDICT_COLORS.get(view.verdict, "#000")
    rate = "-" if view.rate is None else f"{view.rate:.1%}"
    band = (
        f"{level_text(view.alpha)}% band [{view.band[0]:.1%}, {view.band[1]:.1%}]"
        if view.band
        else "no band yet"
    )
    return (
        f"<b>{escape(view.metric)}</b>: {rate} over {view.pairs:,} judged pairs "
        f"({view.wins} wins, {view.ties} ties, {view.losses} losses), {band}, floor "
        f"{view.floor:.0%}: <b style='color:{color}'>{escape(view.verdict)}</b> "
        f"({escape(VERDICT_WORDS.get(view.verdict, view.verdict))})"
    )


def summary_html(summary: LLMSummary) -> str:
    """The text part of the view: win-rate lines and the spend."""
    items = [f"<li>{win_rate_text(view)}</li>" for view in summary.win_rates]
    items.append(f"<li>{escape(spend_text(summary.spend))}</li>")
    return f"<div class='mc-llm'>LLM:<ul style='margin:2px 0'>{''.join(items)}</ul></div>"


class LLMView:
    """The LLM part of the widget: ``box`` (empty until the rollout shows LLM data)."""

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
        self.box.children = (self.ttft, self.tpot, self.win_rate, self.text)

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
                        f"p{q} {_ms(None if v is None else v[i])}" for i, q in enumerate(QUANTILES)
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
            fig.layout.shapes = shapes
            fig.layout.annotations = notes
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
            fig.layout.yaxis = {"type": "category"}
        self._sync(fig)
