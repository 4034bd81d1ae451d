"""The small query language of the ``opentelemetry`` provider over stored OTLP series.

Grammar (PromQL-like, evaluated over the window ``(end - range, end]``)::

    expr     := term (("+" | "-" | "*" | "/") term)*      # * and / bind tighter
    term     := NUMBER | "(" expr ")" | "-" term
              | FUNC "(" selector ")"
              | "histogram_quantile" "(" NUMBER "," selector ")"
    selector := METRIC_NAME [ "{" matcher ("," matcher)* "}" ]
    matcher  := ATTRIBUTE ("=" | "!=" | "=~" | "!~") "string"

``FUNC`` is one of :data:`FUNCTIONS`. Names may contain dots (``http.server.duration``);
regular expressions match the whole value (as in PromQL). Every function adds up the
matching series; a selector matching no series, or series without points in the window, is
NoData (never an exception); a syntax error is a :class:`PermanentProviderError` showing where.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..analysis._measurements import LatencyHistogram, NoData
from ..analysis._sli import histogram_quantile
from ..errors import PermanentProviderError
from ._otlp_series import Series, histogram_increase, increase, values_in

FUNCTIONS = {
    "increase": "sum/histogram: observations counted in the window (counter increase)",
    "rate": "increase / window seconds",
    "last": "sum of each series' last value in the window (gauges, running totals)",
    "avg": "mean of every point value in the window (gauges)",
    "min": "smallest point value in the window",
    "max": "largest point value in the window",
    "histogram_quantile": "histogram_quantile(q, h): the q-quantile of the window's observations",
    "histogram_mean": "histogram: sum / count of the window's observations",
}
"""Function name -> what it computes (documented in docs/providers.md)."""
GRAMMAR_HINT = (
    'e.g. increase(requests_total{rollout="{{ name }}",status=~"5.."}) '
    '/ increase(requests_total{rollout="{{ name }}"}), or '
    'histogram_quantile(0.99, request_duration_seconds{version="challenger"})'
)
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_:][A-Za-z0-9_:.]*)"
    r'|(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<op>=~|!~|!=|[-+*/(){},=]))"
)


class _Nothing(Exception):
    """A term has no data: the whole query is NoData with this reason."""


@dataclass(frozen=True)
class Matcher:
    """One attribute matcher of a selector."""

    name: str
    op: str
    value: str

    def matches(self, attributes: Mapping[str, str]) -> bool:
        """True when the attribute (missing = empty string) satisfies the matcher."""
        got = attributes.get(self.name, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        hit = re.fullmatch(self.value, got) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class Selector:
    """A metric name and attribute matchers."""

    name: str
    matchers: tuple[Matcher, ...]

    def select(self, series: Sequence[Series]) -> list[Series]:
        """The series named ``name`` whose attributes satisfy every matcher."""
        return [
            s
            for s in series
            if s.name == self.name and all(m.matches(s.attributes) for m in self.matchers)
        ]

    def __str__(self) -> str:
        inner = ",".join(f'{m.name}{m.op}"{m.value}"' for m in self.matchers)
        return f"{self.name}{{{inner}}}" if inner else self.name


Evaluator = Callable[[Sequence[Series], float, float], float]
"""(series, start, end) -> value; raises _Nothing for a gap."""


@dataclass
class Query:
    """A parsed query: the metric names it reads and how to evaluate it."""

    text: str
    names: tuple[str, ...]
    evaluate: Evaluator

    def value(self, series: Sequence[Series], start: float, end: float) -> float | NoData:
        """The query's value over ``(start, end]`` from ``series`` (NoData for gaps)."""
        try:
            return self.evaluate(series, start, end)
        except _Nothing as gap:
            return NoData(str(gap))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                self.fail(pos, "unexpected character")
            assert m is not None
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0
        self.names: list[str] = []

    def fail(self, pos: int, message: str) -> None:
        raise PermanentProviderError(
            f"cannot parse OpenTelemetry query at position {pos} ({message}): "
            f"{self.text[:pos]}<here>{self.text[pos:]} (fix: {GRAMMAR_HINT})"
        )

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", len(self.text))

    def take(self, kind: str, value: str | None = None) -> str:
        k, v, pos = self.peek()
        if k != kind or (value is not None and v != value):
            self.fail(pos, f"expected {value or kind}, found {v or 'the end'!r}")
        self.i += 1
        return v

    def parse(self) -> Query:
        ev = self.expr()
        kind, value, pos = self.peek()
        if kind != "end":
            self.fail(pos, f"unexpected {value!r}")
        return Query(self.text, tuple(dict.fromkeys(self.names)), ev)

    def expr(self) -> Evaluator:
        left = self.product()
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            op = self.take("op")
            left = _binary(op, left, self.product())
        return left

    def product(self) -> Evaluator:
        left = self.term()
        while self.peek()[1] in ("*", "/") and self.peek()[0] == "op":
            op = self.take("op")
            left = _binary(op, left, self.term())
        return left

    def term(self) -> Evaluator:
        kind, value, pos = self.peek()
        if kind == "num":
            self.i += 1
            number = float(value)
            return lambda *_: number
        if kind == "op" and value == "(":
            self.i += 1
            inner = self.expr()
            self.take("op", ")")
            return inner
        if kind == "op" and value == "-":
            self.i += 1
            operand = self.term()
            return lambda s, a, b: -operand(s, a, b)
        if kind != "name":
            self.fail(pos, f"expected a number, '(' or a function, found {value or 'the end'!r}")
        if value not in FUNCTIONS:
            following = self.tokens[self.i + 1][1] if self.i + 1 < len(self.tokens) else ""
            if following != "(":
                self.fail(pos, f"{value} needs a function around it, e.g. last({value})")
            self.fail(pos, f"unknown function {value!r}; known: {', '.join(FUNCTIONS)}")
        self.i += 1
        self.take("op", "(")
        q = 0.0
        if value == "histogram_quantile":
            q_pos = self.peek()[2]
            q = float(self.take("num"))
            if not 0 <= q <= 1:
                self.fail(q_pos, "the quantile must be between 0 and 1")
            self.take("op", ",")
        sel = self.selector()
        self.take("op", ")")
        return _function(value, sel, q)

    def selector(self) -> Selector:
        name = self.take("name")
        self.names.append(name)
        matchers: list[Matcher] = []
        if self.peek()[1] == "{":
            self.i += 1
            while self.peek()[1] != "}":
                label = self.take("name")
                kind, op, pos = self.peek()
                if kind != "op" or op not in ("=", "!=", "=~", "!~"):
                    self.fail(pos, "expected =, !=, =~ or !~")
                self.i += 1
                raw = self.take("str")
                text = re.sub(r"\\(.)", r"\1", raw[1:-1])
                if op in ("=~", "!~"):
                    try:
                        re.compile(text)
                    except re.error as exc:
                        self.fail(pos, f"bad regular expression {text!r}: {exc}")
                matchers.append(Matcher(label, op, text))
                if self.peek()[1] == ",":
                    self.i += 1
            self.take("op", "}")
        return Selector(name, tuple(matchers))


def _binary(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    def ev(series: Sequence[Series], start: float, end: float) -> float:
        a, b = left(series, start, end), right(series, start, end)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        return a / b if b != 0 else (math.nan if a == 0 else math.copysign(math.inf, a))

    return ev


def _matched(sel: Selector, series: Sequence[Series], kinds: tuple[str, ...]) -> list[Series]:
    chosen = sel.select(series)
    if not chosen:
        raise _Nothing(f"{sel} matched no series")
    wrong = {s.kind for s in chosen} - set(kinds)
    if wrong:
        raise PermanentProviderError(
            f"{sel} is a {'/'.join(sorted(wrong))}; this function reads {' or '.join(kinds)} "
            f"metrics (fix: {GRAMMAR_HINT})"
        )
    return chosen


def _function(func: str, sel: Selector, q: float) -> Evaluator:
    def ev(series: Sequence[Series], start: float, end: float) -> float:
        if func in ("increase", "rate"):
            found = [increase(s, start, end) for s in _matched(sel, series, ("sum", "histogram"))]
            values = [v for v in found if v is not None]
            if not values:
                raise _Nothing(f"{sel} has no points in the window")
            total = sum(values)
            return total / (end - start) if func == "rate" else total
        if func in ("histogram_quantile", "histogram_mean"):
            return _histogram(func, sel, _matched(sel, series, ("histogram",)), q, start, end)
        chosen = _matched(sel, series, ("sum", "gauge"))
        if func == "last":
            lasts = [v[-1] for s in chosen if (v := values_in(s, start, end))]
            if not lasts:
                raise _Nothing(f"{sel} has no points in the window")
            return sum(lasts)
        points = [x for s in chosen for x in values_in(s, start, end)]
        if not points:
            raise _Nothing(f"{sel} has no points in the window")
        if func == "avg":
            return sum(points) / len(points)
        return min(points) if func == "min" else max(points)

    return ev


def _histogram(
    func: str, sel: Selector, chosen: list[Series], q: float, start: float, end: float
) -> float:
    deltas = [d for s in chosen if (d := histogram_increase(s, start, end)) is not None]
    if not deltas:
        raise _Nothing(f"{sel} has no points in the window")
    bounds = deltas[0][0]
    if any(d[0] != bounds for d in deltas):
        raise PermanentProviderError(
            f"{sel} matches histograms with different bucket bounds; narrow the selector "
            "to series with the same explicitBounds"
        )
    count = sum(d[2] for d in deltas)
    if count <= 0:
        raise _Nothing(f"{sel} observed nothing in the window")
    if func == "histogram_mean":
        return sum(d[3] for d in deltas) / count
    buckets = [sum(d[1][i] for d in deltas) for i in range(len(bounds) + 1)]
    cumulative, running = [], 0.0
    for c in buckets:
        running += c
        cumulative.append(running)
    result = histogram_quantile(q, LatencyHistogram((*bounds, math.inf), tuple(cumulative)))
    if isinstance(result, NoData):
        raise _Nothing(result.reason)
    return result


def parse(text: str) -> Query:
    """Parse a (rendered) query; :class:`PermanentProviderError` showing where it fails."""
    if not text.strip():
        raise PermanentProviderError(f"empty OpenTelemetry query (fix: {GRAMMAR_HINT})")
    return _Parser(text).parse()


__all__ = ["FUNCTIONS", "Matcher", "Query", "Selector", "parse"]
