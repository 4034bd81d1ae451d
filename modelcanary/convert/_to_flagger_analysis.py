"""ModelRollout ``spec.analysis`` -> Flagger ``spec.analysis``: traffic plan, matches, webhooks."""

from __future__ import annotations

import re
from typing import Any

from ..spec import Analysis, MatchCondition, ModelRollout, StringMatch, Webhook, parse_duration
from ..spec._traffic import cookie_regex
from ._common import Notes, alias, dump, flagger_duration, given
from ._to_flagger_metrics import alerts_to_flagger, metrics_to_flagger

BASE = "spec.analysis"
COPIED = (
    "max_weight",
    "step_weight",
    "step_weights",
    "step_weight_promotion",
    "iterations",
    "mirror",
    "mirror_weight",
    "primary_ready_threshold",
    "canary_ready_threshold",
)
NOT_IN_FLAGGER = {
    "no_data": "Flagger always counts a metric without data as a failed check (noData: fail)",
    "inconclusive_limit": "Flagger has no inconclusive outcome",
    "score_thresholds": "Flagger has no weighted score (mann-whitney judge)",
    "group_weights": "Flagger has no weighted score (mann-whitney judge)",
}


def analysis_to_flagger(
    rollout: ModelRollout, notes: Notes
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Flagger analysis, plus the MetricTemplates/AlertProviders it refers to."""
    analysis = rollout.spec.analysis
    out: dict[str, Any] = {
        "interval": flagger_duration(analysis.interval, f"{BASE}.interval", notes),
        "threshold": analysis.threshold,
    }
    for field, default in (("interval", "1m"), ("threshold", "1")):
        if field not in analysis.model_fields_set:
            notes.add(
                f"{BASE}.{field}",
                f"not set; wrote modelcanary's default {default} (Flagger requires it)",
            )
    if parse_duration(analysis.interval) < 10:
        notes.add(f"{BASE}.interval", "Flagger runs the analysis at most every 10s")
    for field in COPIED:
        if getattr(analysis, field) is not None and given(analysis, field):
            out[alias(Analysis, field)] = getattr(analysis, field)
    if analysis.steps:
        out["stepWeights"] = _steps(analysis, notes)
    _mirror(analysis, notes)
    if analysis.match:
        out["match"] = _matches(analysis.match, notes)
    if analysis.session_affinity is not None:
        out["sessionAffinity"] = dump(analysis.session_affinity)
    metrics, docs = metrics_to_flagger(rollout, notes)
    if metrics or "metrics" in analysis.model_fields_set:
        out["metrics"] = metrics
    if analysis.webhooks or "webhooks" in analysis.model_fields_set:
        out["webhooks"] = [_webhook(w, i, notes) for i, w in enumerate(analysis.webhooks)]
    alerts, providers = alerts_to_flagger(rollout, notes)
    if alerts or "alerts" in analysis.model_fields_set:
        out["alerts"] = alerts
    for field, why in NOT_IN_FLAGGER.items():
        if given(analysis, field):
            notes.add(f"{BASE}.{alias(Analysis, field)}", f"dropped: {why}")
    return out, [*docs, *providers]


def _steps(analysis: Analysis, notes: Notes) -> list[int]:
    """Custom steps as stepWeights: each weight is held for one interval.

    Flagger has no ordered stages of different kinds: an A/B step (``match``) inside a plan
    cannot be written, so it is refused; shadow steps and pauses are dropped with a note.
    """
    steps = analysis.steps or []
    plain = all(
        (s.duration is not None or s.iterations == 1)
        and not s.pause
        and s.mirror_weight is None
        and not s.match
        for s in steps
    )
    weights: list[int] = []
    for i, step in enumerate(steps):
        path = f"{BASE}.steps[{i}]"
        if step.match:
            notes.issue(
                f"{path}.match",
                "is an A/B step inside a plan of steps: Flagger has no ordered stages of "
                "different kinds (its A/B test is a whole plan: iterations + match)",
                "convert a rollout whose analysis is one A/B test (iterations + match, "
                "optionally mirror: true), or keep this rollout in modelcanary",
            )
            continue
        if step.weight == 0 or (weights and step.weight <= weights[-1]):
            notes.add(path, f"dropped: weight {step.weight}; Flagger stepWeights rise above 0")
            continue
        weights.append(step.weight)
        if step.pause:
            notes.add(f"{path}.pause", "dropped: use a confirm-traffic-increase webhook to gate")
        if step.mirror_weight is not None:
            notes.add(f"{path}.mirrorWeight", "dropped: Flagger mirrors only before shifting")
    held = ", ".join(
        s.duration or (f"{s.iterations} intervals" if s.iterations else "pause") for s in steps
    )
    kind = "plain weight+duration steps" if plain else "steps (pauses/mirrors dropped)"
    notes.add(
        f"{BASE}.steps",
        f"{kind} became stepWeights {weights}: each weight is held for "
        f"one interval ({analysis.interval}) instead of its duration "
        f"({held})",
    )
    if not weights and not any(s.match for s in steps):
        notes.issue(
            f"{BASE}.steps",
            "has no weight above 0",
            "give steps with increasing weights, e.g. [{weight: 10, duration: 5m}]",
        )
    return weights


def _mirror(analysis: Analysis, notes: Notes) -> None:
    if analysis.shadow is not None:
        count = analysis.shadow.iterations
        text = "became mirror: Flagger mirrors for one interval before shifting weight"
        if count != 1:
            text += f"; iterations {count} is not representable (Flagger always mirrors once)"
        notes.add(f"{BASE}.shadow", text)
    elif analysis.mirror and analysis.strategy == "canary":
        notes.add(
            f"{BASE}.mirror",
            "with a weighted canary, Flagger mirrors for one interval "
            "before shifting weight, then stops mirroring",
        )


def _matches(conditions: list[MatchCondition], notes: Notes) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, cond in enumerate(conditions):
        path = f"{BASE}.match[{i}]"
        item: dict[str, Any] = {}
        headers = {k: dump(v) for k, v in (cond.headers or {}).items()}
        for j, (name, match) in enumerate((cond.cookies or {}).items()):
            where = f"{path}.cookies.{name}"
            if j or any(h.lower() == "cookie" for h in headers):
                notes.add(
                    where,
                    "dropped: Flagger matches one Cookie header per condition, so "
                    "this condition now matches more requests",
                )
                continue
            headers["cookie"] = {"regex": cookie_regex(name, match)}
            notes.add(
                where, f"approximated by the Cookie header regex {headers['cookie']['regex']}"
            )
        if headers:
            item["headers"] = headers
        if cond.query_params:
            item["queryParams"] = {
                k: _query_param(v, f"{path}.queryParams.{k}", notes)
                for k, v in cond.query_params.items()
            }
        if cond.source_labels:
            item["sourceLabels"] = dict(cond.source_labels)
        if cond.body:
            notes.add(f"{path}.body", "dropped: Flagger cannot route on the request body")
        if item:
            out.append(item)
        else:
            notes.add(
                path,
                "dropped: nothing representable left; without it more requests go "
                "to the challenger",
            )
    if not out:
        notes.add(f"{BASE}.match", "dropped: with iterations and no match Flagger runs blue/green")
    return out


def _query_param(match: StringMatch, path: str, notes: Notes) -> dict[str, str]:
    if match.suffix is not None:
        notes.add(path, "suffix written as a regex (Flagger query matches have no suffix)")
        return {"regex": ".*" + re.escape(match.suffix)}
    return dump(match)


def _webhook(hook: Webhook, i: int, notes: Notes) -> dict[str, Any]:
    out = dump(hook)
    if out.pop("secretRef", None) is not None:  # Flagger webhooks send no credentials
        notes.add(
            f"{BASE}.webhooks[{i}].secretRef",
            "dropped: Flagger webhooks carry no token (protect the gate with a NetworkPolicy)",
        )
    if "timeout" in out:
        out["timeout"] = flagger_duration(hook.timeout, f"{BASE}.webhooks[{i}].timeout", notes)
    return out  # field names (disableTLS included) are Flagger's
