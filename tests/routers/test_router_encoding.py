"""The string-match regex encodings mean what they say (checked with ``re``) and decode back
exactly. The cookie encodings are the traffic vocabulary's: tests/test_traffic.py."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from modelcanary.routers._encoding import match_of_regex, regex_of
from modelcanary.routers._smi import parse_smi_regex, smi_regex
from modelcanary.spec import StringMatch

values = st.text(st.characters(codec="ascii", exclude_characters=";\r\n"), min_size=1, max_size=12)


@settings(deadline=None)  # no per-example deadline: a loaded CI machine must not flake
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
