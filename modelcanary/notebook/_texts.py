"""The widget's text parts (HTML): start-up lines, the summary line, the sequential tests'
readout (band, evidence, p-value), the verdict with its checks table."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from ..analysis._chartdata import BandChart, metric_label
from ..spec import Analysis, CheckRecord, RolloutStatus
from ..spec._html import checks_table, last_checked, verdict_span

BAND_WORDS = {
    "worse": "challenger worse than the champion",
    "better": "challenger better than the champion",
    "unsure": "no difference shown yet",
}


def startup_of(run: Any) -> tuple[tuple[str, ...], str]:
    """The source's start-up lines and error ("" if none); sources without them: none."""
    log_of = getattr(run, "startup_log", None)
    error_of = getattr(run, "startup_error", None)
    lines = tuple(log_of()) if callable(log_of) else ()
    error = error_of() if callable(error_of) else None
    return lines, str(error) if error else ""


def startup_html(lines: tuple[str, ...], error: str) -> str:
    """The start-up lines as a list, the failure in red ("" when there is neither)."""
    if not lines and not error:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    failed = (
        f"<p style='color:#c62828'><b>start-up failed:</b> {escape(error)}</p>" if error else ""
    )
    return (
        f"<div class='mc-startup' style='font-size:0.9em;color:#424242'>"
        f"<ul style='margin:2px 0'>{items}</ul>{failed}</div>"
    )


def summary_html(status: RolloutStatus) -> str:
    """Weights, intervals and failed checks in one line."""
    return (
        f"challenger <b>{status.canary_weight}%</b> &middot; champion "
        f"<b>{100 - status.canary_weight}%</b> &middot; mirror <b>{status.mirror_weight}%</b>"
        f" &middot; {status.iterations} interval(s) &middot; "
        f"{status.failed_checks} failed check(s)"
    )


def pvalues_html(
    status: RolloutStatus, analysis: Analysis | None, bands: Mapping[str, BandChart]
) -> str:
    """One line per tested metric: its latest band (when sequential) and p-value."""
    latest: dict[str, CheckRecord] = {}
    for record in status.history:
        for check in record.checks:
            if check.p_value is not None:
                latest[check.metric] = check
    items = []
    for metric in sorted(set(latest) | set(bands)):
        parts = [f"<b>{escape(metric_label(metric, analysis))}</b>:"]
        chart = bands.get(metric)
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
                f"p = {tested.p_value:.3g} ({escape(tested.judge)}) {verdict_span(tested.verdict)}"
            )
        items.append(f"<li>{' '.join(parts)}</li>")
    if not items:
        return ""
    return (
        "<div class='mc-pvalues'>Sequential tests (always valid: look as often as you "
        f"like):<ul>{''.join(items)}</ul></div>"
    )


def verdict_html(status: RolloutStatus) -> str:
    """The outcome, the status message and the last checked interval's checks."""
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
    return f"<div class='mc-verdict'>{head}{message}{body}</div>"


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
