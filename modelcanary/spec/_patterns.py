"""Regular expressions of string matches: RE2 syntax, matched in linear time.

A ``regex`` string match is checked against client-controlled values (headers, cookies,
query parameters, body fields) on every request. A backtracking engine (Python's ``re``)
can take exponential time on patterns such as ``(\\w+\\s?)*-beta``, so one crafted header
would stall the local router. Envoy and Istio match with Google's RE2, which runs in time
linear in the input, and reject what RE2 cannot compile. modelcanary does the same, with the
same syntax (https://github.com/google/re2/wiki/Syntax): no backreferences, no look-around,
``\\z`` instead of ``\\Z``, repetition counts up to 1000. A pattern is therefore valid for the
local router exactly when it is valid for the meshes.

``check_pattern`` is the spec's validation (pure, no I/O); ``full_match`` compiles the
predicate the local router runs.
"""

from __future__ import annotations

from collections.abc import Callable

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

MAX_PATTERN = 4096
"""Longest pattern accepted (characters); match rules are short, this bounds compile work."""

SYNTAX_HINT = (
    "use RE2 syntax as Envoy and Istio do (https://github.com/google/re2/wiki/Syntax): "
    "no backreferences (\\1), no look-ahead/behind ((?=...), (?!...)), \\z instead of \\Z, "
    "repetition counts up to {1000}"
)


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 otherwise prints every rejected pattern to stderr
    options.never_capture = True  # groups are never read: a cheaper program
    return options


_OPTIONS = _options()


class PatternError(ValueError):
    """A pattern RE2 rejects; the message says why and how to fix it."""


def _compile(pattern: str) -> re2._Regexp:
    if len(pattern) > MAX_PATTERN:
        raise PatternError(
            f"regex is {len(pattern)} characters long; the limit is {MAX_PATTERN}: "
            "simplify it, or use exact/prefix/suffix"
        )
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(
            f"regex {pattern!r} does not compile as RE2 ({reason}); {SYNTAX_HINT}"
        ) from None


def check_pattern(pattern: str) -> str:
    """``pattern`` unchanged when RE2 compiles it, else a ``PatternError`` saying the fix."""
    _compile(pattern)
    return pattern


def full_match(pattern: str) -> Callable[[str], bool]:
    """A predicate true when the whole string matches ``pattern`` (linear time, RE2)."""
    compiled = _compile(pattern)
    fullmatch = compiled.fullmatch

    def matches(value: str) -> bool:
        # bytes: RE2 then skips the wrapper's str offset bookkeeping (2-3x faster)
        return fullmatch(value.encode("utf-8", "surrogatepass")) is not None

    return matches
