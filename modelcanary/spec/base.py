"""Shared building blocks of the spec: the frozen base model, durations and units.

Field names are snake_case in Python and camelCase in YAML (``step_weights`` <->
``stepWeights``), exactly as in Flagger's Canary resource, so a Flagger user reads a
ModelRollout without a dictionary.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema
from pydantic.alias_generators import to_camel

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"


class Model(BaseModel):
    """Base of every spec model: frozen, camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=False,
        use_attribute_docstrings=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The resource as plain data with YAML field names, omitting unset/None fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse_duration(text: str) -> float:
    """Parse a Go-style duration (``30s``, ``1m30s``, ``500ms``, ``2h``) into seconds.

    Raises ``ValueError`` with the accepted forms when the text is not a duration.
    """
    value = text.strip() if isinstance(text, str) else text
    if not isinstance(value, str) or not value or _DURATION_PART.sub("", value) != "":
        raise ValueError(
            f"{text!r} is not a duration; use a number with a unit, e.g. '30s', '1m', "
            "'1m30s', '500ms' or '2h'"
        )
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))


def format_duration(seconds: float) -> str:
    """Inverse of :func:`parse_duration` for whole seconds/minutes (``90`` -> ``'90s'``)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def _check_duration(value: str) -> str:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return value


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]
"""A duration string such as ``30s`` or ``1m``; kept as written so YAML round-trips."""


def parse_percent_or_fraction(value: float | str) -> float:
    """Turn ``"1%"`` into ``0.01`` and ``0.01`` into ``0.01`` (fractions stay fractions)."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            return float(text[:-1]) / 100.0
        return float(text)
    return float(value)


def parse_milliseconds(value: float | str) -> float:
    """Turn ``"250ms"``/``"1.5s"``/``250`` into milliseconds (plain numbers are ms)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            return parse_duration(text) * 1000.0
    return float(value)
