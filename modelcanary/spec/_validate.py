"""Turn user data (YAML text or dicts) into a ModelRollout, or a SpecError saying how to fix it."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import SpecError, SpecIssue
from ._base import format_path as format_path  # (re-exported: the builder reports with it)
from ._base import short_repr
from ._loader import load_yaml_documents
from ._rollout import API_VERSION, KIND, ModelRollout

MAX_ISSUES = 50
"""Problems listed in one SpecError; the rest are counted in a last line (a file with 100k
unknown keys must not take a minute and a megabyte of output to explain)."""


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class a (cleaned) location under ``root`` points into, if it is one."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        current = field.annotation
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """Strip Optional/Annotated/list/dict wrappers down to the item type."""
    while True:
        tp = _strip_optional(tp)
        origin = typing.get_origin(tp)
        if origin in (list, tuple):
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return tp


def _clean_loc(root: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop pydantic's union-member tags (``'int'``, ``'str'``) from a loc, walking the types.

    Only a position whose declared type is a union can carry a tag, so user keys that happen
    to be named ``bool`` or ``str`` are kept.
    """
    out: list[int | str] = []
    current: Any = root
    for part in loc:
        tp = _strip_optional(current)
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType) and isinstance(part, str):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            current = next((m for m in members if getattr(m, "__name__", "") == part), Any)
            continue  # a union tag, not a field
        out.append(part)
        if isinstance(part, int):
            current = typing.get_args(tp)[0] if origin in (list, tuple) else Any
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items() if part in (n, f.alias)), None)
            current = field.annotation if field is not None else Any
        elif origin is dict:
            current = typing.get_args(tp)[1]
        else:
            current = Any
    return tuple(out)


def _strip_optional(tp: Any) -> Any:
    """``X | None`` -> ``X`` and ``Annotated[X, ...]`` -> ``X`` (repeatedly)."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def issues_from_validation(
    exc: ValidationError,
    prefix: tuple[int | str, ...] = (),
    root: type[BaseModel] = ModelRollout,
) -> list[SpecIssue]:
    """One SpecIssue per pydantic error, with a path, a plain message and a fix hint.

    ``root`` is the model that was validated and ``prefix`` its path in the resource (the
    builder validates fragments such as a MetricSpec at ``spec.analysis.metrics[0]``).
    """
    issues: list[SpecIssue] = []
    seen: set[tuple[str, str]] = set()
    errors = exc.errors(include_url=False, include_context=True, include_input=True)
    for done, err in enumerate(errors):
        if len(issues) >= MAX_ISSUES:
            issues.append(_more(len(errors) - done))
            break
        raw_loc = tuple(err["loc"])
        if raw_loc and raw_loc[-1] == "[key]":  # a bad mapping key: report it at the key
            raw_loc = raw_loc[:-1]
        rel = _clean_loc(root, raw_loc)
        loc = prefix + rel
        kind = err["type"]
        msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        hint = ""
        if kind == "extra_forbidden":
            name = str(loc[-1])[:200] if loc else ""
            model = _model_at(root, rel[:-1])
            known = sorted(f.alias or n for n, f in model.model_fields.items()) if model else []
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
            msg = f"unknown field {short_repr(name)}"
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else (f"remove it; known fields: {', '.join(known)}" if known else "remove it")
            )
        elif kind == "missing":
            msg = "is required"
            hint = "add this field"
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            options = [o.strip(" '") for o in str(expected).replace(" or ", ",").split(",")]
            given = err.get("input")
            close = (
                difflib.get_close_matches(given, options, n=1, cutoff=0.5)
                if isinstance(given, str) and len(given) <= 100
                else []
            )
            msg = f"{short_repr(given)} is not allowed"
            allowed = ", ".join(options)
            hint = (
                f"did you mean {close[0]!r}? (use one of {allowed})"
                if close
                else (f"use one of {allowed}")
            )
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            given = err.get("input")
            hint = (
                "write it without quotes: a quoted value is text"
                if isinstance(given, str) and kind in ("int_type", "float_type", "bool_type")
                else f"check the value's type (got {_type_name(given)})"
            )
        elif kind in ("less_than_equal", "less_than", "too_long"):
            hint = "stay within the bound (docs/spec.md lists every upper bound and why)"
        elif kind == "value_error" and "; " in msg:  # our validators write "problem; fix"
            msg, hint = msg.split("; ", 1)
        key = (format_path(loc), msg)
        if key not in seen:
            seen.add(key)
            issues.append(SpecIssue(format_path(loc), msg, hint))
    return issues


def cap_issues(issues: list[SpecIssue]) -> list[SpecIssue]:
    """The first MAX_ISSUES issues, plus one line counting the others."""
    if len(issues) <= MAX_ISSUES:
        return issues
    return [*issues[:MAX_ISSUES], _more(len(issues) - MAX_ISSUES)]


def _more(count: int) -> SpecIssue:
    return SpecIssue(
        "",
        f"... and {count:,} more problem(s)",
        "fix the ones above and validate again",
        omitted=count,
    )


def _type_name(value: Any) -> str:
    names = {str: "text", bool: "true/false", int: "a whole number", float: "a number"}
    names |= {dict: "a mapping", list: "a list", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def parse_rollout(data: Any, *, source: str = "") -> ModelRollout:
    """Validate one ModelRollout document (a mapping); raise SpecError with every problem."""
    if not isinstance(data, Mapping):
        raise SpecError(
            SpecIssue(
                "",
                f"expected a mapping (a YAML object), got {type(data).__name__}",
                "start the document with apiVersion/kind/metadata/spec",
            ),
            source=source,
        )
    issues: list[SpecIssue] = []
    if data.get("apiVersion") not in (None, API_VERSION):
        issues.append(
            SpecIssue(
                "apiVersion",
                f"{short_repr(data.get('apiVersion'))} is not {API_VERSION!r}",
                f"set apiVersion: {API_VERSION}"
                + (
                    " or convert it with `modelcanary convert --from flagger`"
                    if str(data.get("apiVersion", "")).startswith("flagger")
                    else ""
                ),
            )
        )
    if data.get("kind") not in (None, KIND):
        issues.append(
            SpecIssue(
                "kind", f"{short_repr(data.get('kind'))} is not {KIND!r}", f"set kind: {KIND}"
            )
        )
    if issues:
        raise SpecError(issues, source=source)
    try:
        # strict: data is YAML/JSON, so "3" for an integer or "yes" for a boolean is a mistake
        # the Kubernetes API server would refuse too; accept only what the CRD accepts
        return ModelRollout.model_validate(dict(data), strict=True)
    except ValidationError as exc:
        raise SpecError(issues_from_validation(exc), source=source) from None
    except SpecError as exc:
        raise SpecError(cap_issues(exc.issues), source=source) from None


def load_documents(text: str, *, source: str = "") -> list[Any]:
    """Parse YAML (or JSON) text into documents; a syntax error, a duplicate key or a document
    over the size limits (:mod:`.loader`) is a SpecError with the line or path."""
    docs = load_yaml_documents(text, source=source)
    if not docs:
        raise SpecError(
            SpecIssue("", "no document found", "give a ModelRollout in YAML"), source=source
        )
    return docs


def parse_rollout_yaml(text: str, *, source: str = "") -> ModelRollout:
    """Parse a YAML text holding exactly one ModelRollout."""
    docs = load_documents(text, source=source)
    if len(docs) > 1:
        docs = [d for d in docs if isinstance(d, Mapping) and d.get("kind") == KIND]
    if len(docs) != 1:
        raise SpecError(
            SpecIssue(
                "",
                f"expected one ModelRollout, found {len(docs)} documents",
                "keep one ModelRollout per file",
            ),
            source=source,
        )
    return parse_rollout(docs[0], source=source)


def to_yaml(rollout: ModelRollout) -> str:
    """Serialise a rollout to YAML (field order as declared, unset fields omitted)."""
    data = rollout.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    data = {"apiVersion": rollout.api_version, "kind": rollout.kind, **data}
    data["spec"].setdefault("analysis", {})
    import yaml  # lazy: importing the spec does not load PyYAML

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
