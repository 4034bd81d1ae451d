"""Can the local load reach every stage of the plan? Errors and warnings about ``spec.load``.

The built-in load of the local runtime is the only traffic a local rollout gets, so a plan it
cannot feed fails for a reason the spec does not show: an A/B stage whose match no request
satisfies gives the challenger nothing, so the rollout cannot promote ("no data"); a load that
always satisfies it leaves the champion nothing to compare with; a 1 % canary step at 2 rps
and a 10 s interval sees a request in fewer than one interval in five; a load whose
``duration`` ends before a stage starts leaves that stage without data. And a rollout keyed by
a user header (``analysis.unitKey``) fed by a load without simulated users (``load.users``)
sends no such header: every request is its own unit, so nothing is judged per user.

:func:`load_issues` returns what makes the load impossible to send (errors, raised by the
rules); :func:`load_warnings` what makes a stage unreachable (the builder warns, ``modelcanary
validate`` prints them, the local runtime logs them). Each names the field and the fix.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..errors import ModelCanaryError, SpecIssue
from ._base import parse_duration
from ._load import CohortRequest, request_headers, resolve_cohorts
from ._plan import Stage, stages
from ._samples import string_matches

if TYPE_CHECKING:
    from ._analysis import Analysis, MatchCondition
    from ._rollout import LoadSpec, ModelRollout


class LoadWarning(UserWarning):
    """A stage of the plan that the local load cannot feed (the builder's ``build()`` warns)."""


FEW_REQUESTS = 1.0
"""Expected requests per interval below which a stage warns (it cannot count on any)."""
AIM_REQUESTS = 5
"""Requests per interval the suggested load rate aims at."""

Traffic = tuple[float, dict[str, str], dict[str, str]]
"""One class of the load's requests: its share, headers (lower-case names), query."""


def load_issues(rollout: ModelRollout) -> list[SpecIssue]:
    """Why ``spec.load`` cannot be sent as written (a cohort the load cannot build)."""
    load = rollout.spec.load
    if load is None or not load.cohorts:
        return []
    return resolve_cohorts(load.cohorts, rollout.spec.analysis)[1]


def load_warnings(rollout: ModelRollout) -> list[SpecIssue]:
    """Stages the local load cannot feed, each with the load field to change and how."""
    load = rollout.spec.load
    if load is None or rollout.spec.router.provider != "local":
        return []
    analysis = rollout.spec.analysis
    cohorts, issues = resolve_cohorts(load.cohorts, analysis)
    if issues:
        return []  # the rules report these as errors
    try:
        plan = stages(analysis)
        interval = parse_duration(analysis.interval)
    except (ValueError, ModelCanaryError):
        return []  # a plan the rules refuse: they say why
    traffic = _traffic(load, cohorts)
    out: list[SpecIssue] = _unkeyed(load, analysis)
    small: list[tuple[str, str, float]] = []
    start, stop = 0.0, parse_duration(load.duration) if load.duration else None
    for n, stage in enumerate(plan):
        field = _stage_field(analysis, n, plan)
        if stop is not None and start >= stop:
            out.append(_after_stop(load, field, stage, start))
            break
        if stage.match:
            share = _matched_share(stage.match, traffic)
            if share is not None:
                out += _ab(load, field, share)
                if 0 < share < 1:
                    small.append((field, f"{share:.0%} of requests matching", share))
        elif stage.weight:
            small.append((field, f"weight {stage.weight}%", stage.weight / 100))
        if stage.mirror_weight:
            small.append((field, f"mirror {stage.mirror_weight}%", stage.mirror_weight / 100))
        start += max(stage.intervals * interval, stage.duration)
    out += _too_few(load.rps, interval, small)
    return out


def _unkeyed(load: LoadSpec, analysis: Analysis) -> list[SpecIssue]:
    """A unit header the load never sends (no simulated users, nor the header itself)."""
    key = analysis.unit_key
    if key is None or load.users is not None:
        return []
    name = key.header.lower()
    if any(k.lower() == name for k in (load.headers or {})):
        return []  # one fixed user: the author's choice
    if any(name in {k.lower() for k in (c.headers or {})} for c in load.cohorts or ()):
        return []
    return [
        SpecIssue(
            "spec.load.users",
            f"analysis.unitKey reads the user from the {key.header} header, but the load "
            "sends no such header: every request is its own unit and the analysis judges per "
            "request, not per user",
            "simulate users: .load(..., users=200) (YAML: load.users: 200); each then sends "
            f"its id in {key.header} and keeps its own cookies",
        )
    ]


def _traffic(load: LoadSpec, cohorts: list[CohortRequest]) -> list[Traffic]:
    classes: list[Traffic] = [(c.share, request_headers(load.headers, c), c.query) for c in cohorts]
    rest = 1.0 - sum(c.share for c in cohorts)
    if rest > 1e-9:
        classes.append((rest, request_headers(load.headers, None), {}))
    return classes


def _matched_share(conditions: tuple[MatchCondition, ...], traffic: list[Traffic]) -> float | None:
    """Share of requests satisfying any condition; None when the payloads decide (body)."""
    share = 0.0
    for part, headers, query in traffic:
        results = [_satisfies(c, headers, query) for c in conditions]
        if True in results:
            share += part
        elif None in results:
            return None
    return share


def _satisfies(cond: MatchCondition, headers: dict[str, str], query: dict[str, str]) -> bool | None:
    """The router's rule for one condition (None: a body part, decided by each payload)."""
    if cond.body:
        return None
    cookies = _cookies(headers.get("cookie", ""))
    values = [
        *((headers.get(k.lower()), m) for k, m in (cond.headers or {}).items()),
        *((cookies.get(k), m) for k, m in (cond.cookies or {}).items()),
        *((query.get(k), m) for k, m in (cond.query_params or {}).items()),
    ]
    if not values:
        return False  # only source labels: never matched locally
    return all(value is not None and string_matches(m, value) for value, m in values)


def _cookies(header: str) -> dict[str, str]:
    jar: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            jar.setdefault(name.strip(), value.strip().strip('"'))
    return jar


def _stage_field(analysis: Analysis, n: int, plan: list[Stage]) -> str:
    stage = plan[n]
    if analysis.strategy == "steps":
        return f"spec.analysis.steps[{n}]"
    if stage.kind in ("shadow", "bluegreen"):
        return "spec.analysis.mirrorWeight"
    if stage.kind == "ab":
        return "spec.analysis.match"
    return "spec.analysis.stepWeights" if analysis.step_weights else "spec.analysis.stepWeight"


def _ab(load: LoadSpec, field: str, share: float) -> list[SpecIssue]:
    if share <= 0:
        return [
            SpecIssue(
                "spec.load.cohorts",
                f"no request of the load satisfies {field}: the A/B stage sends the challenger "
                "nothing, so its checks get no data and the rollout cannot promote",
                "send a cohort: .load(..., cohorts=0.2) (YAML: load.cohorts: [{share: 0.2}]): "
                "20 % of requests then satisfy the first match condition",
            )
        ]
    if share >= 1 - 1e-9:
        by_headers = not load.cohorts or sum(c.share for c in load.cohorts) < 1 - 1e-9
        return [
            SpecIssue(
                "spec.load.headers" if by_headers else "spec.load.cohorts",
                f"every request of the load satisfies {field}: the champion gets no requests "
                "in the A/B stage, so nothing is compared with the challenger",
                "send the match on a share only: drop it from load.headers and use "
                ".load(..., cohorts=0.2)"
                if by_headers
                else "make the cohorts' shares add up to less than 1 (e.g. 0.2)",
            )
        ]
    return []


def _too_few(rps: float, interval: float, small: list[tuple[str, str, float]]) -> list[SpecIssue]:
    short = [item for item in small if rps * interval * item[2] < FEW_REQUESTS]
    if not short:
        return []
    least = min(share for _, _, share in short)
    need = math.ceil(AIM_REQUESTS / (interval * least))
    grouped: dict[str, list[str]] = {}
    for field, what, _ in short:
        grouped.setdefault(field, []).append(what)
    listed = "; ".join(f"{field} ({', '.join(whats)})" for field, whats in grouped.items())
    return [
        SpecIssue(
            "spec.load.rps",
            f"at {rps:g} requests/s and a {interval:g}s interval the challenger gets fewer than "
            f"one request per interval on average at {listed}: an interval without "
            "challenger data cannot pass",
            f"raise load.rps to {need} or more (about {AIM_REQUESTS} requests per interval), "
            "or lengthen analysis.interval",
        )
    ]


def _after_stop(load: LoadSpec, field: str, stage: Stage, start: float) -> SpecIssue:
    return SpecIssue(
        "spec.load.duration",
        f"the load stops after {load.duration}, but {field} ({stage.describe()}) starts "
        f"about {start:g}s into the rollout and gets no requests",
        "remove load.duration (the load then runs until the rollout ends) or lengthen it",
    )
