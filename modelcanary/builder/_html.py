"""Readable views of a rollout: a one-line summary for ``repr``, an HTML table for notebooks.

Works on validated rollouts and on unvalidated drafts alike (it only reads fields), so a
notebook can show a half-built rollout together with what is still wrong with it. Every
user-supplied string is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from modelcanary.errors import SpecIssue
from modelcanary.spec import MetricSpec, ModelRollout, ModelVersion

from ._plans import describe_plan
from ._units import METRIC_UNITS, show


def _source(version: ModelVersion | None) -> str:
    return version.source if version is not None else "?"


def _versions(rollout: ModelRollout) -> tuple[str, str]:
    spec = rollout.spec
    if spec.target_ref is not None and spec.champion is None and spec.challenger is None:
        ref = f"{spec.target_ref.kind}/{spec.target_ref.name}"
        return f"{ref} (current)", f"{ref} (new revision)"
    return _source(spec.champion), _source(spec.challenger)


def _full_name(rollout: ModelRollout) -> str:
    meta = rollout.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


def describe_check(metric: MetricSpec) -> str:
    """A check as a formula, e.g. ``latency-p99 <= 250ms`` or ``latency-p99 <= 1.1x champion``."""
    unit: str = METRIC_UNITS.get(metric.name, "raw") if metric.query is None else "raw"
    subject = metric.name
    if metric.error_class is not None:
        subject = f"{metric.name}[{metric.error_class}]"
    if metric.relative_to is not None:
        if metric.comparison == "difference":
            subject = f"{subject} - champion"
        else:
            unit = "ratio"
            subject = f"{subject} / champion"
    rng = metric.effective_range()
    if rng is None:
        rule = subject
    elif rng.min is not None and rng.max is not None:
        rule = f"{show(rng.min, unit)} <= {subject} <= {show(rng.max, unit)}"
    elif rng.max is not None:
        rule = f"{subject} <= {show(rng.max, unit)}"
    else:
        rule = f"{subject} >= {show(rng.min or 0.0, unit)}"
    extras = [
        f"evaluator {metric.evaluator}" if metric.evaluator else "",
        f"margin {metric.margin:g}" if metric.margin is not None else "",
        f"judge {metric.judge}" if metric.judge else "",
        f"over {metric.interval}" if metric.interval else "",
        "critical" if metric.critical else "",
    ]
    extra = ", ".join(e for e in extras if e)
    return f"{rule} ({extra})" if extra else rule


def rollout_summary(rollout: ModelRollout) -> str:
    """``'fraud': models:/fraud@champion -> models:/fraud/4, canary [5, 10] every 1m, 2 SLOs``."""
    champion, challenger = _versions(rollout)
    analysis = rollout.spec.analysis
    count = len(analysis.metrics)
    text = (
        f"{_full_name(rollout)!r}: {champion} -> {challenger}, {describe_plan(analysis)}, "
        f"{count} SLO{'' if count == 1 else 's'}"
    )
    hooks = len(analysis.webhooks)
    return text + (f", {hooks} webhook{'' if hooks == 1 else 's'}" if hooks else "")


def _row(label: str, value: str) -> str:
    return f"<tr><th style='text-align:left'>{escape(label)}</th><td>{escape(value)}</td></tr>"


def rollout_html(rollout: ModelRollout, issues: Sequence[SpecIssue] = ()) -> str:
    """A small HTML table: versions, router, plan, SLOs with thresholds, webhooks, problems."""
    spec = rollout.spec
    analysis = spec.analysis
    champion, challenger = _versions(rollout)
    rows = [
        _row("champion", champion),
        _row("challenger", challenger),
        _row("router", spec.router.provider),
        _row("plan", describe_plan(analysis)),
        _row("no data", analysis.no_data),
    ]
    rows += [_row(f"SLO {m.name}", describe_check(m)) for m in analysis.metrics]
    rows += [_row(f"webhook {w.name}", f"{w.type}: {w.url}") for w in analysis.webhooks]
    rows += [_row(f"alert {a.name}", a.severity) for a in analysis.alerts]
    status = "valid" if not issues else f"{len(issues)} problem{'s' if len(issues) > 1 else ''}"
    out = [
        "<div class='modelcanary-rollout'>",
        f"<table><caption>ModelRollout <b>{escape(_full_name(rollout))}</b> ({status})</caption>",
        *rows,
        "</table>",
    ]
    if issues:
        out.append("<ul class='modelcanary-issues'>")
        out += [
            f"<li><code>{escape(i.path or '-')}</code>: {escape(i.message)}"
            + (f" <i>(fix: {escape(i.hint)})</i>" if i.hint else "")
            + "</li>"
            for i in issues
        ]
        out.append("</ul>")
    out.append("</div>")
    return "\n".join(out)
