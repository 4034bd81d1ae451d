"""Hypothesis fuzzing: any input gives a ModelRollout or a SpecError, never another exception;
and whatever pydantic accepts, the generated CRD schema accepts too."""

from __future__ import annotations

import contextlib
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from k8s_schema import errors
from spec_cases import base

from modelcanary.errors import SpecError
from modelcanary.spec import parse_rollout, parse_rollout_yaml, to_yaml
from modelcanary.spec._crd import crd

CRD = crd()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 500),
    st.floats(allow_nan=True),
    st.sampled_from(
        [
            "",
            "1m",
            "30s",
            "0s",
            "5%",
            "istio",
            "local",
            "models:/m@a",
            "http://h:1",
            "error-rate",
            "latency-p99",
            "sequential",
            "champion",
            "fail",
            "x" * 70,
        ]
    ),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=6), kids, max_size=3)
    ),
    max_leaves=6,
)

FIELDS = [
    "stepWeights",
    "stepWeight",
    "maxWeight",
    "iterations",
    "mirror",
    "mirrorWeight",
    "shadow",
    "match",
    "metrics",
    "webhooks",
    "alerts",
    "steps",
    "interval",
    "threshold",
    "noData",
    "sessionAffinity",
    "champion",
    "challenger",
    "targetRef",
    "router",
    "service",
    "load",
    "thresholdRange",
    "name",
    "relativeTo",
    "judge",
    "method",
    "provider",
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    doc = base()
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["set", "delete", "add"]))
        if action == "set":
            parent[path[-1]] = draw(json_values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(FIELDS))] = draw(json_values)
    return doc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_only_spec_errors_and_crd_agrees(doc: dict[str, Any]) -> None:
    try:
        rollout = parse_rollout(doc)
    except SpecError as exc:
        assert exc.issues and all(i.message for i in exc.issues)
        return
    # accepted by pydantic: the CRD must accept the normalised object, and YAML must round-trip
    assert errors(CRD, rollout.to_dict()) == []
    assert parse_rollout_yaml(to_yaml(rollout)) == rollout


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_is_rejected_cleanly(text: str) -> None:
    with contextlib.suppress(SpecError):
        parse_rollout_yaml(text)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_arbitrary_yaml_documents(value: Any) -> None:
    with contextlib.suppress(SpecError):
        parse_rollout_yaml(yaml.safe_dump(value))
