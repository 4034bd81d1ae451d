"""Provider ``kubernetes``: the spec refuses split weights, the router switches the apex
Service's selector (0 or 100 %) and validates against the Kubernetes schema."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from router_cases import SERVICES, rollout, service
from router_schemas import assert_valid

from modelcanary.errors import RouterError, SpecError
from modelcanary.rollout._commands import Routes
from modelcanary.routers import ROUTERS, MemoryObjectStore
from modelcanary.spec import parse_rollout

APEX = ("v1", "Service", "ml", "fraud")
TO_CHALLENGER = Routes(champion_weight=0, challenger_weight=100)


def _doc(**analysis: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "fraud", "namespace": "ml"},
        "spec": {
            "targetRef": {"name": "fraud"},
            "router": {"provider": "kubernetes"},
            "analysis": {
                "interval": "1m",
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
                **analysis,
            },
        },
    }


@pytest.mark.parametrize(
    ("analysis", "paths"),
    [
        ({"stepWeight": 10, "maxWeight": 50}, ["spec.analysis.stepWeight"]),
        (
            {"stepWeights": [20, 100]},
            ["spec.analysis.stepWeights[0]"],  # 100 is a switch: allowed
        ),
        (
            {"steps": [{"weight": 40, "iterations": 2}, {"weight": 100, "iterations": 1}]},
            ["spec.analysis.steps[0].weight"],
        ),
        (
            {"stepWeights": [100], "stepWeightPromotion": 25},
            ["spec.analysis.stepWeightPromotion"],
        ),
    ],
)
def test_a_split_plan_is_refused_naming_the_field_and_the_fix(
    analysis: dict[str, Any], paths: list[str]
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_rollout(_doc(**analysis))
    issues = caught.value.issues
    assert [i.path for i in issues] == paths
    for issue in issues:
        assert "provider kubernetes sends all traffic to one version" in issue.message
    if "stepWeightPromotion" not in paths[0]:
        assert "iterations" in issues[0].hint and "istio" in issues[0].hint


def test_blue_green_is_valid_and_mirror_or_ab_are_refused_from_the_capability_table() -> None:
    assert parse_rollout(_doc(iterations=10)).spec.analysis.strategy == "bluegreen"
    with pytest.raises(SpecError, match=r"spec.analysis.mirror: provider kubernetes cannot mirror"):
        parse_rollout(_doc(iterations=10, mirror=True))
    with pytest.raises(SpecError, match=r"steps\[0\].match\[0\].headers: provider kubernetes"):
        parse_rollout(
            _doc(steps=[{"match": [{"headers": {"x": {"exact": "1"}}}], "iterations": 2}])
        )


@pytest.mark.parametrize("routes", [Routes(), TO_CHALLENGER])
def test_the_apex_selects_one_version_and_validates(routes: Routes) -> None:
    store = MemoryObjectStore(copy.deepcopy(SERVICES))
    router = ROUTERS["kubernetes"](store)
    ro = rollout("kubernetes")
    router.set_routes(ro, routes)
    apex = store.get(*APEX)
    assert apex is not None
    wanted = "fraud" if routes.challenger_weight else "fraud-primary"
    assert apex["spec"]["selector"] == {"app": wanted}
    assert router.get_routes(ro) == routes
    assert_valid(list(store))


@pytest.mark.parametrize("weight", [1, 10, 50, 99])
def test_a_partial_weight_writes_nothing(weight: int) -> None:
    store = MemoryObjectStore(copy.deepcopy(SERVICES))
    before = list(store)
    with pytest.raises(RouterError, match=rf"cannot send {weight}% .*blue/green plan"):
        ROUTERS["kubernetes"](store).set_routes(
            rollout("kubernetes"), Routes(champion_weight=100 - weight, challenger_weight=weight)
        )
    assert list(store) == before


def test_the_stored_apex_is_kept_but_its_selector() -> None:
    """Labels, annotations, type and ports stay as the workloads (or the user) wrote them;
    the store's last-applied record and no routes annotation are added."""
    apex = service("fraud", "fraud-primary")
    apex["metadata"]["annotations"] = {
        "prometheus.io/scrape": "true",
        "modelcanary.io/last-applied": "{}",
    }
    apex["spec"]["type"] = "NodePort"
    apex["spec"]["ports"][0]["nodePort"] = 30080
    store = MemoryObjectStore([apex, *copy.deepcopy(SERVICES[1:])])
    router = ROUTERS["kubernetes"](store)
    (rendered,) = router.render(rollout("kubernetes"), TO_CHALLENGER)
    assert rendered["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}
    assert rendered["metadata"]["labels"] == apex["metadata"]["labels"]
    assert rendered["spec"] == {**apex["spec"], "selector": {"app": "fraud"}}
    assert "ownerReferences" not in rendered["metadata"]


def test_without_an_apex_it_is_made_from_the_primary_and_survives_finalize() -> None:
    store = MemoryObjectStore(copy.deepcopy(SERVICES[1:]))
    router = ROUTERS["kubernetes"](store)
    ro = rollout("kubernetes", uid="u-1")
    router.set_routes(ro, TO_CHALLENGER)
    apex = store.get(*APEX)
    assert apex is not None and "ownerReferences" not in apex["metadata"]
    assert apex["spec"]["ports"] == SERVICES[1]["spec"]["ports"]
    router.finalize(ro)
    apex = store.get(*APEX)
    assert apex is not None and apex["spec"]["selector"] == {"app": "fraud-primary"}


@pytest.mark.parametrize("missing", ["fraud-primary", "fraud-canary"])
def test_a_missing_version_service_says_what_to_create(missing: str) -> None:
    store = MemoryObjectStore(
        [s for s in copy.deepcopy(SERVICES) if s["metadata"]["name"] != missing]
    )
    with pytest.raises(RouterError, match=rf"Service ml/{missing} \(v1\) does not exist; create"):
        ROUTERS["kubernetes"](store).set_routes(rollout("kubernetes"), Routes())


def test_an_apex_selecting_neither_version_is_reported() -> None:
    store = MemoryObjectStore(copy.deepcopy(SERVICES))
    router = ROUTERS["kubernetes"](store)
    ro = rollout("kubernetes")
    apex = store.get(*APEX)
    assert apex is not None
    apex["spec"]["selector"] = {"app": "someone-else"}
    store.edit(apex)
    with pytest.raises(RouterError, match=r"selects .*someone-else.* neither the champion"):
        router.get_routes(ro)
    router.reconcile(ro)
    assert router.get_routes(ro) == Routes()
