"""PromQL text: the queries behind the built-in SLIs and the custom-query template renderer.

Every built-in query is an instant query evaluated at the window's end over a range equal
to the window: requests, errors, predictions and latency buckets are the counters' exact
change over the window (:func:`delta_by`: whole numbers, adjacent windows tile), so the
numbers are the window's counts, not per-second rates: ratios (error rate, quantiles) are
then scale-free and throughput is the count divided by the window, as in the embedded
provider. :func:`count_by` (``increase()``, extrapolated) is left to the per-step rate
series.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from ..errors import PermanentProviderError

TEMPLATE_VARIABLES = ("namespace", "target", "name", "interval", "variables.<X>")
"""What a custom query may reference in ``{{ ... }}``."""
_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_UNITS = (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def duration(seconds: float) -> str:
    """A PromQL duration (integer units only: ``90s``, ``1m``, ``1500ms``), at least 1ms."""
    ms = max(1, round(seconds * 1000))
    for unit, size in _UNITS:
        if ms % size == 0:
            return f"{ms // size}{unit}"
    raise AssertionError("unreachable: every duration is a whole number of ms")  # pragma: no cover


def timestamp(seconds: float) -> str:
    """A Unix timestamp for the HTTP API's ``time``/``start``/``end`` parameters."""
    if not math.isfinite(seconds):
        raise PermanentProviderError(f"cannot query Prometheus at time {seconds!r}")
    return f"{seconds:.3f}"


def quote(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def selector(labels: Mapping[str, str]) -> str:
    """``{a="x",b="y"}`` from equality matchers."""
    return "{" + ",".join(f"{k}={quote(v)}" for k, v in labels.items()) + "}"


def matchers(items: Iterable[tuple[str, str, str]]) -> str:
    """``{a="x",b=~"y.*"}`` from ``(label, op, value)`` triples (ops ``=``, ``!=``, ``=~``,
    ``!~``; regexes are anchored by Prometheus)."""
    return "{" + ",".join(f"{k}{op}{quote(v)}" for k, op, v in items) + "}"


def with_label(expr: str, label: str, value: str) -> str:
    """``expr`` with ``label="value"`` set on every series (``label_replace``)."""
    return f'label_replace({expr}, {quote(label)}, {quote(value)}, "", "")'


def count_by(metric: str, labels: Mapping[str, str] | str, by: tuple[str, ...], window: str) -> str:
    """A counter's increase over ``window`` per group, counting series born in the window.

    Extrapolated to the window's edges (fractional; adjacent windows overlap), so only for
    per-step rates (the mann-whitney series); counts the analysis reads as requests use
    :func:`delta_by`.

    ``increase()`` alone misses a series' first value: a counter created at its first event
    (``status="503"`` the first time a 5xx happens) enters the window at 1, not 0, so its
    first events vanish. Series that did not exist a window ago (``offset``) are therefore
    counted by their last value (they started at 0); the others by ``increase()``, which
    handles counter resets::

        sum by (g) ((increase(m[w]) and m offset w) or (last_over_time(m[w]) unless m offset w))

    ``labels`` is a mapping of equality matchers or a ready selector (:func:`matchers`).
    """
    sel = f"{metric}{labels if isinstance(labels, str) else selector(labels)}"
    old = f"{sel} offset {window}"
    return (
        f"sum by ({', '.join(by)}) ((increase({sel}[{window}]) and {old}) "
        f"or (last_over_time({sel}[{window}]) unless {old}))"
    )


LOOKBACK = "5m"
"""How far back :func:`delta_by` looks for a counter's last sample at each window edge
(Prometheus' default lookback delta)."""


def delta_by(metric: str, labels: Mapping[str, str] | str, by: tuple[str, ...], window: str) -> str:
    """A counter's exact change over ``window`` per group: raw values, no extrapolation.

    Each series' last sample at or before the evaluation time minus its last sample at or
    before ``window`` earlier, so the result is a whole number of events and consecutive
    windows tile: every event is counted in exactly one window (one scrape interval late
    at most). ``increase()`` instead extrapolates to the window's edges (fractional counts;
    two adjacent windows can both count the same events), which the sequential tests must
    not read as requests. ``last_over_time(m[5m])`` rather than ``m``: a failed scrape
    writes staleness markers, and a series that looked absent at the start would count its
    lifetime total. Three cases per series::

        last = last_over_time(m[5m]); before = last_over_time(m[5m] offset w)
        sum by (g) (
            ((last - before) >= 0 unless resets(m[w]) > 0)                  # the change
          or ((last + clamp_min(max_over_time(m[w]) - before, 0)) and resets(m[w]) > 0)
          or last)                                                         # born, or reset

    A counter reset inside the window (a restart: the counter starts again from 0) counts
    the events up to its highest sample before the reset plus its value since, so no event
    is lost or counted twice when the restarted counter stays below its old peak; a series
    with no sample in the 5 minutes before the start (born in the window, such as
    ``status="503"`` at the first 5xx) or that went down at the window's first scrape
    counts its current value. Never negative.

    ``labels`` is a mapping of equality matchers or a ready selector (:func:`matchers`).
    """
    sel = f"{metric}{labels if isinstance(labels, str) else selector(labels)}"
    last = f"last_over_time({sel}[{LOOKBACK}])"
    before = f"last_over_time({sel}[{LOOKBACK}] offset {window})"
    reset = f"resets({sel}[{window}]) > 0"
    change = f"(({last} - {before}) >= 0 unless {reset})"
    restarted = f"(({last} + clamp_min(max_over_time({sel}[{window}]) - {before}, 0)) and {reset})"
    return f"sum by ({', '.join(by)}) ({change} or {restarted} or {last})"


def render(query: str, values: Mapping[str, str], variables: Mapping[str, str]) -> str:
    """Fill ``{{ name }}`` and ``{{ variables.X }}`` placeholders (Flagger's template syntax).

    An unknown name or a ``variables.X`` that ``templateVariables`` does not define raises
    :class:`PermanentProviderError` naming it: a typo must not reach Prometheus as text.
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("variables."):
            key = name.removeprefix("variables.")
            if key not in variables:
                known = ", ".join(sorted(variables)) or "none defined"
                raise PermanentProviderError(
                    f"query uses {{{{ {name} }}}} but templateVariables has no {key!r} "
                    f"(defined: {known}); add templateVariables: {{{key}: ...}}"
                )
            return variables[key]
        if name not in values:
            raise PermanentProviderError(
                f"query uses unknown template variable {{{{ {name} }}}}; "
                f"known: {', '.join(TEMPLATE_VARIABLES)}"
            )
        return values[name]

    return _PLACEHOLDER.sub(fill, query)


__all__ = [
    "TEMPLATE_VARIABLES",
    "count_by",
    "delta_by",
    "duration",
    "matchers",
    "quote",
    "render",
    "selector",
    "timestamp",
    "with_label",
]
