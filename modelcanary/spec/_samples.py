"""A short value that a ``StringMatch`` accepts, so the local load can send an A/B cohort.

``exact``, ``prefix`` and ``suffix`` give their own text. A ``regex`` is parsed with Python's
regular-expression parser (RE2 syntax is a subset of it for what A/B rules use: literals,
classes, alternation, groups, repetition, anchors) and the shortest obvious string is built:
the first alternative, the minimum repetition count, the first printable character a class
accepts. The result is always checked with RE2 (as the router matches); when no value comes
out, :func:`sample_value` returns None and the caller asks for an explicit value.
"""

from __future__ import annotations

import string
import warnings
from typing import Any

from ._analysis import StringMatch
from ._patterns import full_match

_POOL = string.ascii_lowercase + string.digits + string.ascii_uppercase + "-_.~" + " "
_POOL += "".join(c for c in string.punctuation if c not in _POOL)
"""Candidate characters, nicest first (a cohort value ends up in a header or a cookie)."""
MAX_SAMPLE = 256
"""Longest value built (a regex demanding more, e.g. ``a{1000}``, needs an explicit value)."""


def sample_value(match: StringMatch) -> str | None:
    """A value ``match`` accepts, or None when none can be built (give one explicitly)."""
    if match.exact is not None:
        return match.exact
    if match.prefix is not None:
        return match.prefix
    if match.suffix is not None:
        return match.suffix
    pattern = match.regex or ""
    value = _from_regex(pattern)
    if value is None or not full_match(pattern)(value):
        return None
    return value


def string_matches(match: StringMatch, value: str) -> bool:
    """True when ``value`` satisfies ``match`` (the router's rule: regex is a full RE2 match)."""
    if match.exact is not None:
        return value == match.exact
    if match.prefix is not None:
        return value.startswith(match.prefix)
    if match.suffix is not None:
        return value.endswith(match.suffix)
    return full_match(match.regex or "")(value)


def _from_regex(pattern: str) -> str | None:
    # Python's own regex parser (typeshed has no stub for it): a tree to walk, no matching
    import re._parser as parser  # type: ignore[import-not-found]

    try:
        with warnings.catch_warnings():  # e.g. FutureWarning on RE2's [[:alpha:]] classes
            warnings.simplefilter("ignore")
            tree = parser.parse(pattern)
    except Exception:  # re.error, or RE2-only syntax Python does not know
        return None
    out = _build(list(tree))
    return out if out is not None and len(out) <= MAX_SAMPLE else None


def _build(items: list[tuple[Any, Any]]) -> str | None:
    parts: list[str] = []
    for op, arg in items:
        piece = _one(str(op), arg)
        if piece is None:
            return None
        parts.append(piece)
        if sum(map(len, parts)) > MAX_SAMPLE:
            return None
    return "".join(parts)


def _one(op: str, arg: Any) -> str | None:
    if op == "LITERAL":
        return chr(arg)
    if op == "NOT_LITERAL":
        return _first(lambda c: c != chr(arg))
    if op == "ANY":
        return "a"
    if op == "AT":
        return ""  # anchors: the value is matched whole anyway
    if op == "IN":
        return _first(lambda c: _in_set(arg, c))
    if op == "BRANCH":
        for alternative in arg[1]:
            built = _build(list(alternative))
            if built is not None:
                return built
        return None
    if op == "SUBPATTERN":
        return _build(list(arg[-1]))
    if op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _high, body = arg
        if low > MAX_SAMPLE:
            return None
        built = _build(list(body))
        return None if built is None else built * low
    return None  # back references, look-around, ...: RE2 refuses them anyway


def _first(accepts: Any) -> str | None:
    return next((c for c in _POOL if accepts(c)), None)


def _in_set(items: list[tuple[Any, Any]], char: str) -> bool:
    negate = False
    found = False
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            found |= char == chr(arg)
        elif name == "RANGE":
            found |= arg[0] <= ord(char) <= arg[1]
        elif name == "CATEGORY":
            found |= _category(str(arg), char)
    return found != negate


def _category(name: str, char: str) -> bool:
    word = char.isalnum() or char == "_"
    return {
        "CATEGORY_DIGIT": char.isdigit(),
        "CATEGORY_NOT_DIGIT": not char.isdigit(),
        "CATEGORY_SPACE": char.isspace(),
        "CATEGORY_NOT_SPACE": not char.isspace(),
        "CATEGORY_WORD": word,
        "CATEGORY_NOT_WORD": not word,
    }.get(name, False)
