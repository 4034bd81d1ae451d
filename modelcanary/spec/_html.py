"""Static HTML views of a rollout and its status (no plotly, no widgets): ``_repr_html_``.

``status_html(status)`` shows the phase badge, weights, counters, outcome and message, and the
last analysis interval's checks with their verdicts and reasons. Every string is escaped.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from ._plan import stages
from ._status import AnalysisRecord, CheckRecord, RolloutStatus

if TYPE_CHECKING:
    from ._rollout import ModelRollout

VERDICT_COLORS = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "inconclusive": "#9e9e9e",
    "error": "#ef6c00",
    "skipped": "#bdbdbd",
}
"""Colour of each check verdict (reports, widgets, notebook views)."""


def phase_badge(status: RolloutStatus) -> str:
    """The phase as a coloured pill, with the outcome once decided (``Failed: aborted``)."""
    color = status.phase.traits.colour  # the phase table's badge colour
    text = status.phase.value + (f": {status.outcome}" if status.outcome else "")
    if status.paused:
        text += " (paused)"
    return (
        f"<span class='mc-phase' style='background:{color};color:white;border-radius:10px;"
        f"padding:2px 10px;font-weight:600'>{escape(text)}</span>"
    )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _bounds(check: CheckRecord) -> str:
    if check.min is not None and check.max is not None:
        return f"{_num(check.min)} .. {_num(check.max)}"
    if check.max is not None:
        return f"<= {_num(check.max)}"
    if check.min is not None:
        return f">= {_num(check.min)}"
    return "-"


def verdict_span(verdict: str) -> str:
    """A verdict word in its colour."""
    color = VERDICT_COLORS.get(verdict, "#000")
    return f"<b style='color:{color}'>{escape(verdict)}</b>"


def checks_table(record: AnalysisRecord) -> str:
    """One analysis interval's checks: metric, value, champion, bounds, judge, p, verdict, why."""
    rows = "".join(
        "<tr>"
        f"<td>{escape(c.metric)}</td><td>{_num(c.value)}</td><td>{_num(c.champion_value)}</td>"
        f"<td>{escape(_bounds(c))}</td><td>{escape(c.judge)}</td><td>{_num(c.p_value)}</td>"
        f"<td>{verdict_span(c.verdict)}</td><td>{escape(c.reason)}</td>"
        "</tr>"
        for c in record.checks
    )
    head = (
        "<tr><th>metric</th><th>value</th><th>champion</th><th>pass band</th><th>judge</th>"
        "<th>p</th><th>verdict</th><th>why</th></tr>"
    )
    style = (
        "<style>.mc-checks{border-collapse:collapse}.mc-checks td,.mc-checks th"
        "{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}</style>"
    )
    return f"{style}<table class='mc-checks'>{head}{rows}</table>" if rows else ""


def last_checked(history: list[AnalysisRecord]) -> AnalysisRecord | None:
    """The latest interval that ran checks (later ones may be skipped, e.g. while finalising)."""
    return next((h for h in reversed(history) if h.checks), history[-1] if history else None)


def status_html(status: RolloutStatus) -> str:
    """A RolloutStatus as HTML: badge, weights, counters, message and the last interval."""
    last = last_checked(list(status.history))
    lines = [
        f"<div class='mc-status' style='font-family:system-ui,sans-serif'>{phase_badge(status)}",
        f"<p>challenger <b>{status.canary_weight}%</b>, champion "
        f"<b>{100 - status.canary_weight}%</b>, mirror <b>{status.mirror_weight}%</b>; "
        f"{status.iterations} interval(s), {status.failed_checks} failed check(s)</p>",
    ]
    if status.champion or status.challenger:
        lines.append(
            f"<p>champion <code>{escape(status.champion or '-')}</code> &rarr; challenger "
            f"<code>{escape(status.challenger or '-')}</code></p>"
        )
    if status.message:
        lines.append(f"<p class='mc-message'>{escape(status.message)}</p>")
    if last is not None:
        lines.append(
            f"<p>last analysis {escape(last.time)}: {verdict_span(last.verdict)} "
            f"{escape(last.message)}</p>{checks_table(last)}"
        )
    lines.append("</div>")
    return "\n".join(lines)


def rollout_html(rollout: ModelRollout) -> str:
    """A rollout as a compact table: versions, strategy, SLOs, and its status when it has one."""
    spec = rollout.spec
    analysis = spec.analysis
    champion = spec.champion.source if spec.champion else "-"
    challenger = (
        spec.challenger.source
        if spec.challenger
        else (f"targetRef {spec.target_ref.name}" if spec.target_ref else "-")
    )
    plan = analysis.weights()
    steps = ", ".join(s.describe() for s in stages(analysis)) if analysis.steps else ""
    strategy = (
        analysis.strategy
        + (f" {plan}" if plan else "")
        + (f" ({steps})" if steps else "")
        + (f", {analysis.iterations} iterations" if analysis.iterations else "")
    )
    slos = "".join(
        f"<li><code>{escape(m.name)}</code>"
        f"{' vs champion' if m.relative_to else ''} "
        f"{escape(_range(m.effective_range()))}</li>"
        for m in analysis.metrics
    )
    rows = [
        ("champion", champion),
        ("challenger", challenger),
        ("router", spec.router.provider),
        (
            "strategy",
            f"{strategy} every {analysis.interval}" + (", shadow first" if analysis.mirror else ""),
        ),
    ]
    body = "".join(
        f"<tr><th style='text-align:left'>{k}</th><td><code>{escape(str(v))}</code></td></tr>"
        for k, v in rows
    )
    html = (
        f"<div><b>ModelRollout {escape(rollout.name)}</b><table>{body}</table>"
        f"<ul style='margin:2px 0'>{slos}</ul></div>"
    )
    return html + (status_html(rollout.status) if rollout.status is not None else "")


def _range(rng: object) -> str:
    low, high = getattr(rng, "min", None), getattr(rng, "max", None)
    if low is not None and high is not None:
        return f"in [{low:g}, {high:g}]"
    if low is not None:
        return f">= {low:g}"
    return f"<= {high:g}" if high is not None else ""
