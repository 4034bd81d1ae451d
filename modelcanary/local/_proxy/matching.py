"""A/B request matching for the local router: ``MatchCondition`` compiled to predicates.

A request matches a condition when every part matches (headers, cookies, query parameters,
JSON body fields); it goes to the challenger when it matches any condition. A missing value
never matches. String matches: ``exact``, ``prefix``, ``suffix``, or ``regex`` (a full match,
as in Istio and Envoy, with RE2: linear time in the value, so no client value can stall the
router's event loop, ``spec.patterns``). Only the parts a condition uses are decoded, each at
most once.

Body paths (``body: {inputs.country: {exact: FR}}``) are dotted paths into the JSON body:

* a dict segment is a key; on an MLflow ``dataframe_split`` object (``columns`` + ``data``) a
  column name also selects that column in the first row;
* an integer segment indexes a list; any other segment on a list applies to its first element
  (the first row), so ``dataframe_records.country`` means ``dataframe_records.0.country``;
* a value that is still a list at the end of the path is replaced by its first element
  (``{"inputs": {"country": ["FR"]}}`` gives ``FR``);
* when the path does not resolve from the root, it is tried again inside the MLflow/KServe
  envelopes ``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs`` (in that
  order), so a bare column name such as ``country`` works for every MLflow payload shape;
* strings compare as they are; numbers and booleans compare as their JSON text (``3``,
  ``0.5``, ``true``); ``null``, objects and empty lists never match.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from ...spec._analysis import MatchCondition, StringMatch
from ...spec._patterns import full_match

ENVELOPES = ("dataframe_split", "dataframe_records", "instances", "inputs")
_MISSING: Any = object()

Predicate = Callable[[str], bool]


class RequestView:
    """The parts of one request that matching reads, decoded lazily and at most once."""

    __slots__ = ("_body", "_cookies", "_doc", "_headers", "_lines", "_query", "_target")

    def __init__(self, lines: Sequence[bytes], target: bytes, body: bytes) -> None:
        self._lines, self._target, self._body = lines, target, body
        self._headers: dict[str, str] | None = None
        self._cookies: dict[str, str] | None = None
        self._query: dict[str, str] | None = None
        self._doc: Any = _MISSING

    def header(self, name: str) -> str | None:
        """A header by lower-case name (repeated headers joined with ``,``)."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for line in self._lines[1:]:
                key, _, value = line.decode("latin-1").partition(":")
                key, value = key.strip().lower(), value.strip()
                headers[key] = f"{headers[key]},{value}" if key in headers else value
            self._headers = headers
        return self._headers.get(name)

    def cookie(self, name: str) -> str | None:
        """A cookie by name, from the ``Cookie`` header(s)."""
        if self._cookies is None:
            self._cookies = parse_cookies(self.header("cookie") or "")
        return self._cookies.get(name)

    def query(self, name: str) -> str | None:
        """The first value of a query parameter (percent-decoded)."""
        if self._query is None:
            query: dict[str, str] = {}
            _, _, raw = self._target.decode("latin-1").partition("?")
            for key, value in parse_qsl(raw.partition("#")[0], keep_blank_values=True):
                query.setdefault(key, value)
            self._query = query
        return self._query.get(name)

    def body_value(self, path: tuple[str, ...]) -> str | None:
        """The JSON body field at ``path`` as text (see the module rules), or None."""
        if self._doc is _MISSING:
            self._doc = parse_json(self._body)
        if self._doc is None:
            return None
        return as_text(lookup(self._doc, path))


def parse_cookies(header: str) -> dict[str, str]:
    """``a=1; b="2"`` -> ``{"a": "1", "b": "2"}`` (first occurrence of a name wins)."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if sep and name and name not in cookies:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            cookies[name] = value
    return cookies


def parse_json(body: bytes) -> Any:
    """The decoded JSON body, or None when it is empty or not JSON."""
    stripped = body.lstrip()
    if not stripped or stripped[:1] not in b"{[":
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def lookup(doc: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted ``path`` (module rules), or a private missing marker."""
    found = _walk(doc, path)
    if found is _MISSING and isinstance(doc, dict):
        for key in ENVELOPES:
            if key in doc and path[0] != key:
                found = _walk(doc[key], path)
                if found is not _MISSING:
                    break
    return found


def _walk(node: Any, path: tuple[str, ...]) -> Any:
    for segment in path:
        node = _step(node, segment)
        if node is _MISSING:
            return _MISSING
    while isinstance(node, list) and node:
        node = node[0]
    return node


def _step(node: Any, segment: str) -> Any:
    if isinstance(node, dict):
        if segment in node:
            return node[segment]
        columns, data = node.get("columns"), node.get("data")
        if isinstance(columns, list) and isinstance(data, list) and segment in columns:
            row = data[0] if data else None
            index = columns.index(segment)
            if isinstance(row, list) and index < len(row):
                return row[index]
        return _MISSING
    if isinstance(node, list):
        if segment.isdigit():
            index = int(segment)
            return node[index] if index < len(node) else _MISSING
        return _step(node[0], segment) if node else _MISSING
    return _MISSING


def as_text(value: Any) -> str | None:
    """A scalar as match text: strings as-is, numbers and booleans as JSON; else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return None


def string_predicate(match: StringMatch) -> Predicate:
    """One ``StringMatch`` as a predicate on a string."""
    if match.exact is not None:
        return match.exact.__eq__
    if match.prefix is not None:
        prefix = match.prefix
        return lambda value: value.startswith(prefix)
    if match.suffix is not None:
        suffix = match.suffix
        return lambda value: value.endswith(suffix)
    return full_match(match.regex or "")  # RE2: never backtracks


Part = tuple[Callable[[RequestView], str | None], Predicate]


def _getter(kind: str, key: Any) -> Callable[[RequestView], str | None]:
    if kind == "header":
        return lambda request: request.header(key)
    if kind == "cookie":
        return lambda request: request.cookie(key)
    if kind == "query":
        return lambda request: request.query(key)
    return lambda request: request.body_value(key)


def _parts(condition: MatchCondition) -> list[Part]:
    parts: list[Part] = []
    for name, match in (condition.headers or {}).items():
        parts.append((_getter("header", name.lower()), string_predicate(match)))
    for name, match in (condition.cookies or {}).items():
        parts.append((_getter("cookie", name), string_predicate(match)))
    for name, match in (condition.query_params or {}).items():
        parts.append((_getter("query", name), string_predicate(match)))
    for dotted, match in (condition.body or {}).items():
        parts.append((_getter("body", tuple(dotted.split("."))), string_predicate(match)))
    return parts


def compile_match(conditions: Sequence[MatchCondition]) -> Callable[[RequestView], bool] | None:
    """A predicate true when a request matches any condition; None when there are none.

    ``sourceLabels`` (mesh only) cannot be matched locally: a condition with only source
    labels never matches, and source labels are ignored next to other parts.
    """
    compiled = [parts for parts in map(_parts, conditions) if parts]
    if not compiled:
        return None

    def matches(request: RequestView) -> bool:
        for parts in compiled:
            for get, predicate in parts:
                value = get(request)
                if value is None or not predicate(value):
                    break
            else:
                return True
        return False

    return matches
