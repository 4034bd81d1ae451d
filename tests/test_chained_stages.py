"""Ordered stages of different kinds in one rollout (shadow -> canary -> A/B), as Argo
Rollouts' steps: the spec (step kinds, A/B and mirror-only steps, iterations), its rules
(one capability table), the plan the state machine and the replays walk, the builder chain,
the Flagger conversion and the CRD."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_schema import errors
from spec_cases import base

import modelcanary as mc
from modelcanary.convert import to_flagger
from modelcanary.errors import ConversionError, SpecError
from modelcanary.spec import ModelRollout, StepPlan, parse_rollout, stages

BETA = [{"headers": {"x-cohort": {"exact": "beta"}}}]
CHAIN = [
    {"mirrorWeight": 100, "iterations": 2},
    {"weight": 20, "duration": "1m"},
    {"match": BETA, "iterations": 3},
    {"pause": True},
]


def doc(steps: list[dict[str, Any]], provider: str = "local", **analysis: Any) -> dict[str, Any]:
    data = base()
    data["spec"]["router"] = {"provider": provider}
    a = data["spec"]["analysis"]
    del a["stepWeights"]
    a.update(steps=steps, **analysis)
    return data


def issues(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_rollout(data)
    return {i.path: f"{i.message} (fix: {i.hint})" for i in info.value.issues}


# -- spec and plan -----------------------------------------------------------------------------
def test_each_step_becomes_a_stage_of_its_kind_with_its_routes() -> None:
    analysis = parse_rollout(doc(CHAIN)).spec.analysis
    plan = stages(analysis)
    assert [s.kind for s in plan] == ["shadow", "canary", "ab", "step"]
    assert [s.intervals for s in plan] == [2, 2, 3, 1]  # 1m at a 30s interval is 2 intervals
    assert [s.describe() for s in plan] == [
        "shadow (mirror 100%)",
        "canary 20%",
        "A/B (matching requests)",
        "hold 0% + pause",
    ]
    shadow, canary, ab, hold = (s.routes() for s in plan)
    assert (shadow.challenger_weight, shadow.mirror_weight, shadow.match) == (0, 100, ())
    assert (canary.champion_weight, canary.challenger_weight) == (80, 20)
    assert ab.challenger_weight == 0 and ab.match == tuple(analysis.steps[2].match or ())  # type: ignore[index]
    assert ab.match[0].to_dict() == BETA[0]
    assert (hold.challenger_weight, hold.mirror_weight, hold.match) == (0, 0, ())


def test_a_plan_of_mirror_only_steps_is_replayable() -> None:
    analysis = parse_rollout(doc([{"mirrorWeight": 50, "iterations": 3}])).spec.analysis
    plan = StepPlan.from_analysis(analysis)  # was refused as "has no traffic plan"
    assert [(s.kind, s.mirror_weight, s.intervals) for s in plan.stages] == [("shadow", 50, 3)]
    assert plan.passes_to_promote == 3


def test_the_replays_walk_the_chained_stages() -> None:
    analysis = parse_rollout(doc(CHAIN[:3])).spec.analysis
    plan = StepPlan.from_analysis(analysis)
    assert plan.passes_to_promote == 2 + 2 + 3
    assert [plan.stage_after(n).kind for n in range(7)] == (  # type: ignore[union-attr]
        ["shadow"] * 2 + ["canary"] * 2 + ["ab"] * 3
    )
    assert plan.stage_after(7) is None
    with pytest.raises(ValueError, match="A/B stage"):
        mc.analysis.estimate_power(plan, 50, baseline=0.01, effect=3)


def test_session_affinity_is_accepted_with_canary_steps_and_pins_only_their_stage() -> None:
    affinity = {"cookieName": "mc-canary"}
    analysis = parse_rollout(doc(CHAIN[:3], sessionAffinity=affinity)).spec.analysis
    routes = [s.routes(analysis.session_affinity) for s in stages(analysis)]
    assert [r.session_affinity is not None for r in routes] == [False, True, False]
    only_ab = issues(doc([{"match": BETA, "iterations": 2}], sessionAffinity=affinity))
    assert "only applies to a weighted canary" in only_ab["spec.analysis.sessionAffinity"]


@pytest.mark.parametrize(
    ("steps", "provider", "path", "words"),
    [
        (
            [{"weight": 20, "match": BETA, "iterations": 2}],
            "local",
            "spec.analysis.steps[0].weight",
            "must be 0 with match",
        ),
        (
            [{"weight": 10, "iterations": 1}, {"match": BETA, "iterations": 2}],
            "linkerd",
            "spec.analysis.steps[1].match[0].headers",
            "linkerd cannot route A/B traffic on headers",
        ),
        (
            [{"match": [{"queryParams": {"v": {"exact": "2"}}}], "iterations": 2}],
            "nginx",
            "spec.analysis.steps[0].match[0].queryParams",
            "use router.provider: one of",
        ),
        (
            [{"match": [{"body": {"country": {"exact": "FR"}}}], "iterations": 2}],
            "istio",
            "spec.analysis.steps[0].match[0].body",
            "one of local",
        ),
        (
            [{"weight": 10, "duration": "1m", "iterations": 2}],
            "local",
            "spec.analysis.steps[0]",
            "duration and iterations cannot both be set (fix: keep iterations",
        ),
        ([{"weight": 10}], "local", "spec.analysis.steps[0]", "iterations (e.g. 3)"),
        ([{"match": [], "iterations": 2}], "local", "spec.analysis.steps[0].match", "at least 1"),
        (
            [{"weight": 10, "iterations": 1}],
            "local",
            "spec.analysis.match",
            "move the conditions to the A/B step",
        ),
    ],
)
def test_bad_steps_are_refused_naming_the_field_and_the_fix(
    steps: list[dict[str, Any]], provider: str, path: str, words: str
) -> None:
    extra = {"match": BETA} if path == "spec.analysis.match" else {}
    found = issues(doc(steps, provider, **extra))
    assert path in found, found
    assert words in found[path]


def test_the_capability_table_decides_which_routers_take_an_ab_step() -> None:
    for provider in ("istio", "gatewayapi", "nginx", "smi", "appmesh", "local"):
        data = doc([{"match": BETA, "iterations": 2}], provider)
        data["spec"]["service"] = {
            "gatewayRefs": [{"name": "gw"}],
            "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "i"},
        }
        if provider == "gatewayapi":
            data["spec"]["service"].pop("ingressRef")
        elif provider == "nginx":
            data["spec"]["service"].pop("gatewayRefs")
        else:
            del data["spec"]["service"]
        parse_rollout(data)  # header matching is in the table for each of these
    for provider in ("linkerd", "kserve", "apisix", "skipper", "traefik"):
        found = issues(doc([{"match": BETA, "iterations": 2}], provider))
        assert "spec.analysis.steps[0].match[0].headers" in found, provider


# -- the builder -------------------------------------------------------------------------------
def versions() -> mc.Rollout:
    return (
        mc.Rollout("fraud")
        .champion("models:/fraud@champion")
        .challenger("models:/fraud/4")
        .slo(mc.sli.error_rate() < "1%")
    )


def analysis_of(r: mc.Rollout) -> dict[str, Any]:
    return dict(yaml.safe_load(r.to_yaml())["spec"]["analysis"])


def test_chaining_shadow_canary_ab_gives_ordered_steps_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = (
            versions()
            .shadow(percent=50, iterations=2)
            .canary(steps=[10, 30], interval="30s")
            .ab_test(header="x-cohort", value="beta", iterations=5)
        )
        a = analysis_of(r)
    assert a["steps"] == [
        {"mirrorWeight": 50, "iterations": 2},
        {"weight": 10, "iterations": 1},
        {"weight": 30, "iterations": 1},
        {"match": BETA, "iterations": 5},
    ]
    assert not {"stepWeights", "iterations", "match", "mirror", "shadow"} & set(a)
    plan = stages(r.build().spec.analysis)
    assert [s.kind for s in plan] == ["shadow", "canary", "canary", "ab"]
    assert "steps shadow 50% for 2 intervals, 10%, 30%, A/B on header x-cohort=beta" in repr(r)
    html = r.build()._repr_html_()  # the notebook view names each stage's kind
    assert "steps (shadow (mirror 50%), canary 10%, canary 30%, A/B (matching requests))" in html


def test_the_call_order_is_the_stage_order_and_a_kind_again_updates_it_in_place() -> None:
    r = versions().ab_test(header="x-cohort", value="beta", iterations=2).canary(steps=[20])
    assert [s.kind for s in stages(r.build().spec.analysis)] == ["ab", "canary"]
    tuned = r.ab_test(header="x-cohort", value="gamma", iterations=4)  # stays first
    steps = analysis_of(tuned)["steps"]
    assert steps[0] == {"match": [{"headers": {"x-cohort": {"exact": "gamma"}}}], "iterations": 4}
    assert steps[1] == {"weight": 20, "iterations": 1}
    assert analysis_of(r)["steps"][0]["iterations"] == 2  # immutable: r is unchanged


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("r.canary(steps=[5, 10])", {"stepWeights": [5, 10]}),
        (
            "r.shadow(percent=50, iterations=2).canary(step=25, max_weight=50)",
            {"stepWeight": 25, "maxWeight": 50, "mirror": True, "mirrorWeight": 50,
             "shadow": {"iterations": 2}},
        ),
        (
            "r.canary(steps=[5]).shadow()",  # one plan: Flagger's mirror phase, always first
            {"stepWeights": [5], "mirror": True, "mirrorWeight": 100, "shadow": {}},
        ),
        (
            "r.shadow(iterations=3).ab_test(header='x-cohort', value='beta', iterations=4)",
            {"iterations": 4, "match": BETA, "mirror": True, "mirrorWeight": 100,
             "shadow": {"iterations": 3}},
        ),
        ("r.blue_green(iterations=3, mirror=True)", {"iterations": 3, "mirror": True}),
        ("r.steps(mc.step(5, '5m'))", {"steps": [{"weight": 5, "duration": "5m"}]}),
        ("r.canary(steps=[5]).canary(steps=[7])", {"stepWeights": [7]}),
    ],
)  # fmt: skip
def test_a_single_plan_serialises_with_flagger_fields_as_before(
    code: str, expected: dict[str, Any]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = analysis_of(eval(code, {"r": versions(), "mc": mc}))
    plan_keys = {"stepWeights", "stepWeight", "maxWeight", "iterations", "match", "mirror"}
    plan_keys |= {"mirrorWeight", "shadow", "steps"}
    assert {k: v for k, v in a.items() if k in plan_keys} == expected


def test_a_shadow_before_custom_steps_and_a_blue_green_chain() -> None:
    r = versions().shadow(iterations=2).steps(mc.step(iterations=3, header="x-t", value="1"))
    assert analysis_of(r)["steps"] == [
        {"mirrorWeight": 100, "iterations": 2},
        {"match": [{"headers": {"x-t": {"exact": "1"}}}], "iterations": 3},
    ]
    bg = versions().canary(steps=[10]).blue_green(iterations=2, mirror=True, mirror_weight=30)
    assert analysis_of(bg)["steps"] == [
        {"weight": 10, "iterations": 1},
        {"mirrorWeight": 30, "iterations": 2},
    ]
    promo = versions().shadow().canary(steps=[50], promotion_step=25)
    assert analysis_of(promo.ab_test(header="h", value="v"))["stepWeightPromotion"] == 25


def test_builder_step_errors_name_the_field() -> None:
    with pytest.raises(SpecError) as info:
        mc.step(10, "1m", iterations=2)
    assert "duration and iterations cannot both be set" in str(info.value)
    with pytest.raises(SpecError) as info:
        versions().steps(mc.step(20, iterations=2, match=BETA)).build()
    assert info.value.issues[0].path == "spec.analysis.steps[0].weight"
    with pytest.raises(SpecError) as info:
        versions().shadow().ab_test(header="h", value="v").canary(steps=[5]).router(
            "linkerd"
        ).build()
    paths = {i.path for i in info.value.issues}
    assert "spec.analysis.steps[1].match[0].headers" in paths  # and the mirror step
    assert "spec.analysis.steps[0].mirrorWeight" in paths


# -- Flagger and the CRD -----------------------------------------------------------------------
OPERATOR = {"targetRef": {"name": "fraud"}, "router": {"provider": "istio"}}


def operator_rollout(steps: list[dict[str, Any]]) -> ModelRollout:
    data = doc(steps, "istio")
    for side in ("champion", "challenger"):
        del data["spec"][side]
    data["spec"] |= OPERATOR
    return parse_rollout(data)


def test_flagger_conversion_refuses_an_ab_step_and_maps_the_rest() -> None:
    with pytest.raises(ConversionError) as info:
        to_flagger(operator_rollout(CHAIN[:3]))
    found = {i.path: i for i in info.value.issues}
    issue = found["spec.analysis.steps[2].match"]
    assert "Flagger has no ordered stages" in issue.message
    assert "iterations + match" in issue.hint
    out = to_flagger(operator_rollout([{"mirrorWeight": 100, "iterations": 2}, CHAIN[1]]))
    assert out.documents[0]["spec"]["analysis"]["stepWeights"] == [20]
    assert any("steps[0]: dropped: weight 0" in n for n in out.notes)
    assert any("(2 intervals, 1m)" in n for n in out.notes)


def test_committed_crd_accepts_chained_steps_and_rejects_bad_ones(repo_dir: Path) -> None:
    crd = yaml.safe_load((repo_dir / "operator" / "crds" / "modelrollouts.yaml").read_text())
    good = doc(CHAIN)
    assert errors(crd, good) == []
    for bad in ({"iterations": 0, "weight": 5}, {"match": "beta", "iterations": 2}):
        assert errors(crd, doc([bad])), bad
    step_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["analysis"]["properties"]["steps"]["items"]
    assert {"weight", "iterations", "match", "mirrorWeight"} <= set(step_schema["properties"])
    assert "weight" not in step_schema.get("required", [])
