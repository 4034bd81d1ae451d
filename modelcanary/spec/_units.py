"""Units of SLI thresholds: read what a user writes (``"1%"``, ``"250ms"``, ``"+10%"``), show it.

The units are fixed so a number in a spec always means the same thing. The same readers serve
the SDK (``mc.sli.error_rate() < "1%"``) and the YAML (``thresholdRange: {max: "1%"}``), so
both accept the same strings; the spec stores the canonical number.

=============================  ==========  =======================================
SLI                            unit        accepted input
=============================  ==========  =======================================
error-rate, prediction-agree.  fraction    ``"1%"`` -> 0.01, ``0.01`` -> 0.01
request-success-rate           percent     ``"99%"`` -> 99, ``99`` -> 99
request-duration, latency-pNN  ms          ``"250ms"``, ``"1.5s"`` -> 1500, ``250``
throughput                     rps         ``100``, ``"100rps"``
prediction-drift, custom       raw         plain numbers
relative to champion (ratio)   ratio       ``1.1``, ``"+10%"`` -> 1.1, ``"-5%"`` -> 0.95
=============================  ==========  =======================================

Pure functions; a value that cannot be read raises :class:`UnitError` (a ``ValueError`` whose
text is ``"problem; fix"``, the form the spec's error translation splits into message and hint).
"""

from __future__ import annotations

import math
from typing import Literal

from ._base import parse_milliseconds, parse_percent_or_fraction

Unit = Literal["fraction", "percent", "ms", "rps", "raw"]
UNITS: tuple[Unit, ...] = ("fraction", "percent", "ms", "rps", "raw")
Number = float | int | str

EXAMPLES: dict[str, str] = {
    "fraction": "'1%' or 0.01",
    "percent": "'99%' or 99",
    "ms": "'250ms', '1.5s' or 250",
    "rps": "100 or '100rps'",
    "raw": "a number such as 0.2",
}
"""How to write a value in each unit (used in fix hints)."""
REASON_SUFFIX: dict[str, str] = {"percent": " %", "ms": " ms", "rps": " rps"}
"""Suffix of a value in the analysis' reason lines (fractions and raw values have none)."""

_SUFFIXES = {"percent": "%", "rps": "rps"}


class UnitError(ValueError):
    """A threshold that cannot be read in its unit: ``message`` and a ``hint`` to fix it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(f"{message}; {hint}")
        self.message = message
        self.hint = hint


def _read(value: float | int | str, unit: Unit) -> float | None:
    """The number in ``value`` read in ``unit``; None when it cannot be read."""
    try:
        if isinstance(value, str):
            if unit == "fraction":
                return parse_percent_or_fraction(value)
            if unit == "ms":
                return parse_milliseconds(value)
            value = value.strip().removesuffix(_SUFFIXES.get(unit, "")).strip()
        return float(value)
    except (ValueError, OverflowError):
        return None


def _finite(value: float | None, text: object, hint: str, what: str) -> float:
    if value is None:
        raise UnitError(f"{text!r} is not a valid {what}", hint)
    if not math.isfinite(value):
        raise UnitError(f"{text!r} is not a finite number", hint)
    return value


def number(value: object, unit: Unit) -> float:
    """A threshold written in ``unit`` as the spec's number (UnitError when unreadable)."""
    hint = f"write it as {EXAMPLES[unit]}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UnitError(f"{value!r} is not a number or a string with a unit", hint)
    result = _finite(_read(value, unit), value, hint, f"{unit} value")
    if result < 0 and unit != "raw":
        raise UnitError(f"{value!r} is negative", f"{unit} thresholds are >= 0; {hint}")
    return result


def ratio(value: object) -> float:
    """A challenger/champion ratio: ``1.1`` or a signed percent change ``"+10%"`` -> 1.1."""
    hint = "write a ratio such as 1.1, or a signed change such as '+10%' (= 1.1) or '-5%'"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UnitError(f"{value!r} is not a ratio", hint)
    text = value.strip() if isinstance(value, str) else value
    change = isinstance(text, str) and text.endswith("%")
    if change and not str(text).startswith(("+", "-")):
        raise UnitError(f"{value!r} is ambiguous for a ratio", hint)
    read = _read(str(text)[:-1] if change else text, "raw")
    result = _finite(
        None if read is None else (1.0 + read / 100.0 if change else read), value, hint, "ratio"
    )
    if result < 0:
        raise UnitError(f"{value!r} gives a negative ratio ({result:g})", hint)
    return result


def difference(value: object, unit: Unit) -> float:
    """A challenger-minus-champion difference in the SLI's unit (a leading sign is allowed)."""
    if isinstance(value, str) and value.strip().startswith("-"):
        return -number(value.strip()[1:], unit)
    if isinstance(value, str):
        return number(value.strip().removeprefix("+"), unit)
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return -number(-value, unit)
    return number(value, unit)


def bound(value: object, unit: Unit, relative: bool, comparison: str | None) -> float:
    """One ``thresholdRange`` bound of a metric: absolute, a ratio or a difference."""
    if not relative:
        return number(value, unit)
    if comparison == "difference":
        return difference(value, unit)
    return ratio(value)


def show(value: float, unit: str) -> str:
    """Format a spec number in its unit for people: 0.01 fraction -> ``1%``, 250 ms -> ``250ms``."""
    if unit == "fraction":
        return f"{value * 100:g}%"
    if unit == "percent":
        return f"{value:g}%"
    if unit == "ms":
        return f"{value:g}ms"
    if unit == "rps":
        return f"{value:g} rps"
    if unit == "ratio":
        return f"{value:g}x"
    return f"{value:g}"
