"""The LLM view's text, as HTML: the lines the live widget and the static report both show.

Per ``win-rate`` metric its judged pairs, rate, always-valid band and verdict; the spend on
mirrored prompts against the ``mirrorBudget`` caps; and (static report) the TTFT/TPOT
quantiles per prompt-length bucket and version as a table, readable where no JavaScript runs
(GitHub). Pure: strings from an :class:`~modelcanary.analysis._llm_chart.LLMSummary`.
"""

from __future__ import annotations

from html import escape

from ..spec._html import VERDICT_COLORS
from ._chartdata import level_text
from ._llm_chart import QUANTILES, LLMSummary, Spend, WinRate
from ._measurements import Side

SIDE_COLORS: dict[Side, str] = {"champion": "#2e7d32", "challenger": "#1565c0"}
"""Bar colour of each version in the LLM charts (as in the traffic chart)."""
VERDICT_WORDS = {
    "fail": "worse than the champion by more than the margin",
    "pass": "not worse than the champion (within the margin)",
    "inconclusive": "not decided yet",
}
"""A win-rate verdict for people."""


def ms(value: float | None) -> str:
    """``12.3 ms`` (``-`` for none)."""
    return "-" if value is None else f"{value:.3g} ms"


def spend_text(spend: Spend) -> str:
    """``spend so far: 120 of 500 mirrored prompts, 35,200 tokens, cost 0.042 of 1``."""
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


def summary_html(summary: LLMSummary, spend: bool = True) -> str:
    """The text part of the LLM view: win-rate lines and (``spend``) the spend."""
    items = [f"<li>{win_rate_text(view)}</li>" for view in summary.win_rates]
    if spend:
        items.append(f"<li>{escape(spend_text(summary.spend))}</li>")
    return f"<div class='mc-llm'>LLM:<ul style='margin:2px 0'>{''.join(items)}</ul></div>"


def latency_table(summary: LLMSummary) -> str:
    """TTFT and TPOT quantiles per prompt-length bucket and version, as an HTML table."""
    head = "".join(f"<th>{f} p{q}</th>" for f in ("TTFT", "TPOT") for q in QUANTILES)
    rows = []
    for bucket in summary.buckets:
        for side in SIDE_COLORS:
            stats = bucket.side(side)
            cells = "".join(
                f"<td>{ms(None if v is None else v[i])}</td>"
                for v in (stats.ttft, stats.tpot)
                for i in range(len(QUANTILES))
            )
            rows.append(
                f"<tr><td>{escape(bucket.label)}</td><td>{side}</td><td>{stats.requests}</td>"
                f"<td>{stats.errors}</td>{cells}</tr>"
            )
    return (
        "<table class='mc-llm-latency'><tr><th>prompt tokens</th><th>version</th>"
        f"<th>requests</th><th>errors</th>{head}</tr>{''.join(rows)}</table>"
    )
