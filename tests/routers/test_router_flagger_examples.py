"""Flagger's own Canary examples, converted, drive every router through their whole plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from router_schemas import assert_valid

from modelcanary.convert import from_flagger
from modelcanary.rollout._commands import Routes
from modelcanary.routers import MemoryObjectStore, RouterSet
from modelcanary.spec import load_documents, parse_rollout
from modelcanary.spec._plan import promotion_weights, stages

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "flagger-examples"
FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_examples_are_there() -> None:
    names = {f.name for f in FILES}
    assert {
        "istio-abtest.yaml",
        "istio-canary.yaml",
        "kuma-canary.yaml",
        "linkerd-canary.yaml",
    } <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_flagger_example_renders_valid_objects_at_every_stage(path: Path) -> None:
    converted = from_flagger(load_documents(path.read_text(encoding="utf-8")))
    rollout = parse_rollout(converted.documents[0])
    provider = rollout.spec.router.provider
    assert provider in {"istio", "kuma", "linkerd"}
    store = MemoryObjectStore()
    routers = RouterSet(store)
    routers.reconcile(rollout)
    assert_valid(list(store))
    plan = stages(rollout.spec.analysis)
    assert plan
    seen = []
    for stage in plan:
        routes = stage.routes(rollout.spec.analysis.session_affinity)
        routers.set_routes(rollout, routes)
        assert_valid(list(store))
        assert routers.get_routes(rollout) == routes
        seen.append(routes)
    for weight in promotion_weights(rollout.spec.analysis, seen[-1].challenger_weight):
        routes = Routes(champion_weight=100 - weight, challenger_weight=weight)
        routers.set_routes(rollout, routes)
        assert routers.get_routes(rollout) == routes
    if rollout.spec.analysis.strategy == "ab":
        vs = store.get("networking.istio.io/v1", "VirtualService", "test", "podinfo")
        assert vs is not None
        routers.set_routes(rollout, seen[0])
        vs = store.get("networking.istio.io/v1", "VirtualService", "test", "podinfo")
        assert vs is not None
        first = vs["spec"]["http"][0]
        # Flagger's header regexes kept; the apex match (uri prefix /) is ANDed in
        assert first["match"][0]["uri"] == {"prefix": "/"}
        assert first["match"][0]["headers"]["cookie"] == {"regex": "^(.*?;)?(type=insider)(;.*)?$"}
        assert first["rewrite"] == {"uri": "/"}
    routers.finalize(rollout)
    assert len(store) == 0
