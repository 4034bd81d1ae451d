"""Regex matches are RE2: checked with the spec, matched in linear time by the router.

``(\\w+\\s?)*-beta`` on a 28-character header took 11.8 s with Python's backtracking ``re``
and stalled every other client of the router; RE2 answers in microseconds whatever the input.
Patterns RE2 cannot compile (backreferences, look-around) are a SpecError at validation, as
Envoy and Istio would reject them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from router_fixtures import Upstream, rollout, router, upstream
from router_raw import connect, exchange, get, read_answer

from modelcanary.errors import SpecError
from modelcanary.local._proxy.matching import string_predicate
from modelcanary.rollout._commands import Routes
from modelcanary.spec import MatchCondition, parse_rollout
from modelcanary.spec._analysis import StringMatch
from modelcanary.spec._patterns import MAX_PATTERN, PatternError, check_pattern, full_match

EVIL = r"(\w+\s?)*-beta"
HOSTILE_VALUE = "a" * 40 + "!"  # 2**40 backtracking steps for Python's re


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (EVIL, "word word-beta", True),
        (EVIL, HOSTILE_VALUE, False),
        (EVIL, "a" * 100_000 + "!", False),
        ("(a+)+$", "a" * 50_000 + "b", False),
        ("beta", "xbetax", False),  # a full match, not a search
        (".*beta.*", "xbetax", True),
        ("F.|IT", "FR", True),
        ("caf\u00e9", "caf\u00e9", True),
        (r"\d{3}", "123", True),
    ],
)
def test_full_match_is_linear_and_anchored(pattern: str, value: str, expected: bool) -> None:
    assert full_match(pattern)(value) is expected
    assert string_predicate(StringMatch(regex=pattern))(value) is expected


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(?=beta)beta", "perl operator"),  # look-ahead
        ("(?<!x)beta", "perl operator"),  # look-behind
        (r"(a)\1", "escape"),  # backreference
        (r"beta\Z", "escape"),  # Python's end anchor; RE2 spells it \z
        ("a{1001}", "repetition"),
        ("(unclosed", "missing )"),
        ("x" * (MAX_PATTERN + 1), "limit"),
    ],
)
def test_patterns_re2_cannot_compile_are_refused_with_the_fix(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError) as error:
        check_pattern(pattern)
    assert reason in str(error.value)
    assert "RE2" in str(error.value) or "exact/prefix/suffix" in str(error.value)


def _spec_with(match: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "fraud", "namespace": "ml"},
        "spec": {
            "champion": {"modelUri": "models:/fraud@champion"},
            "challenger": {"modelUri": "models:/fraud/2"},
            "analysis": {
                "interval": "30s",
                "iterations": 3,
                "match": [match],
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
            },
        },
    }


@pytest.mark.parametrize(
    ("match", "path"),
    [
        ({"headers": {"x-cohort": {"regex": "(?=beta)beta"}}}, "headers.x-cohort.regex"),
        ({"cookies": {"user": {"regex": r"(a)\1"}}}, "cookies.user.regex"),
        ({"queryParams": {"v": {"regex": r"2\Z"}}}, "queryParams.v.regex"),
        ({"body": {"country": {"regex": "(?!FR)..$"}}}, "body.country.regex"),
    ],
)
def test_spec_validation_names_the_field_and_the_re2_fix(match: dict[str, Any], path: str) -> None:
    with pytest.raises(SpecError) as error:
        parse_rollout(_spec_with(match))
    text = str(error.value)
    assert f"spec.analysis.match[0].{path}" in text
    assert "RE2" in text and "re2/wiki/Syntax" in text


def test_re2_patterns_the_meshes_accept_still_validate() -> None:
    spec = parse_rollout(_spec_with({"headers": {"x-cohort": {"regex": EVIL}}}))
    assert spec.spec.analysis.match[0].headers["x-cohort"].regex == EVIL  # type: ignore[index]


@pytest.fixture
def pair() -> Iterator[tuple[Upstream, Upstream]]:
    with upstream("champion") as a, upstream("challenger") as b:
        yield a, b


def test_a_hostile_header_neither_stalls_the_router_nor_other_clients(
    pair: tuple[Upstream, Upstream],
) -> None:
    champion, challenger = pair
    condition = MatchCondition.model_validate({"headers": {"x-cohort": {"regex": EVIL}}})
    routes = Routes(match=(condition,))
    with router(champion.url, challenger.url, routes) as r:
        answers: dict[str, Any] = {}

        def hostile() -> None:
            with connect(r, timeout=20) as sock:
                sock.sendall(get(headers=f"X-Cohort: {HOSTILE_VALUE}\r\n"))
                answers["hostile"] = read_answer(sock)

        thread = threading.Thread(target=hostile)
        thread.start()
        try:
            other = exchange(r, get(), timeout=20)  # on the old router: stuck behind the regex
        except TimeoutError:
            other = None
        thread.join(25)
        assert other is not None and other.header("x-modelcanary-version") == "champion"
        hostile_answer = answers.get("hostile")
        assert hostile_answer is not None and hostile_answer.status == 200
        assert hostile_answer.header("x-modelcanary-version") == "champion"  # no match
        matched = exchange(r, get(headers="X-Cohort: word word-beta\r\n"))
        assert matched is not None and matched.header("x-modelcanary-version") == "challenger"
        assert r.get_routes(rollout()) == routes
