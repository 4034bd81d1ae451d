"""Traffic plans (shadow, canary weights, A/B matches, blue/green, custom steps) as fragments.

Each plan is kept as a partial :class:`~modelcanary.spec.Analysis` holding only the plan's
own fields, validated when it is made so errors carry their ``spec.analysis...`` path. How
several plans of one rollout combine (one plan with a shadow phase, or an ordered chain of
stages) is :mod:`._chain`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from modelcanary.spec import Analysis, MatchCondition, Step, StringMatch

from ._util import as_list, drop_none, fail, validated

PlanKind = Literal["shadow", "canary", "ab", "bluegreen", "steps"]
PLAN_METHODS: dict[str, str] = {
    "shadow": "shadow()",
    "canary": "canary()",
    "ab": "ab_test()",
    "bluegreen": "blue_green()",
    "steps": "steps()",
}
"""The builder method that sets each kind of plan (used in messages)."""

_ANALYSIS = ("spec", "analysis")
MATCH_OPTIONS = frozenset(
    {"cookie", "query_param", "body_field", "prefix", "suffix", "regex"}
    | {"headers", "cookies", "query_params", "body", "source_labels"}
)
"""Keyword arguments of ``Rollout.ab_test`` besides header, value, iterations and match."""
_MATCH = "spec.analysis.match[0]"


class Plan(BaseModel):
    """The traffic plan: its kind and the Analysis fields it sets. Immutable."""

    model_config = ConfigDict(frozen=True, defer_build=True)  # validators made on first use

    kind: PlanKind
    """shadow, canary, ab, bluegreen or steps."""
    settings: Analysis
    """A partial Analysis: only the plan's fields are set."""


def _plan(kind: PlanKind, **fields: Any) -> Plan:
    return Plan(kind=kind, settings=validated(Analysis, drop_none(**fields), _ANALYSIS))


def step(
    weight: int = 0,
    duration: str | None = None,
    *,
    iterations: int | None = None,
    pause: bool = False,
    mirror_weight: int | None = None,
    match: Any = None,
    header: str | None = None,
    value: str | None = None,
) -> Step:
    """One custom step: hold ``weight`` percent for ``duration`` or ``iterations`` passing
    intervals, or ``pause`` for approval; ``mirror_weight`` alone is a shadow step, and
    ``match=[...]`` (or ``header=``/``value=``) an A/B step routing only matching requests."""
    cond = match_condition(header=header, value=value)
    extra = [] if match is None else as_list(match, "step.match", "[{'headers': {...}}]")
    conditions = ([cond] if cond else []) + [
        c.to_dict() if isinstance(c, MatchCondition) else c for c in extra
    ]
    data = drop_none(
        weight=weight or None,
        duration=duration,
        iterations=iterations,
        pause=pause or None,
        mirrorWeight=mirror_weight,
        match=conditions or None,
    )
    return validated(Step, data, ("step",))


def shadow_plan(percent: int, iterations: int) -> Plan:
    """A mirror-only phase: ``percent`` of requests copied to the challenger for N intervals."""
    return _plan("shadow", mirror=True, mirrorWeight=percent, shadow={"iterations": iterations})


def canary_plan(
    steps: Any = None,
    step: int | None = None,
    max_weight: int | None = None,
    promotion_step: int | None = None,
) -> Plan:
    """A weighted canary: explicit ``steps`` weights, or ``step`` percent per interval."""
    if (steps is None) == (step is None):
        fail(
            "spec.analysis.stepWeights",
            "give exactly one of steps=[...] or step=N",
            "e.g. canary(steps=[5, 10, 25, 50]) or canary(step=10, max_weight=50)",
        )
    weights = (
        None if steps is None else as_list(steps, "spec.analysis.stepWeights", "[5, 10, 25, 50]")
    )
    return _plan(
        "canary",
        stepWeights=weights,
        stepWeight=step,
        maxWeight=max_weight,
        stepWeightPromotion=promotion_step,
    )


def _matches(mapping: Any, field: str) -> dict[str, Any]:
    """``{"x-cohort": "beta"}`` -> ``{"x-cohort": {"exact": "beta"}}``; dicts left to validation."""
    if not isinstance(mapping, Mapping):
        fail(
            f"{_MATCH}.{field}",
            f"expected a mapping, got {type(mapping).__name__}",
            "e.g. {'x-cohort': 'beta'} or {'x-cohort': {'prefix': 'be'}}",
        )
    return {str(k): _string_match(v) for k, v in mapping.items()}


def _string_match(value: Any) -> Any:
    """A plain string is an exact match; a StringMatch becomes data; dicts go to validation."""
    if isinstance(value, str):
        return {"exact": value}
    return value.to_dict() if isinstance(value, StringMatch) else value


def match_condition(**kw: Any) -> dict[str, Any] | None:
    """One A/B condition from keyword arguments (all parts must match), or None if none given.

    ``header``/``cookie``/``query_param``/``body_field`` name one key matched by exactly one of
    ``value``/``prefix``/``suffix``/``regex``; ``headers``/``cookies``/``query_params``/``body``
    map more keys to values (a plain string is an exact match).
    """
    matcher = drop_none(
        exact=kw.get("value"),
        prefix=kw.get("prefix"),
        suffix=kw.get("suffix"),
        regex=kw.get("regex"),
    )
    keys = drop_none(
        headers=kw.get("header"),
        cookies=kw.get("cookie"),
        queryParams=kw.get("query_param"),
        body=kw.get("body_field"),
    )
    if len(keys) > 1:
        fail(
            _MATCH,
            "give only one of header, cookie, query_param, body_field",
            "match several keys with headers={...}, cookies={...}, query_params={...}, body={...}",
        )
    if keys and len(matcher) != 1:
        fail(
            f"{_MATCH}.{next(iter(keys))}",
            "needs exactly one of value, prefix, suffix, regex",
            "e.g. ab_test(header='x-cohort', value='beta')",
        )
    if matcher and not keys:
        fail(
            _MATCH,
            "value/prefix/suffix/regex need a header, cookie, query_param or body_field",
            "e.g. ab_test(header='x-cohort', value='beta')",
        )
    condition: dict[str, Any] = {}
    for field, arg in (
        ("headers", "headers"),
        ("cookies", "cookies"),
        ("queryParams", "query_params"),
        ("body", "body"),
    ):
        if kw.get(arg) is not None:
            condition[field] = _matches(kw[arg], field)
    for field, key in keys.items():
        condition.setdefault(field, {})[str(key)] = matcher
    labels = kw.get("source_labels")
    if labels is not None:
        if not isinstance(labels, Mapping):
            fail(
                f"{_MATCH}.sourceLabels",
                "expected a mapping of label to value",
                "e.g. source_labels={'app': 'checkout'}",
            )
        condition["sourceLabels"] = dict(labels)
    return condition or None


def ab_plan(condition: dict[str, Any] | None, match: Any, iterations: int) -> Plan:
    """An A/B test: requests matching any condition go to the challenger for N intervals."""
    extra = (
        []
        if match is None
        else as_list(match, "spec.analysis.match", "[{'headers': {'x-cohort': {'exact': 'beta'}}}]")
    )
    conditions = ([condition] if condition else []) + [
        c.to_dict() if isinstance(c, MatchCondition) else c for c in extra
    ]
    if not conditions:
        fail(
            "spec.analysis.match",
            "an A/B test needs at least one match condition",
            "e.g. ab_test(header='x-cohort', value='beta') or ab_test(match=[{...}])",
        )
    return _plan("ab", iterations=iterations, match=conditions)


def blue_green_plan(iterations: int, mirror: bool, mirror_weight: int | None) -> Plan:
    """Blue/green: the challenger gets test traffic (or mirrored copies) for N intervals."""
    if mirror_weight is not None and not mirror:
        fail(
            "spec.analysis.mirrorWeight",
            "is set but mirror is False",
            "pass blue_green(mirror=True, mirror_weight=...)",
        )
    return _plan(
        "bluegreen", iterations=iterations, mirror=mirror or None, mirrorWeight=mirror_weight
    )


def steps_plan(items: tuple[Any, ...]) -> Plan:
    """Custom steps from :func:`step` results or dicts (one list argument also works)."""
    if len(items) == 1 and not isinstance(items[0], Step | Mapping):
        items = tuple(as_list(items[0], "spec.analysis.steps", "[mc.step(5, '5m')]"))
    if not items:
        fail(
            "spec.analysis.steps",
            "needs at least one step",
            "e.g. steps(mc.step(weight=5, duration='5m'), mc.step(weight=50, pause=True))",
        )
    return _plan("steps", steps=[s.to_dict() if isinstance(s, Step) else s for s in items])


def describe_plan(analysis: Analysis) -> str:
    """The traffic plan in a few words, e.g. ``canary [5, 10, 25, 50] every 1m``."""
    prefix = ""
    if analysis.shadow is not None:
        pct = 100 if analysis.mirror_weight is None else analysis.mirror_weight
        prefix = f"shadow {pct}% for {analysis.shadow.iterations} intervals, then "
    has_plan = bool(
        analysis.steps or analysis.iterations or analysis.step_weight or analysis.step_weights
    )
    if not has_plan:
        return prefix + "no traffic plan"
    kind = analysis.strategy
    if kind == "steps":
        text = "steps " + ", ".join(describe_step(s) for s in analysis.steps or [])
    elif kind == "ab":
        text = f"A/B on {describe_match(analysis.match or [])} for {analysis.iterations} intervals"
    elif kind == "bluegreen":
        mirrored = " (mirrored)" if analysis.mirror and analysis.shadow is None else ""
        text = f"blue/green{mirrored} for {analysis.iterations} intervals"
    else:
        text = f"canary {analysis.weights()}"
    return f"{prefix}{text} every {analysis.interval}"


def describe_step(s: Step) -> str:
    """``shadow 100%``, ``20%``, ``A/B on header x-cohort=beta``, with how long it is held."""
    if s.kind == "ab":
        text = f"A/B on {describe_match(s.match or [])}"
    elif s.kind == "shadow":
        text = f"shadow {s.mirror_weight}%"
    elif s.kind == "step":
        text = "hold"
    else:
        text = f"{s.weight}%" + (f" (mirror {s.mirror_weight}%)" if s.mirror_weight else "")
    if s.duration:
        text += f" for {s.duration}"
    elif s.iterations and s.iterations > 1:
        text += f" for {s.iterations} intervals"
    return text + (" + pause" if s.pause else "")


def describe_match(conditions: list[MatchCondition]) -> str:
    """``header x-cohort=beta`` for one simple condition, else ``N conditions``."""
    if len(conditions) != 1:
        return f"{len(conditions)} conditions"
    parts: list[str] = []
    cond = conditions[0]
    for label, group in (
        ("header", cond.headers),
        ("cookie", cond.cookies),
        ("query", cond.query_params),
        ("body", cond.body),
    ):
        for key, m in (group or {}).items():
            op, val = next((k, v) for k, v in m.to_dict().items())
            parts.append(f"{label} {key}{'=' if op == 'exact' else f' {op} '}{val}")
    for key, val in (cond.source_labels or {}).items():
        parts.append(f"source {key}={val}")
    return " and ".join(parts)
