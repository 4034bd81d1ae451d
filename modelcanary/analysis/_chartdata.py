"""The series the rollout charts plot: one pure function for the HTML report and the widget.

:func:`chart_data` turns a :class:`~modelcanary.spec.RolloutStatus` into plain series: the
traffic (challenger, champion and mirror weights), each SLI's value and champion value per
interval with its verdict and its passing band, and each sequential metric's always-valid
confidence band (:mod:`modelcanary.analysis._bands`). ``modelcanary._report`` and
``modelcanary.notebook._widget`` only draw what it returns, so the two cannot disagree.

**The passing band** is the range the checks apply *now*: the latest interval's ``min`` and
``max`` (they change only when the rollout's spec is edited); an open side reaches the data.
**The confidence band** is the running intersection over the looks at growing counts (the
largest low and the smallest high so far), which is what keeps it valid at every look. The
status keeps only the latest counts, so a caller that looks repeatedly (the widget) passes its
previous bands back in and gets one more point each time the counts grew; a single look (the
report) gets the band of the final counts. Pure: no I/O, no plotting.

**The traffic** ends at the status's current weights: the recorded intervals keep the weights
*during* each analysis, so after a rollback (challenger back to 0 %) or an abort the last
interval still says e.g. 25 %; a final point at the time of the phase change says what the
header says. (Not after a promotion: the weights then describe the promoted version as the new
champion, and the last recorded split is the meaningful end of the challenger's line.)
**Labels** are unique per chart: a check relative to the champion (``latency-p99@champion``)
is labelled ``latency-p99 vs champion (ratio)``, the absolute one ``latency-p99 (ms)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from ..spec._analysis import Analysis
from ..spec._catalogue import unit_of
from ..spec._status import CheckRecord, RolloutStatus
from ._bands import Band, band_level, current_band, intersect, sequential_states, state_counts
from ._checks import metric_key
from ._sample_plan import Progress, evidence_progress


@dataclass(frozen=True)
class Traffic:
    """Weights over time (the recorded analyses, plus any points seen between them)."""

    times: tuple[str, ...]
    challenger: tuple[int, ...]
    champion: tuple[int, ...]
    mirror: tuple[int, ...]


@dataclass(frozen=True)
class MetricChart:
    """One SLI over the intervals it was checked in."""

    metric: str
    times: tuple[str, ...]
    values: tuple[float | None, ...]
    champion_values: tuple[float | None, ...]
    verdicts: tuple[str, ...]
    reasons: tuple[str, ...]
    passing: tuple[float, float] | None
    """The passing band ``(low, high)`` to shade; None when the check has no bounds."""
    label: str = ""
    """The chart's title, unique in the rollout (``latency-p99 (ms)``,
    ``latency-p99 vs champion (ratio)``); the metric key when empty."""

    @property
    def has_champion(self) -> bool:
        """True when the check compared with the champion in some interval (a champion line
        and its legend entry are drawn only then)."""
        return any(v is not None for v in self.champion_values)


@dataclass(frozen=True)
class BandChart:
    """One sequential metric's always-valid band of challenger - champion, per look."""

    metric: str
    alpha: float
    """The band's level is ``1 - alpha`` (the judge's champion-comparison share)."""
    points: tuple[tuple[str, Band], ...]
    """(time of the look, running intersection up to it)."""
    label: str = ""
    """The metric as the charts name it (:func:`metric_label`); the key when empty."""
    progress: Progress | None = None
    """Challenger requests so far against what the test needs to catch a 2x regression
    (:func:`modelcanary.analysis._sample_plan.evidence_progress`)."""

    @property
    def level(self) -> str:
        """The band's level for people: ``1 - alpha`` in percent, rounded (``99.2``, ``95``)."""
        return level_text(self.alpha)


def level_text(alpha: float) -> str:
    """``1 - alpha`` in percent with at most one decimal, never shown as 100 (or 0) by the
    rounding: 0.008333 -> ``99.2``, 0.05 -> ``95``, 0.0001 -> ``99.99``."""
    level = (1 - alpha) * 100
    for digits in (1, 2, 3, 4):
        text = f"{round(level, digits):g}"
        if 0 < float(text) < 100:
            return text
    return f"{level:.6g}"


@dataclass(frozen=True)
class ChartData:
    """Everything the rollout charts plot."""

    traffic: Traffic
    metrics: tuple[MetricChart, ...]
    bands: tuple[BandChart, ...]


def chart_data(
    analysis: Analysis,
    status: RolloutStatus,
    *,
    bands: Mapping[str, BandChart] | None = None,
    seen: Iterable[tuple[str, int, int]] = (),
    now: str = "",
) -> ChartData:
    """The chart series of ``status`` (``analysis``: the rollout's ``spec.analysis``).

    ``bands``: the bands of an earlier call (one more point is added where the counts grew);
    ``seen``: extra ``(time, challenger %, mirror %)`` traffic points; ``now``: the time of a
    band point when the status has no analysis time yet.
    """
    return ChartData(
        _traffic(status, seen, now),
        _metrics(analysis, status),
        _bands(analysis, status, bands or {}, status.last_analysis_time or now),
    )


def passing_band(
    lows: list[float], highs: list[float], values: Iterable[float | None]
) -> tuple[float, float] | None:
    """The band the checks apply now: the latest bounds; an open side reaches the data."""
    if not lows and not highs:
        return None
    finite = [v for v in values if v is not None]
    low = lows[-1] if lows else min([0.0, *finite])
    high = highs[-1] if highs else max([low, *finite]) * 1.1 + 1e-9
    return low, high


def _traffic(status: RolloutStatus, seen: Iterable[tuple[str, int, int]], now: str) -> Traffic:
    points = sorted(
        {(h.time, h.canary_weight, h.mirror_weight) for h in status.history} | set(seen)
    )
    current = (status.canary_weight, status.mirror_weight)
    if points and points[-1][1:] != current and status.outcome != "promoted":
        # the weights now (0 % after a rollback), at the phase change that set them
        last = points[-1][0]
        time = max(status.last_transition_time or now or last, last)
        points.append((time, *current))
    return Traffic(
        tuple(p[0] for p in points),
        tuple(p[1] for p in points),
        tuple(100 - p[1] for p in points),
        tuple(p[2] for p in points),
    )


def metric_label(key: str, analysis: Analysis | None = None) -> str:
    """A chart title for the check ``key``: ``latency-p99 (ms)`` for an absolute check,
    ``latency-p99 vs champion (ratio)`` for one relative to the champion (how it compares read
    from ``analysis``: ratio unless it says difference)."""
    name, _, against = key.partition("@")
    if against:
        how = "ratio"
        for metric in analysis.metrics if analysis is not None else ():
            if metric_key(metric) == key:
                how = metric.comparison or "ratio"
        return f"{name} vs {against} ({how})"
    unit = unit_of(name.partition("[")[0])  # error-rate[rate-limit]: error-rate's unit
    return name if unit == "raw" else f"{name} ({unit})"


def _metrics(analysis: Analysis, status: RolloutStatus) -> tuple[MetricChart, ...]:
    series: dict[str, list[tuple[str, CheckRecord]]] = {}
    for record in status.history:
        for check in record.checks:
            series.setdefault(check.metric, []).append((record.time, check))
    charts = []
    for metric, points in series.items():
        checks = [c for _, c in points]
        values = tuple(c.value for c in checks)
        charts.append(
            MetricChart(
                metric,
                tuple(t for t, _ in points),
                values,
                tuple(c.champion_value for c in checks),
                tuple(c.verdict for c in checks),
                tuple(c.reason for c in checks),
                passing_band(
                    [c.min for c in checks if c.min is not None],
                    [c.max for c in checks if c.max is not None],
                    values,
                ),
                metric_label(metric, analysis),
            )
        )
    labels = [c.label for c in charts]
    return tuple(  # labels are titles: never two the same (the key tells them apart)
        c if labels.count(c.label) == 1 else replace(c, label=f"{c.label} [{c.metric}]")
        for c in charts
    )


def _bands(
    analysis: Analysis, status: RolloutStatus, previous: Mapping[str, BandChart], time: str
) -> tuple[BandChart, ...]:
    charts = dict(previous)
    for key, state in sequential_states(status.analysis_state).items():
        band = current_band(analysis, key, state)
        old = charts.get(key)
        points = old.points if old is not None else ()
        if band is None or (points and points[-1][1].requests == band.requests):
            continue  # no counts yet, or no new data since the last look
        last = points[-1][1] if points else None
        counts = state_counts(state)
        charts[key] = BandChart(
            key,
            band_level(analysis, key),
            (*points, (time, intersect(last, band))),
            metric_label(key, analysis),
            evidence_progress(counts.n0, counts.x0, counts.n1, clustered=state.clustered)
            if counts
            else None,
        )
    return tuple(charts[key] for key in sorted(charts))
