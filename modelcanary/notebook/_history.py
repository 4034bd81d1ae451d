"""The analysis history as a table: one row per interval and check, one unit per row.

A check's record keeps what its judge compared: an absolute check its SLI value (a fraction,
ms, rps...), a check relative to the champion the *comparison* (challenger/champion ratio, or
difference) with the champion's own value in the SLI's unit beside it, a Mann-Whitney check
the ratio of means, the Kayenta-style score a 0-100 score. A table that mixed those in one
row (value 1.08, champion_value 212 ms) reads wrongly, so each row here holds numbers of one
unit, named in its ``unit`` column: a ratio or difference check is shown in the SLI's unit
(value the challenger's, champion_value the champion's, min and max the bounds this interval
applied: ratio bounds times the champion's value, or the champion's value plus the
difference bounds), which keeps ``min <= value <= max`` the test that passed or failed.

The ``metric`` column is the check's metric key: two checks of one SLI are two rows of one
interval (``error-rate`` and ``error-rate[rate-limit]``, ``latency-p99`` and
``latency-p99@champion``), each in the SLI's unit.
"""

from __future__ import annotations

from typing import Any

from ..analysis._checks import metric_key
from ..spec import AnalysisRecord, CheckRecord, RolloutStatus
from ..spec._analysis import Analysis
from ..spec._catalogue import unit_of

HISTORY_COLUMNS = [
    "time",
    "phase",
    "weight",
    "mirror",
    "metric",
    "value",
    "champion_value",
    "min",
    "max",
    "unit",
    "verdict",
    "reason",
    "judge",
    "p_value",
]
"""Columns of :meth:`NotebookRun.history` (one row per analysis interval and metric)."""

SCORE = "canary-score"
"""The metric name of the Kayenta-style weighted score (0-100)."""


def history_rows(history: list[AnalysisRecord], analysis: Any = None) -> list[dict[str, Any]]:
    """Flat records: one per interval and check (an interval without checks gives one row).

    ``analysis``: the rollout's ``spec.analysis`` (or the rollout), which says how each
    relative check compared; without it the check's reason line says.
    """
    comparisons = _comparisons(analysis)
    rows: list[dict[str, Any]] = []
    for record in history:
        base = {
            "time": record.time,
            "phase": record.phase,
            "weight": record.canary_weight,
            "mirror": record.mirror_weight,
        }
        if not record.checks:
            rows.append(base | dict.fromkeys(HISTORY_COLUMNS[4:]) | {"verdict": record.verdict})
        for c in record.checks:
            rows.append(
                base
                | _numbers(c, comparisons)
                | {
                    "metric": c.metric,
                    "verdict": c.verdict,
                    "reason": c.reason,
                    "judge": c.judge,
                    "p_value": c.p_value,
                }
            )
    return rows


def history_frame(status: RolloutStatus, rollout: Any = None) -> Any:
    """``status.history`` as a pandas DataFrame with :data:`HISTORY_COLUMNS` (time parsed).

    ``rollout``: the ModelRollout (or its ``spec.analysis``) the status belongs to.
    """
    import pandas as pd

    frame = pd.DataFrame(history_rows(list(status.history), rollout), columns=HISTORY_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def _comparisons(source: Any) -> dict[str, str]:
    """``metric@champion`` (the metric key) -> ``ratio`` or ``difference``, from the rollout's
    analysis."""
    if source is None:
        return {}
    spec = getattr(source, "spec", source)
    analysis = spec if isinstance(spec, Analysis) else getattr(spec, "analysis", None)
    if not isinstance(analysis, Analysis):
        return {}
    return {
        metric_key(m): m.comparison or "ratio"
        for m in analysis.metrics
        if m.relative_to == "champion"
    }


def sli_name(key: str) -> str:
    """The SLI of a check's metric key: ``error-rate`` for ``error-rate[rate-limit]@champion``
    (its unit and the name its reason line starts with)."""
    return key.partition("@")[0].partition("[")[0]


def _numbers(check: CheckRecord, comparisons: dict[str, str]) -> dict[str, Any]:
    """value, champion_value, min, max and their one unit for one check."""
    against = check.metric.partition("@")[2]
    name = sli_name(check.metric)
    numbers: dict[str, Any] = {
        "value": check.value,
        "champion_value": check.champion_value,
        "min": check.min,
        "max": check.max,
    }
    if name == SCORE:
        return numbers | {"unit": "score"}
    if check.judge == "mann-whitney":  # effect: challenger/champion ratio of means
        return numbers | {"unit": "ratio"}
    unit = unit_of(name)
    if against != "champion" or check.judge != "threshold":
        return numbers | {"unit": unit}
    how = comparisons.get(check.metric) or _said(check)
    champion = check.champion_value
    if how == "difference":
        return numbers | {
            "value": _plus(champion, check.value),
            "min": _plus(champion, check.min),
            "max": _plus(champion, check.max),
            "unit": unit,
        }
    if champion is None:  # no champion value to scale by: the ratio as it is
        return numbers | {"champion_value": None, "unit": "ratio"}
    return numbers | {
        "value": _times(champion, check.value),
        "min": _times(champion, check.min),
        "max": _times(champion, check.max),
        "unit": unit,
    }


def _said(check: CheckRecord) -> str:
    """The comparison a relative check's reason names (``latency-p99 difference 3ms ...``)."""
    name = sli_name(check.metric)
    return "difference" if check.reason.startswith(f"{name} difference ") else "ratio"


def _times(champion: float, ratio: float | None) -> float | None:
    return None if ratio is None else champion * ratio


def _plus(champion: float | None, difference: float | None) -> float | None:
    return None if champion is None or difference is None else champion + difference
