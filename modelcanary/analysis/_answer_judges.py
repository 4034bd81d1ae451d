"""Deterministic judges of LLM answers, and the pairwise outcome they give (pure, no I/O).

A judge scores one answer (``True``: good) and says why; :func:`pairwise` turns two scores
into the challenger's outcome: ``win`` (only the challenger's answer is good), ``loss`` (only
the champion's), ``tie`` (both or neither). The outcomes feed the sequential win-rate test
(:mod:`modelcanary.analysis._winrate`).

- ``exact``: the answer equals the reference, character for character (trimmed);
- ``normalised``: equal after lowercasing, collapsing spaces and stripping surrounding
  punctuation and quotes (the usual "normalised exact match" of QA benchmarks);
- ``contains``: the normalised reference occurs in the normalised answer;
- ``json``: the answer parses as JSON and, with a schema, satisfies it (the subset of JSON
  Schema these checks cover: ``type``, ``required``, ``properties``, ``items``, ``enum``,
  ``minimum``/``maximum``, ``minLength``/``maxLength``, ``additionalProperties: false``);
- ``regex``: the pattern matches somewhere in the answer;
- ``refusal``: the answer is *not* a refusal (its opening matches no refusal phrase);
- ``length``: the answer's length is within ``[low, high]`` times the reference's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..spec._llm import ANSWER_JUDGE_NAMES

Outcome = Literal["win", "tie", "loss"]
JUDGES = ANSWER_JUDGE_NAMES
"""Names of the deterministic judges (a metric's ``evaluator``; the spec's list)."""
REFUSAL_PHRASES = (
    "i'm sorry",
    "i am sorry",
    "i can't",
    "i cannot",
    "i can not",
    "i won't",
    "i will not",
    "i'm unable",
    "i am unable",
    "as an ai",
    "i must decline",
    "sorry, but",
)
"""Openings of a refusal (lowercase): checked against the answer's first 80 characters."""
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Judgement:
    """One answer's score and the reason, kept per request so a person can read why."""

    good: bool
    reason: str


def normalise(text: str) -> str:
    """Lowercase, single spaces, no surrounding punctuation or quotes."""
    return _SPACE.sub(" ", text.strip().strip(".!?;:,\"'`").strip().lower())


def is_refusal(text: str) -> bool:
    """True when the answer opens like a refusal."""
    head = normalise(text)[:80].replace("\u2019", "'")
    return any(head.startswith(p) or f" {p}" in head[:40] for p in REFUSAL_PHRASES)


def schema_errors(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """Why ``value`` does not satisfy ``schema`` (the subset named in the module docstring)."""
    errors: list[str] = []
    kind = schema.get("type")
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "null": type(None),
    }
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif isinstance(kind, str):
        ok = isinstance(value, types.get(kind, object))
    else:
        ok = True
    if not ok:
        return [f"{path}: expected {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} > maximum {schema['maximum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']}")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        errors += [f"{path}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected {key!r}")
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{path}[{i}]")
    return errors


def judge_answer(
    judge: str,
    answer: str,
    *,
    reference: str | None = None,
    pattern: str | None = None,
    schema: Mapping[str, Any] | None = None,
    length: tuple[float, float] = (0.5, 2.0),
) -> Judgement:
    """Score one answer with the deterministic ``judge``; ValueError naming what is missing."""
    if judge in ("exact", "normalised", "contains", "length") and reference is None:
        raise ValueError(f"the {judge} judge needs the request's reference answer")
    if judge == "exact":
        good = answer.strip() == str(reference).strip()
        return Judgement(good, "equals the reference" if good else "differs from the reference")
    if judge == "normalised":
        good = normalise(answer) == normalise(str(reference))
        return Judgement(good, "matches the reference" if good else "does not match the reference")
    if judge == "contains":
        good = normalise(str(reference)) in normalise(answer)
        return Judgement(good, "contains the reference" if good else "lacks the reference")
    if judge == "json":
        try:
            value = json.loads(answer)
        except json.JSONDecodeError as exc:
            return Judgement(False, f"not JSON: {exc.msg} at {exc.pos}")
        problems = schema_errors(value, schema) if schema else []
        return Judgement(not problems, "; ".join(problems[:3]) or "valid JSON")
    if judge == "regex":
        if pattern is None:
            raise ValueError("the regex judge needs a pattern")
        good = re.search(pattern, answer) is not None
        return Judgement(good, f"{'matches' if good else 'does not match'} /{pattern}/")
    if judge == "refusal":
        refused = is_refusal(answer)
        return Judgement(not refused, "a refusal" if refused else "answered")
    if judge == "length":
        low, high = length
        ratio = len(answer) / max(1, len(str(reference)))
        good = low <= ratio <= high
        return Judgement(good, f"length ratio {ratio:.2f} ({'inside' if good else 'outside'})")
    raise ValueError(f"unknown judge {judge!r}; use one of {', '.join(JUDGES)}")


def pairwise(champion: Judgement, challenger: Judgement) -> Outcome:
    """The challenger's outcome from the two answers' scores."""
    if challenger.good == champion.good:
        return "tie"
    return "win" if challenger.good else "loss"
