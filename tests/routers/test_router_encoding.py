"""The regex encodings mean what they say (checked with ``re``) and decode back exactly."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from modelcanary.routers.encoding import (
    cookie_regex,
    match_of_regex,
    parse_cookie_regex,
    parse_set_cookie,
    regex_of,
    set_cookie,
)
from modelcanary.routers.smi import parse_smi_regex, smi_regex
from modelcanary.spec import SessionAffinity, StringMatch

values = st.text(st.characters(codec="ascii", exclude_characters=";\r\n"), min_size=1, max_size=12)
names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,10}", fullmatch=True)


@given(value=values, extra=values)
def test_string_match_regexes(value: str, extra: str) -> None:
    exact, prefix, suffix = (
        StringMatch(exact=value),
        StringMatch(prefix=value),
        StringMatch(suffix=value),
    )
    assert re.fullmatch(regex_of(exact), value)
    assert re.fullmatch(regex_of(prefix), value + extra)
    assert re.fullmatch(regex_of(suffix), extra + value)
    assert not re.fullmatch(regex_of(exact), value + extra)
    for m in (exact, prefix, suffix):
        assert match_of_regex(regex_of(m)) == m
        assert parse_smi_regex(smi_regex(m)) == m
    assert re.search(smi_regex(exact), value) and not re.search(smi_regex(exact), "<" + value)


@given(name=names, value=values, other=values)
def test_cookie_regex_matches_the_cookie_header(name: str, value: str, other: str) -> None:
    regex = cookie_regex(name, StringMatch(exact=value))
    assert re.fullmatch(regex, f"{name}={value}")
    assert re.fullmatch(regex, f"a=1; {name}={value}; b=2")
    assert not re.fullmatch(regex, f"x{name}={value}")
    if other != value:
        assert not re.fullmatch(regex, f"{name}={other}")
    for m in (
        StringMatch(exact=value),
        StringMatch(prefix=value),
        StringMatch(suffix=value),
        StringMatch(regex="in.*er"),
    ):
        assert parse_cookie_regex(cookie_regex(name, m)) == (name, m)
    assert re.fullmatch(cookie_regex(name, StringMatch(prefix=value)), f"{name}={value}{other}")


def test_foreign_cookie_regexes_stay_header_regexes() -> None:
    """Flagger's own form is not mistaken for an encoded cookie (it stays a header match)."""
    assert parse_cookie_regex("^(.*?;)?(type=insider)(;.*)?$") is None


def test_set_cookie_round_trip() -> None:
    affinity = SessionAffinity.model_validate(
        {
            "cookieName": "c",
            "maxAge": 60,
            "domain": "example.com",
            "path": "/",
            "httpOnly": True,
            "secure": True,
            "sameSite": "Lax",
            "partitioned": True,
        }
    )
    name, fields = parse_set_cookie(set_cookie(affinity, "c", "tok"))
    assert name == "c"
    assert SessionAffinity(cookie_name=name, **fields) == affinity
