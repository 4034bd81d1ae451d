"""Mutation sweep over examples/*.yaml (issue 12, item 10: 23 of 268 mutated specs passed).

Every value of every example is replaced, one at a time, by a wrong type, a negative or huge
number, NaN/inf, a quoted number, an empty string, an unknown enum word, text with a space
or a CR/LF. Each mutant must be refused with a SpecError naming a path - unless the mutant is
a legitimate spec, listed below with the reason. A new field whose mutants slip through fails
this test until it is validated or its leniency is justified here.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelcanary.errors import SpecError
from modelcanary.spec import parse_rollout

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))

# (path pattern, mutation kinds): mutants that are valid specs, and why
ALLOWED: list[tuple[str, str, str]] = [
    ("metadata.name", "enum", "'bogus-value' is a valid name"),
    ("metadata.namespace", "enum", "a valid namespace"),
    ("metadata.labels", "empty", "no labels"),
    ("metadata.labels.*", "empty enum", "Kubernetes allows empty label values"),
    ("spec.*.modelUri", "enum", "a local model directory name"),
    ("spec.*.env", "empty", "no environment"),
    ("spec.*.env.*", "empty enum space ctl", "environment values are free text"),
    ("spec.router", "empty", "defaults: the local router"),
    ("spec.load", "empty", "payloads can be given to the SDK instead of a file"),
    ("spec.load.rps", "fraction", "rates need not be whole"),
    ("spec.load.requests", "enum space", "a file name (its existence is checked at run time)"),
    ("spec.analysis.shadow", "empty", "defaults: one mirror-only interval"),
    ("spec.analysis.sessionAffinity.cookieName", "enum", "'bogus-value' is a token"),
    ("spec.analysis.metrics", "empty", "the example also has webhooks, which are checks"),
    ("spec.analysis.webhooks", "empty", "the example also has metrics"),
    ("spec.analysis.alerts", "empty", "alerts are optional"),
    ("spec.analysis.metrics.*.thresholdRange.*", "huge fraction", "any finite bound"),
    ("spec.analysis.metrics.*.tolerance", "huge", "any finite tolerance"),
    ("spec.analysis.metrics.*.name", "enum space", "a custom query's free-text name"),
    ("spec.analysis.metrics.*.query", "enum space ctl", "queries are multi-line text"),
    ("spec.analysis.metrics.*.provider", "empty", "defaults: the runtime's backend"),
    ("spec.analysis.metrics.5.thresholdRange.min", "negative", "a custom query can go negative"),
    ("spec.analysis.webhooks.*.name", "enum space", "Flagger webhook names are free text"),
    ("spec.analysis.webhooks.*.metadata", "empty", "no metadata"),
    ("spec.analysis.webhooks.*.metadata.*", "empty enum space ctl", "payload values (scripts)"),
    ("spec.analysis.alerts.*.name", "enum space", "alert names are free text"),
    ("spec.analysis.alerts.*.provider.channel", "enum space", "a channel name"),
    ("spec.analysis.alerts.*.provider.secretRef.env", "enum", "'bogus-value' is a variable"),
]


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if path:
        yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, i))


def _mutations(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "maybe", "int": 2, "numstr": "true"}
    if isinstance(value, int):
        return {
            "type": "abc",
            "numstr": str(value),
            "negative": -1,
            "huge": 10**30,
            "fraction": 1.5,
        }
    if isinstance(value, float):
        return {"type": "abc", "numstr": str(value), "negative": -1.0, "huge": 1e300}
    if isinstance(value, str):
        return {"type": 12345, "empty": "", "enum": "bogus-value", "space": "a b", "ctl": "x\r\ny"}
    if isinstance(value, list):
        return {"type": "not a list", "empty": []}
    if isinstance(value, dict):
        return {"type": "not a {mapping}", "empty": {}}
    return {}


def _extra(value: Any) -> dict[str, Any]:
    return {"nan": float("nan"), "inf": float("inf")} if isinstance(value, float) else {}


def _allowed(path: str, kind: str) -> bool:
    return any(fnmatch.fnmatchcase(path, p) and kind in k.split() for p, k, _ in ALLOWED)


def _sweep(file: Path) -> tuple[int, list[str]]:
    base = yaml.safe_load(file.read_text(encoding="utf-8"))
    parse_rollout(base)  # the example itself is valid
    count, slipped = 0, []
    for path, value in list(_leaves(base)):
        for kind, new in {**_mutations(value), **_extra(value)}.items():
            doc = copy.deepcopy(base)
            node = doc
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = new
            count += 1
            dotted = ".".join(map(str, path))
            try:
                parse_rollout(doc)
            except SpecError as exc:
                assert exc.issues and all(i.message for i in exc.issues), (dotted, kind)
                continue
            if not _allowed(dotted, kind):
                slipped.append(f"{dotted} <- {kind} {new!r}")
    return count, slipped


@pytest.mark.parametrize("file", EXAMPLES, ids=[f.name for f in EXAMPLES])
def test_mutated_examples_are_refused(file: Path) -> None:
    count, slipped = _sweep(file)
    assert count > 50, count
    assert slipped == [], f"{len(slipped)} of {count} invalid mutants accepted: {slipped}"
