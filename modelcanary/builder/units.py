"""Units of SLI thresholds: what a user writes (``"1%"``, ``"250ms"``, ``"+10%"``) -> spec numbers.

The units are fixed so a number in a spec always means the same thing:

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
"""

from __future__ import annotations

import math
from typing import Literal

from modelcanary.spec.base import parse_milliseconds, parse_percent_or_fraction

from ._util import fail

Unit = Literal["fraction", "percent", "ms", "rps", "raw"]
UNITS: tuple[str, ...] = ("fraction", "percent", "ms", "rps", "raw")
Number = float | int | str

METRIC_UNITS: dict[str, Unit] = {
    "error-rate": "fraction",
    "prediction-agreement": "fraction",
    "request-success-rate": "percent",
    "request-duration": "ms",
    "latency-p50": "ms",
    "latency-p90": "ms",
    "latency-p95": "ms",
    "latency-p99": "ms",
    "throughput": "rps",
    "prediction-drift": "raw",
}
"""Unit of each built-in SLI (custom queries default to ``raw``)."""

_SUFFIXES = {"percent": "%", "rps": "rps"}
_EXAMPLES: dict[str, str] = {
    "fraction": "'1%' or 0.01",
    "percent": "'99%' or 99",
    "ms": "'250ms', '1.5s' or 250",
    "rps": "100 or '100rps'",
    "raw": "a number such as 0.2",
}


def _finite(value: float | None, path: str, text: object, hint: str, what: str) -> float:
    """``value`` if it is a finite number, else a SpecError (unreadable, inf or nan)."""
    if value is None:
        fail(path, f"{text!r} is not a valid {what}", hint)
    if not math.isfinite(value):
        fail(path, f"{text!r} is not a finite number", hint)
    return value


def _read(value: float | int | str, unit: Unit) -> float | None:
    """The number in ``value`` read in ``unit``; None when it cannot be read."""
    try:
        if unit == "fraction":
            return parse_percent_or_fraction(value)
        if unit == "ms":
            return parse_milliseconds(value)
        if isinstance(value, str):
            value = value.strip().removesuffix(_SUFFIXES.get(unit, "")).strip()
        return float(value)
    except (ValueError, OverflowError):
        return None


def to_number(value: object, unit: Unit, path: str) -> float:
    """Convert a threshold written in ``unit`` to the spec's number; SpecError when unreadable."""
    hint = f"write it as {_EXAMPLES[unit]}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        fail(path, f"{value!r} is not a number or a string with a unit", hint)
    number = _finite(_read(value, unit), path, value, hint, f"{unit} value")
    if number < 0 and unit != "raw":
        fail(path, f"{value!r} is negative", f"{unit} thresholds are >= 0; {hint}")
    return number


def to_ratio(value: object, path: str) -> float:
    """A challenger/champion ratio: ``1.1`` or a signed percent change ``"+10%"`` -> 1.1."""
    hint = "write a ratio such as 1.1, or a signed change such as '+10%' (= 1.1) or '-5%'"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        fail(path, f"{value!r} is not a ratio", hint)
    text = value.strip() if isinstance(value, str) else value
    change = isinstance(text, str) and text.endswith("%")
    if change and not str(text).startswith(("+", "-")):
        fail(path, f"{value!r} is ambiguous for a ratio", hint)
    read = _read(str(text)[:-1] if change else text, "raw")
    number = _finite(
        None if read is None else (1.0 + read / 100.0 if change else read),
        path,
        value,
        hint,
        "ratio",
    )
    if number < 0:
        fail(path, f"{value!r} gives a negative ratio ({number:g})", hint)
    return number


def to_difference(value: object, unit: Unit, path: str) -> float:
    """A challenger-minus-champion difference in the SLI's unit (a leading sign is allowed)."""
    if isinstance(value, str) and value.strip().startswith("-"):
        return -to_number(value.strip()[1:], unit, path)
    if isinstance(value, str):
        return to_number(value.strip().removeprefix("+"), unit, path)
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return -to_number(-value, unit, path)
    return to_number(value, unit, path)


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
