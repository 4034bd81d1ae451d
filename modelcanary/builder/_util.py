"""Small helpers shared by the builder: validate a spec fragment, raise a SpecError, merge partials.

The builder validates each fragment (a model version, a webhook, a plan) as soon as it is
given, so a mistake is reported at the call that made it, with the field path it will have
in the resource (``spec.champion.modelUri``). Cross-field rules run once, in ``build()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from modelcanary.errors import SpecError, SpecIssue
from modelcanary.spec._validate import issues_from_validation

M = TypeVar("M", bound=BaseModel)
Path = tuple[str | int, ...]


def fail(path: str, message: str, hint: str = "") -> NoReturn:
    """Raise a one-issue SpecError."""
    raise SpecError(SpecIssue(path, message, hint))


def validated(cls: type[M], data: Any, path: Path) -> M:
    """``cls.model_validate(data)``, turning pydantic errors into a SpecError under ``path``."""
    if isinstance(data, cls):
        return data
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise SpecError(issues_from_validation(exc, path, root=cls)) from None


def set_fields(model: BaseModel) -> dict[str, Any]:
    """The fields a partial model was given explicitly, keyed by their YAML (alias) names."""
    fields = type(model).model_fields
    return {fields[n].alias or n: getattr(model, n) for n in model.model_fields_set}


def merged(model: M, updates: Mapping[str, Any], path: Path) -> M:
    """A new partial model: ``model``'s explicit fields overlaid with ``updates`` (alias keys).

    ``None`` in ``updates`` means "not given": the earlier value is kept.
    """
    data = set_fields(model) | {k: v for k, v in updates.items() if v is not None}
    return validated(type(model), data, path)


def as_list(value: Any, path: str, example: str) -> list[Any]:
    """Accept any iterable but a string or mapping as a list (else a SpecError)."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        fail(path, f"expected a list, got {type(value).__name__}", f"pass a list, e.g. {example}")
    return list(value)


def drop_none(**values: Any) -> dict[str, Any]:
    """Keyword arguments without the ones left at ``None``."""
    return {k: v for k, v in values.items() if v is not None}
