"""Units of SLI thresholds in the builder: the spec's readers, raising a SpecError at a path.

The readers and the table of units live in :mod:`modelcanary.spec._units` (shared with the YAML,
which accepts the same strings) and each built-in SLI's unit in the catalogue
(:mod:`modelcanary.spec._catalogue`); this module only turns a :class:`UnitError` into a
one-issue SpecError naming the builder's path (``error-rate.thresholdRange.max``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from modelcanary.spec._catalogue import CATALOGUE
from modelcanary.spec._units import UNITS, Number, Unit, UnitError, difference, number, ratio, show

from ._util import fail

METRIC_UNITS: Mapping[str, Unit] = MappingProxyType({n: f.unit for n, f in CATALOGUE.items()})
"""Unit of each built-in SLI (custom queries default to ``raw``), from the catalogue."""


def to_number(value: object, unit: Unit, path: str) -> float:
    """Convert a threshold written in ``unit`` to the spec's number; SpecError when unreadable."""
    try:
        return number(value, unit)
    except UnitError as exc:
        fail(path, exc.message, exc.hint)


def to_ratio(value: object, path: str) -> float:
    """A challenger/champion ratio: ``1.1`` or a signed percent change ``"+10%"`` -> 1.1."""
    try:
        return ratio(value)
    except UnitError as exc:
        fail(path, exc.message, exc.hint)


def to_difference(value: object, unit: Unit, path: str) -> float:
    """A challenger-minus-champion difference in the SLI's unit (a leading sign is allowed)."""
    try:
        return difference(value, unit)
    except UnitError as exc:
        fail(path, exc.message, exc.hint)


__all__ = [
    "METRIC_UNITS",
    "UNITS",
    "Number",
    "Unit",
    "show",
    "to_difference",
    "to_number",
    "to_ratio",
]
