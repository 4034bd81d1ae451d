"""Field descriptions from attribute docstrings, read only when a schema or the docs need them.

A spec model documents each field with a string right below it::

    interval: Duration = "1m"
    \"\"\"Time between two analysis runs.\"\"\"

pydantic's ``use_attribute_docstrings`` reads those strings while each class is created, by
finding and parsing the class's source: about 30 ms for the spec's models on Python 3.11, a
fifth of ``import modelcanary.spec``, paid by every process although only the CRD generator
and the field reference ever show them. Here the same strings are read on demand instead (the
JSON-schema hook of :class:`~modelcanary.spec._base.Model` and ``spec/_reference.py``), with
pydantic's rules: an explicit ``Field(description=...)`` wins, and a field takes the docstring
written in the class that declares it (a subclass re-declaring a field documents it anew).
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from typing import Any

from pydantic import BaseModel


@functools.cache
def class_attribute_docs(cls: type[Any]) -> dict[str, str]:
    """``{attribute: docstring}`` of the annotated attributes written in ``cls`` itself."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (interactive, frozen): no descriptions
        return {}
    node = ast.parse(source).body[0]
    if not isinstance(node, ast.ClassDef):  # pragma: no cover - getsource returns the class
        return {}
    docs: dict[str, str] = {}
    for first, second in zip(node.body, node.body[1:], strict=False):
        if (
            isinstance(first, ast.AnnAssign)
            and isinstance(first.target, ast.Name)
            and isinstance(second, ast.Expr)
            and isinstance(second.value, ast.Constant)
            and isinstance(second.value.value, str)
        ):
            docs[first.target.id] = inspect.cleandoc(second.value.value)
    return docs


def field_description(model: type[BaseModel], name: str) -> str | None:
    """The description of field ``name`` of ``model``: explicit, else its attribute docstring."""
    explicit = model.model_fields[name].description
    if explicit is not None:
        return explicit
    for cls in model.__mro__:
        if name in inspect.get_annotations(cls):
            return class_attribute_docs(cls).get(name)
    return None


def add_descriptions(model: type[BaseModel], json_schema: dict[str, Any]) -> None:
    """Fill the ``description`` of each property of ``model``'s JSON schema (in place)."""
    properties = json_schema.get("properties")
    if not isinstance(properties, dict):
        return
    for name, field in model.model_fields.items():
        key = field.alias if field.alias in properties else name
        prop = properties.get(key)
        if isinstance(prop, dict) and "description" not in prop:
            text = field_description(model, name)
            if text is not None:
                prop["description"] = text
