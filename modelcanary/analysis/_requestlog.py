"""Request logs for the backtest: rows checked one by one, and the span they may cover.

A log is one row per request: ``timestamp`` (seconds), ``version`` (champion|challenger),
``latency_ms``, ``status`` (HTTP code), optional ``prediction``, ``request_id``, ``unit``
(the user or session key: with it the backtest judges per user, as the runtime does) and
``mirrored`` (1 on a challenger row that answered a mirror copy: users got the champion's
answer; without the column a challenger row whose ``request_id`` a champion row carries is
taken as a copy, :func:`mirror_copies`). Every
value is checked as it is read, so bad data is a :class:`~modelcanary.errors.SpecError`
naming the row, the column and the fix - never a crash or a silent NaN later. The span of
the timestamps is bounded too (:func:`window_count`): one millisecond value among seconds
would otherwise ask the replay for billions of analysis intervals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError, SpecIssue
from ._measurements import Side

MAX_TIMESTAMP_S = 1e10
"""Largest accepted timestamp (seconds; 1e10 s is the year 2286). Millisecond Unix times
(about 1.7e12 today) are beyond it, so they are reported rather than replayed."""
MAX_LATENCY_MS = 86_400_000.0
"""Largest accepted latency: one day, in milliseconds."""
MAX_STATUS = 999
"""Largest accepted status code (0-999: HTTP codes, 0 for 'no response')."""
MAX_WINDOWS = 10_000
"""Default cap on the analysis intervals a log may span (``--max-intervals`` raises it)."""
MAX_ISSUES = 10
"""Bad rows listed in one error; the rest are counted."""
HINT = (
    "columns: timestamp (s), version (champion|challenger), latency_ms, status, "
    "[prediction], [request_id], [unit], [mirrored]"
)
MAX_UNIT_CHARS = 200
"""Longest accepted unit key (a user or session id)."""
_VERSIONS: dict[str, Side] = {
    "champion": "champion",
    "primary": "champion",
    "challenger": "challenger",
    "canary": "challenger",
}


@dataclass(frozen=True)
class Request:
    """One logged request."""

    timestamp: float
    version: Side
    latency_ms: float
    status: int
    prediction: float | str | None = None
    request_id: str | None = None
    row: int = field(default=0, compare=False)
    """1-based row of the log it came from (0: not read from a log)."""
    unit: str | None = None
    """The user or session the request belongs to (``unit`` column: the affinity cookie's
    value, or the header ``analysis.unitKey`` names): with it the judges test per unit."""
    mirrored: bool | None = None
    """A challenger row that answered a mirror copy (``mirrored`` column; None: no column or
    blank, then :func:`mirror_copies` infers it from the request ids)."""


def mirror_copies(requests: Iterable[Request]) -> list[bool]:
    """Per request, whether it is a mirror copy the challenger answered: its ``mirrored``
    flag where the log has one, else a challenger row whose ``request_id`` a champion row
    also carries (the router gives both versions the request's id)."""
    rows = list(requests)
    champion_ids = {r.request_id for r in rows if r.version == "champion" and r.request_id}
    return [
        r.version == "challenger"
        and (r.mirrored if r.mirrored is not None else r.request_id in champion_ids)
        for r in rows
    ]


class BadValue(ValueError):
    """One bad cell: what is wrong and how to fix it."""

    def __init__(self, message: str, hint: str = HINT) -> None:
        super().__init__(message)
        self.hint = hint


def parse_log(log: Any) -> list[Request]:
    """Rows of a request log (records, columns or a DataFrame) as :class:`Request`\\ s.

    Raises SpecError listing the first :data:`MAX_ISSUES` bad rows (``log row N``: the N-th
    data row, line N+1 of a CSV file with one header line), each with the column and the fix.
    """
    out: list[Request] = []
    issues: list[SpecIssue] = []
    bad = 0
    for i, row in enumerate(_rows(log)):
        try:
            out.append(_request(row, i + 1))
        except (KeyError, ValueError, TypeError, OverflowError) as exc:
            bad += 1
            if len(issues) < MAX_ISSUES:
                hint = exc.hint if isinstance(exc, BadValue) else HINT
                issues.append(SpecIssue(f"log row {i + 1}", str(exc).strip("'\""), hint))
    if bad > len(issues):
        more = bad - len(issues)
        issues.append(SpecIssue("log", f"{more} more bad row(s) not listed", omitted=more))
    if issues:
        raise SpecError(issues)
    return out


def window_count(requests: list[Request], interval_s: float, max_windows: int) -> int:
    """Analysis intervals the log spans from its first request; SpecError beyond the cap.

    The error names the row farthest from the log's median time (the likely bad value: a
    millisecond timestamp among seconds, a row from another day) and how to fix it.
    """
    times = sorted(r.timestamp for r in requests)
    start, end = times[0], times[-1]
    n_windows = max(1, math.floor((end - start) / interval_s + 0.5))
    if n_windows <= max_windows:
        return n_windows
    median = times[len(times) // 2]
    worst = max(requests, key=lambda r: abs(r.timestamp - median))
    where = f"log row {worst.row}" if worst.row else "log"
    raise SpecError(
        SpecIssue(
            where,
            f"timestamp {worst.timestamp:.15g} is {abs(worst.timestamp - median):.4g} s from "
            f"the log's median time {median:.15g}: the log would span {n_windows} analysis "
            f"intervals of {interval_s:g}s, more than the maximum {max_windows}",
            "timestamps are seconds on one clock (divide milliseconds by 1000); fix or drop "
            "that row, trim the log to the rollout, or raise --max-intervals (max_windows=)",
        )
    )


def _rows(log: Any) -> Iterable[Any]:
    """Records of a log given as records, a mapping of columns, or a DataFrame."""
    if hasattr(log, "to_dict") and not isinstance(log, Mapping):
        log = log.to_dict("records")
    if isinstance(log, Mapping):
        columns: dict[str, list[Any]] = {}
        for key, values in log.items():
            if isinstance(values, str | bytes) or not isinstance(values, Iterable):
                raise SpecError(SpecIssue(f"log column {key!r}", "is not a list of values", HINT))
            columns[str(key)] = list(values)
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            sizes = ", ".join(f"{k}={len(v)}" for k, v in columns.items())
            issue = SpecIssue("log", f"columns differ in length ({sizes})", "one value per row")
            raise SpecError(issue)
        n = lengths.pop() if lengths else 0
        return ({k: v[i] for k, v in columns.items()} for i in range(n))
    if isinstance(log, str | bytes) or not isinstance(log, Iterable):
        raise SpecError(
            SpecIssue(
                "log",
                f"{type(log).__name__} is not a request log",
                "give rows (dicts), a mapping of columns or a DataFrame",
            )
        )
    return iter(log)


def _request(row: Any, index: int) -> Request:
    if not isinstance(row, Mapping):
        raise BadValue(f"{type(row).__name__} is not a row", "give each row as a dict")
    for col in ("timestamp", "version", "status"):
        if col not in row or _blank(row[col]):
            raise BadValue(f"column {col!r} is missing")
    version = _VERSIONS.get(str(row["version"]).strip().lower())
    if version is None:
        raise BadValue(f"version {_show(row['version'])} is not champion or challenger")
    timestamp = _number(row, "timestamp")
    if not 0 <= timestamp <= MAX_TIMESTAMP_S:
        millis = timestamp > MAX_TIMESTAMP_S and timestamp / 1000 <= MAX_TIMESTAMP_S
        raise BadValue(
            f"timestamp {_show(row['timestamp'])} is outside 0-{MAX_TIMESTAMP_S:.0f} s"
            + (" (it looks like milliseconds)" if millis else ""),
            "timestamps are seconds (Unix time or from the log's start): divide milliseconds "
            "by 1000",
        )
    latency = math.nan
    if not _blank(row.get("latency_ms")):
        latency = _number(row, "latency_ms")
        if not 0 <= latency <= MAX_LATENCY_MS:
            raise BadValue(
                f"latency_ms {_show(row['latency_ms'])} is outside 0-{MAX_LATENCY_MS:.0f} ms",
                "give the request's latency in milliseconds (blank when unknown)",
            )
    status = _number(row, "status")
    if not (0 <= status <= MAX_STATUS and status == int(status)):
        raise BadValue(
            f"status {_show(row['status'])} is not an HTTP status code (0-{MAX_STATUS})",
            "give the response's HTTP status (>= 500 is an error; 0 for no response)",
        )
    return Request(
        timestamp,
        version,
        latency,
        int(status),
        _prediction(row.get("prediction")),
        None if _blank(row.get("request_id")) else str(row["request_id"]),
        index,
        _unit(row.get("unit")),
        _mirrored(row.get("mirrored"), version),
    )


_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _mirrored(raw: Any, version: Side) -> bool | None:
    """The ``mirrored`` flag (1/0, true/false, yes/no) or None when blank."""
    if _blank(raw):
        return None
    if isinstance(raw, str):
        flag = _FLAGS.get(raw.strip().lower())
    else:  # bool, int, float (numpy's too, from a DataFrame)
        try:
            number = float(raw)
        except (TypeError, ValueError):
            number = math.nan
        flag = {0.0: False, 1.0: True}.get(number)
    if flag is None:
        raise BadValue(
            f"mirrored {_show(raw)} is not 0 or 1",
            "give 1 on a challenger row that answered a mirror copy, 0 (or blank) otherwise",
        )
    if flag and version == "champion":
        raise BadValue(
            "mirrored is 1 on a champion row",
            "only the challenger answers mirror copies: give 0 (or blank) on champion rows",
        )
    return flag


def _unit(raw: Any) -> str | None:
    """A unit key (user or session id) or None when blank."""
    if _blank(raw):
        return None
    text = str(raw).strip()
    if len(text) > MAX_UNIT_CHARS:
        raise BadValue(
            f"unit {_show(raw)} is longer than {MAX_UNIT_CHARS} characters",
            "give the user or session id (or a hash of it), or leave it blank",
        )
    return text


def _prediction(raw: Any) -> float | str | None:
    """A score (finite number), a label, or None (blank or NaN: no prediction)."""
    if _blank(raw):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        return str(raw)
    if math.isnan(value):
        return None
    if math.isinf(value):
        raise BadValue(
            f"prediction {_show(raw)} is not a finite number",
            "give a finite score, a class label, or leave it blank",
        )
    return value


def _number(row: Mapping[str, Any], column: str) -> float:
    try:
        value = float(row[column])
    except (TypeError, ValueError, OverflowError):
        value = math.nan
    if not math.isfinite(value):
        raise BadValue(f"{column} {_show(row[column])} is not a finite number")
    return value


def _show(value: Any, limit: int = 40) -> str:
    """A cell for an error message, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )
