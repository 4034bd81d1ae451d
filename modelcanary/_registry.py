"""``Registry[T]``: the name -> plug-in table of one family (metric providers, notifiers, routers).

Every family used to write its own dict, lookup function and "unknown name" error; this is the
one shape they share. A registry is a read-only ``Mapping[str, T]`` (``name in registry``,
``sorted(registry)``, ``registry[name]``) filled with :meth:`Registry.add` and
:meth:`Registry.add_lazy`; :meth:`Registry.lookup` is the user-facing lookup: an unknown name is
a :class:`SpecError` at the spec field that named it, listing the known names (DESIGN.md: never
a silent fallback).

Lazy entries name a module of the family's package and an attribute in it (``factory``): the
module is imported on the first lookup of that name, so optional clients (boto3...) stay out of
``import modelcanary`` until a spec asks for them. Iterating names imports nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TypeVar, cast

from .errors import SpecError, SpecIssue

T = TypeVar("T")


class Registry(Mapping[str, T]):
    """Plug-ins of one family by name: ``what`` names the family in error messages."""

    def __init__(
        self,
        what: str,
        entries: Mapping[str, T] | None = None,
        *,
        package: str = "",
        attribute: str = "factory",
    ) -> None:
        self.what = what
        self.package = package
        self.attribute = attribute
        self._loaded: dict[str, T] = dict(entries or {})
        self._lazy: dict[str, str] = {}

    def add(self, name: str, value: T) -> None:
        """Register ``value`` as ``name`` (a second registration of a name is a bug)."""
        self._check_new(name)
        self._loaded[name] = value

    def add_lazy(self, name: str, module: str) -> None:
        """Register ``name`` as ``<package>.<module>.<attribute>``, imported on first lookup."""
        self._check_new(name)
        self._lazy[name] = module

    def _check_new(self, name: str) -> None:
        if name in self:
            raise ValueError(f"{self.what} {name!r} is registered twice")

    def __getitem__(self, name: str) -> T:
        if name in self._loaded:
            return self._loaded[name]
        module = self._lazy[name]  # KeyError for an unknown name, as a Mapping does
        value = cast(
            T, getattr(importlib.import_module(f"{self.package}.{module}"), self.attribute)
        )
        self._loaded[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter([*self._loaded, *(n for n in self._lazy if n not in self._loaded)])

    def __len__(self) -> int:
        return len(self._loaded.keys() | self._lazy.keys())

    def known(self) -> str:
        """The registered names, sorted, comma separated (for error hints)."""
        return ", ".join(sorted(self))

    def lookup(self, name: str, *, path: str = "type", message: str = "", hint: str = "") -> T:
        """The entry ``name``; an unknown one is a :class:`SpecError` at ``path`` whose hint
        lists the known names (``message`` and ``hint`` replace the default wording)."""
        if name not in self:
            raise self.unknown(name, path=path, message=message, hint=hint)
        return self[name]

    def unknown(
        self, name: str, *, path: str = "type", message: str = "", hint: str = ""
    ) -> SpecError:
        """The :class:`SpecError` for an unknown ``name`` (to raise where it is found)."""
        return SpecError(
            SpecIssue(
                path,
                message or f"unknown {self.what} {name!r}",
                hint or f"use one of: {self.known()}",
            )
        )


__all__ = ["Registry"]
