"""Generate the field reference of docs/spec.md from the models (so the docs cannot drift)."""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from pydantic import BaseModel

from ._fielddocs import field_description
from ._rollout import ModelRollout

BEGIN = "<!-- BEGIN GENERATED REFERENCE (modelcanary.spec._reference) -->"
END = "<!-- END GENERATED REFERENCE -->"


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin is typing.Annotated:
        return (
            "duration" if "Duration" in repr(tp) or "pattern" in repr(tp) else _type_name(args[0])
        )
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(tp))
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[1])}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"[{tp.__name__}](#{tp.__name__.lower()})"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):  # a StrEnum (Phase): its values
        return " \\| ".join(f"`{member.value}`" for member in tp)
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, "any")


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    stack = [root]
    while stack:
        model = stack.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            stack += [
                t
                for t in _flatten(field.annotation)
                if isinstance(t, type) and issubclass(t, BaseModel)
            ]
    return seen


def _flatten(tp: Any) -> list[Any]:
    args = typing.get_args(tp)
    return [tp] if not args else [x for a in args for x in _flatten(a)]


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        return ""
    return (
        ""
        if field.default is None
        else f"`{field.default}`".replace("True", "true").replace("False", "false")
    )


def reference_markdown() -> str:
    """Markdown tables: one section per model, one row per field (name, type, default, meaning)."""
    lines = [BEGIN, ""]
    for model in _models(ModelRollout):
        lines += [
            f"### {model.__name__}",
            "",
            (model.__doc__ or "").strip().splitlines()[0],
            "",
            "| field | type | default | description |",
            "|---|---|---|---|",
        ]
        for name, field in model.model_fields.items():
            desc = (field_description(model, name) or "").replace("\n", " ").replace("|", "\\|")
            desc = desc.replace("``", "`")
            kind = _type_name(field.annotation)
            if any("_check_duration" in repr(m) for m in field.metadata):
                kind = "duration"  # pydantic moves a bare Annotated's metadata onto the field
            lines.append(f"| `{field.alias or name}` | {kind} | {_default(field)} | {desc} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)
