"""Shared building blocks of the spec: the frozen base model, durations and units.

Field names are snake_case in Python and camelCase in YAML (``step_weights`` <->
``stepWeights``), exactly as in Flagger's Canary resource, so a Flagger user reads a
ModelRollout without a dictionary.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from ._fielddocs import add_descriptions

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
MAX_DURATION_SECONDS = 30 * 24 * 3600
"""Longest duration a spec may give (720h, 30 days): longer ones overflow timers and clocks."""
MAX_INT32 = 2**31 - 1
"""Largest count Kubernetes stores in an integer field (replicas and the like)."""


class Model(BaseModel):
    """Base of every spec model: frozen, camelCase aliases, unknown fields rejected.

    Built lazily (``defer_build``): a model's validator is made on its first use, not when
    ``modelcanary.spec`` is imported. Field descriptions come from the attribute docstrings,
    read only when a JSON schema is made (see :mod:`modelcanary.spec._fielddocs`).
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=False,
        defer_build=True,
    )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler, /
    ) -> JsonSchemaValue:
        json_schema = handler(core_schema)
        add_descriptions(cls, handler.resolve_ref_schema(json_schema))
        return json_schema

    def to_dict(self) -> dict[str, Any]:
        """The resource as plain data with YAML field names, omitting unset/None fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SpecModel(Model):
    """Base of the models a rollout author writes (not the status the runtime writes).

    On top of :class:`Model`: strings are never empty (unless a field says so with
    :data:`MaybeEmpty`), numbers are finite (no ``.nan``/``.inf``), and strings hold no control
    characters (CR, LF, NUL, ESC...) except in the fields named in ``multiline_fields``, where
    tab and line breaks are allowed: these values reach logs, headers and objects verbatim.
    """

    model_config = ConfigDict(str_min_length=1, allow_inf_nan=False)
    multiline_fields: ClassVar[frozenset[str]] = frozenset()
    """Fields whose text may span lines (queries, scripts): tab, CR and LF are allowed there."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        allowed = "\t\r\n" if info.field_name in cls.multiline_fields else ""
        check_text(value, allowed)
        return value


def check_text(value: Any, allowed: str = "") -> None:
    """Raise ``ValueError`` when a string in ``value`` (or in a list/dict of strings) holds a
    control character other than those in ``allowed``."""
    if isinstance(value, str):
        if value.isprintable():  # fast path: no control, format or separator characters
            return
        for i, char in enumerate(value):
            if char not in allowed and unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
                raise ValueError(
                    f"has a control character ({char!r}) at position {i}; remove it (line "
                    "breaks, tabs and other control characters are not allowed in this field)"
                )
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key)
            check_text(item, allowed)
    elif isinstance(value, list | tuple):
        for item in value:
            check_text(item, allowed)


def parse_duration(text: str) -> float:
    """Parse a Go-style duration (``30s``, ``1m30s``, ``500ms``, ``2h``) into seconds.

    Raises ``ValueError`` with the accepted forms when the text is not a duration, and when
    it is longer than :data:`MAX_DURATION_SECONDS` (720h): such values overflow timers later.
    """
    value = text.strip() if isinstance(text, str) else text
    if not isinstance(value, str) or not value or _DURATION_PART.sub("", value) != "":
        raise ValueError(
            f"{short_repr(text)} is not a duration; use a number with a unit, e.g. '30s', '1m', "
            "'1m30s', '500ms' or '2h'"
        )
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
    if not math.isfinite(seconds) or seconds > MAX_DURATION_SECONDS:
        raise ValueError(
            f"{short_repr(text)} is longer than the maximum of 720h (30 days); "
            "give a shorter duration"
        )
    return seconds


def format_path(loc: tuple[int | str, ...]) -> str:
    """``('spec', 'analysis', 'stepWeights', 2)`` -> ``spec.analysis.stepWeights[2]``.

    A key with control characters or of more than 60 characters is shown quoted and cut
    (``headers['x\\r\\nX-Evil: 1']``): the path is printed, so it must not inject lines.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).isprintable() or len(str(part)) > 60:
            out += f"[{short_repr(str(part))}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters for messages (inputs can be huge)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


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
"""A duration string such as ``30s`` or ``1m`` (at most 720h); kept as written so YAML
round-trips."""

MaybeEmpty = Annotated[str, StringConstraints(min_length=0)]

Severity = Literal["info", "warn", "error"]
"""How serious a notification is; an alert receives its own severity and above (Flagger's rule)."""
"""A string that may be empty in a :class:`SpecModel` (label and environment values...)."""


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
