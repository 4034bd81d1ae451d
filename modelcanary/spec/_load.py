"""Load cohorts: the share of the local load's requests sent as an A/B cohort.

An A/B stage routes the requests that satisfy ``spec.analysis.match`` to the challenger, so the
built-in load must send some requests that do and some that do not: ``load.cohorts``
(:class:`~._rollout.LoadCohort`) says which share carries what. A cohort names what its
requests carry in one of three ways:

- ``match: N`` (or nothing): satisfy the rollout's N-th match condition (default the first);
  the values are derived from it: ``exact``/``prefix``/``suffix`` text, or a short value a
  ``regex`` accepts (see :mod:`._samples`);
- ``value: beta``: satisfy the match condition one of whose parts has this value;
- ``headers: {x-cohort: beta}``: send exactly these headers (a cookie as ``cookie: a=b``).

:func:`resolve_cohorts` turns cohorts into :class:`CohortRequest` (headers and query
parameters to send, and the share); it is pure, and reports what cannot be sent as
:class:`~modelcanary.errors.SpecIssue` with the field and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import SpecIssue
from ._samples import sample_value

if TYPE_CHECKING:
    from ._analysis import Analysis, MatchCondition, StringMatch
    from ._rollout import LoadCohort

_COOKIE_VALUE = re.compile(r"^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$")
"""RFC 6265 ``cookie-octet``: what a cookie value may hold unquoted."""


@dataclass(frozen=True)
class CohortRequest:
    """What the load adds to a cohort's requests."""

    share: float
    """Fraction of all requests."""
    headers: dict[str, str] = field(default_factory=dict)
    """Headers (cookies joined into one ``cookie`` header)."""
    query: dict[str, str] = field(default_factory=dict)
    """Query parameters."""


def request_headers(base: Mapping[str, str] | None, cohort: CohortRequest | None) -> dict[str, str]:
    """Headers of one request: ``load.headers`` and its cohort's (lower-case names; the
    cohort's win, cookies of both are joined into one ``cookie`` header)."""
    out = {k.lower(): v for k, v in (base or {}).items()}
    for name, value in (cohort.headers if cohort else {}).items():
        key = name.lower()
        if key == "cookie" and out.get(key):
            out[key] = f"{out[key]}; {value}"
        else:
            out[key] = value
    return out


def match_conditions(analysis: Analysis) -> list[tuple[str, MatchCondition]]:
    """The rollout's A/B conditions with their field paths: ``analysis.match``, then those of
    custom steps in order (the list ``LoadCohort.match`` indexes)."""
    found = [(f"spec.analysis.match[{i}]", c) for i, c in enumerate(analysis.match or [])]
    for s, step in enumerate(analysis.steps or []):
        found += [
            (f"spec.analysis.steps[{s}].match[{i}]", c) for i, c in enumerate(step.match or [])
        ]
    return found


def resolve_cohorts(
    cohorts: list[LoadCohort] | None, analysis: Analysis
) -> tuple[list[CohortRequest], list[SpecIssue]]:
    """What each cohort sends, and why a cohort cannot be sent (field path and fix)."""
    resolved: list[CohortRequest] = []
    issues: list[SpecIssue] = []
    conditions = match_conditions(analysis)
    for i, cohort in enumerate(cohorts or []):
        path = f"spec.load.cohorts[{i}]"
        if cohort.headers is not None:
            resolved.append(CohortRequest(cohort.share, dict(cohort.headers)))
            continue
        index = _condition_index(cohort, conditions, path, issues)
        if index is None:
            continue
        cond_path, condition = conditions[index]
        request = _request_for(condition, cond_path, cohort.share, path, issues)
        if request is not None:
            resolved.append(request)
    total = sum(c.share for c in cohorts or [])
    if total > 1 + 1e-9:
        issues.append(
            SpecIssue(
                "spec.load.cohorts",
                f"shares add up to {total:g}, more than all requests",
                "shares are fractions of all requests: make them add up to at most 1",
            )
        )
    return resolved, issues


def _condition_index(
    cohort: LoadCohort,
    conditions: list[tuple[str, MatchCondition]],
    path: str,
    issues: list[SpecIssue],
) -> int | None:
    if not conditions:
        issues.append(
            SpecIssue(
                path,
                "derives its requests from spec.analysis.match, but the rollout has no A/B match",
                "add an A/B plan (ab_test(header='x-cohort', value='beta')), or give the "
                "cohort's headers explicitly: cohorts={'x-cohort=beta': 0.2}",
            )
        )
        return None
    if cohort.value is not None:
        for index, (_, condition) in enumerate(conditions):
            if cohort.value in _values(condition):
                return index
        known = sorted({v for _, c in conditions for v in _values(c)})
        issues.append(
            SpecIssue(
                f"{path}.value",
                f"{cohort.value!r} is not the value of any A/B match condition",
                f"use one of: {', '.join(map(repr, known)) or '(none)'}, "
                "or headers: {NAME: VALUE}",
            )
        )
        return None
    index = cohort.match or 0
    if index >= len(conditions):
        issues.append(
            SpecIssue(
                f"{path}.match",
                f"is {index}, but the rollout has {len(conditions)} A/B match condition(s)",
                f"use an index from 0 to {len(conditions) - 1}",
            )
        )
        return None
    return index


def _values(condition: MatchCondition) -> list[str]:
    parts = [
        *(condition.headers or {}).values(),
        *(condition.cookies or {}).values(),
        *(condition.query_params or {}).values(),
        *(condition.body or {}).values(),
    ]
    return [v for m in parts for v in (m.exact, m.prefix, m.suffix, m.regex) if v is not None]


def _request_for(
    condition: MatchCondition, cond_path: str, share: float, who: str, issues: list[SpecIssue]
) -> CohortRequest | None:
    """The values that satisfy ``condition``, or issues saying why the load has none."""
    fix = "or give the cohort's headers explicitly: cohorts={'x-cohort=beta': 0.2}"
    before = len(issues)
    if condition.body:
        issues.append(
            SpecIssue(
                f"{cond_path}.body",
                f"{who} cannot add a body field to the payloads (they come from your requests)",
                f"send payloads whose field matches (requests/dataset; no cohort needed), {fix}",
            )
        )
    if condition.source_labels:
        issues.append(
            SpecIssue(
                f"{cond_path}.sourceLabels",
                f"{who} cannot send a workload's labels (a mesh matches them)",
                f"match on a header or cookie, {fix}",
            )
        )
    headers = _values_for(condition.headers, f"{cond_path}.headers", who, issues, "header")
    cookies = _values_for(condition.cookies, f"{cond_path}.cookies", who, issues, "cookie")
    query = _values_for(condition.query_params, f"{cond_path}.queryParams", who, issues, "query")
    if len(issues) > before:
        return None
    if cookies:
        headers["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return CohortRequest(share, headers, query)


_EXPLICIT = {
    "header": "give the value yourself: cohorts={'NAME=VALUE': 0.2} (load.cohorts[].headers)",
    "cookie": "give the value yourself: cohorts={'cookie: NAME=VALUE': 0.2} "
    "(load.cohorts[].headers)",
    "query": "use exact, prefix or suffix for this query parameter, or route on a header",
}


def _values_for(
    parts: dict[str, StringMatch] | None,
    path: str,
    who: str,
    issues: list[SpecIssue],
    kind: str,
) -> dict[str, str]:
    """A value for each part, or an issue naming the part and the fix."""
    out: dict[str, str] = {}
    for name, match in (parts or {}).items():
        value = sample_value(match)
        if value is not None and _carries(kind, value):
            out[name] = value
            continue
        rule = next(k for k in ("exact", "prefix", "suffix", "regex") if getattr(match, k))
        why = f"a {kind} cannot carry {value!r}" if value is not None else "no short value fits"
        issues.append(
            SpecIssue(
                f"{path}.{name}.{rule}",
                f"{who} cannot build a value for it ({why})",
                _EXPLICIT[kind].replace("NAME", name),
            )
        )
    return out


def _carries(kind: str, value: str) -> bool:
    """Whether a header, cookie or query parameter can carry ``value`` as it is."""
    from ._wire import check_header_value

    if kind == "cookie":
        return bool(_COOKIE_VALUE.fullmatch(value))
    if kind == "query":
        return True  # percent-encoded when sent
    try:
        check_header_value(value)
    except ValueError:
        return False
    return True
