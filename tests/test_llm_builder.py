"""The builder's LLM surface (issue 17): ``champion(url=..., protocol="openai", pricing=...)``,
``mirror_budget(...)`` and ``mc.sli.llm.*``: immutable, validated at the call, equal to the
YAML a person would write, and lossless through YAML (property test over random chains).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

import modelcanary as mc
from modelcanary.errors import SpecError
from modelcanary.spec import parse_rollout, parse_rollout_yaml, to_yaml

llm = mc.sli.llm
CHAMP = "http://127.0.0.1:8001"
CHAL = "http://127.0.0.1:8002"
PRICE = {"input_per_1k": 0.5, "output_per_1k": 1.5}


def base() -> mc.Rollout:
    return (
        mc.Rollout("assistant")
        .champion(url=CHAMP, protocol="openai", pricing=PRICE)
        .challenger(
            url=CHAL, protocol="openai", pricing=mc.Pricing(input_per_1k=0.2, output_per_1k=0.6)
        )
        .shadow(100, iterations=2)
        .canary(steps=[10, 50], interval="30s")
    )


def test_versions_take_url_protocol_and_pricing() -> None:
    built = base().slo(llm.ttft(p=95) < "800ms").build()
    champ, chal = built.spec.champion, built.spec.challenger
    assert champ is not None and chal is not None
    assert (champ.url, champ.protocol, champ.pricing.input_per_1k) == (CHAMP, "openai", 0.5)  # type: ignore[union-attr]
    assert chal.pricing is not None and chal.pricing.output_per_1k == 0.6
    # a positional http source still works and means the same
    same = mc.Rollout("a").champion(CHAMP, protocol="openai").draft().spec.champion
    assert same is not None and same.url == CHAMP and same.protocol == "openai"


def test_sdk_and_yaml_give_the_same_rollout() -> None:
    sdk = (
        base()
        .mirror_budget(500, max_cost=2.5)
        .slo(
            llm.ttft(p=95) < "800ms",
            llm.tpot(p=50, buckets=[64, 256]).relative_to_champion() <= "+10%",
            llm.output_tokens_per_second(min=20),
            llm.cost_per_1k_requests().relative_to_champion() <= 1.0,
            llm.error_rate(error_class="rate-limit") < "2%",
            llm.refusal_rate(max="5%"),
            llm.json_valid_rate(min="99%"),
            llm.output_length_drift("ks", max=0.2),
            llm.win_rate(
                "pairwise", url="http://127.0.0.1:9000/v1", model="j", margin=0.1, budget=300
            ),
        )
        .build()
    )
    yaml_doc = sdk.to_dict()
    metrics = yaml_doc["spec"]["analysis"]["metrics"]
    by_name = {m["name"]: m for m in metrics}
    assert by_name["ttft-p95"]["thresholdRange"] == {"max": 800.0}
    assert by_name["tpot-p50"]["promptBuckets"] == [64, 256]
    assert by_name["tpot-p50"]["thresholdRange"] == {"max": pytest.approx(1.1)}
    assert by_name["output-tokens-per-second"]["thresholdRange"] == {"min": 20}
    assert by_name["error-rate"]["errorClass"] == "rate-limit"
    assert by_name["error-rate"]["thresholdRange"] == {"max": 0.02}
    assert by_name["refusal-rate"]["thresholdRange"] == {"max": 0.05}
    assert by_name["json-valid-rate"]["thresholdRange"] == {"min": 0.99}
    assert by_name["output-length-drift"]["method"] == "ks"
    win = by_name["win-rate"]
    assert (win["evaluator"], win["evaluatorUrl"], win["evaluatorModel"]) == (
        "pairwise",
        "http://127.0.0.1:9000/v1",
        "j",
    )
    assert (win["margin"], win["judgeBudget"]) == (0.1, 300)
    assert yaml_doc["spec"]["analysis"]["mirrorBudget"] == {"maxPrompts": 500, "maxCost": 2.5}
    assert yaml_doc["spec"]["champion"]["pricing"] == {"inputPer1k": 0.5, "outputPer1k": 1.5}
    assert parse_rollout(yaml_doc) == sdk
    assert parse_rollout_yaml(to_yaml(sdk)) == sdk


def test_llm_checks_show_their_class_and_evaluator() -> None:
    assert repr(llm.error_rate(error_class="timeout") < "1%") == "SLI(error-rate[timeout] <= 1%)"
    shown = repr(llm.win_rate("exact", margin=0.1))
    assert shown == "SLI(win-rate (evaluator exact, margin 0.1))"
    relative = repr(llm.ttft(p=95).relative_to_champion() <= "+10%")
    assert relative == "SLI(ttft-p95 / champion <= 1.1x)"


def test_llm_builders_are_immutable() -> None:
    r = base()
    before = r.draft().to_dict()
    r.mirror_budget(10)
    r.challenger(url=CHAL, protocol="openai", pricing={"input_per_1k": 9, "output_per_1k": 9})
    assert r.draft().to_dict() == before
    sli = llm.ttft(p=99)
    bounded = sli < "1s"
    assert sli.metric.threshold_range is None and bounded.metric.threshold_range is not None
    assert bounded.relative_to_champion  # a new SLI per call; the original is unchanged
    assert llm.ttft(p=99, max_ms="1s") == bounded


@pytest.mark.parametrize(
    ("call", "path", "words"),
    [
        (lambda: llm.ttft(p=90), "ttft.p", "use one of 50, 95, 99"),
        (lambda: llm.tpot(p=True), "tpot.p", "not supported"),
        (lambda: llm.ttft(buckets="128"), "ttft.promptBuckets", "expected a list"),
        (lambda: llm.ttft(buckets=[0]), "ttft-p99.promptBuckets[0]", "greater than or equal to 1"),
        (lambda: llm.error_rate(error_class="oops"), "error-rate.errorClass", "rate-limit"),
        (lambda: llm.win_rate("vibes"), "win-rate.evaluator", "pairwise"),
        (lambda: llm.win_rate(margin=0.7), "win-rate.margin", "less than 0.5"),
        (lambda: llm.refusal_rate(max="lots"), "refusal-rate.thresholdRange.max", "'1%' or 0.01"),
        (
            lambda: mc.Rollout("a").champion(
                url=CHAMP, pricing={"input_per_1k": -1, "output_per_1k": 1}
            ),
            "spec.champion.pricing.inputPer1k",
            "greater than or equal to 0",
        ),
        (
            lambda: mc.Rollout("a").champion(CHAMP, url=CHAMP),
            "spec.champion.url",
            "cannot be combined with a positional source",
        ),
        (
            lambda: mc.Rollout("a").champion(url=CHAMP, protocol="grpc"),
            "spec.champion.protocol",
            "openai",
        ),
        (lambda: mc.Rollout("a").mirror_budget(), "spec.analysis.mirrorBudget", "maxPrompts"),
    ],
)
def test_bad_llm_arguments_fail_at_the_call_with_the_field(
    call: Any, path: str, words: str
) -> None:
    with pytest.raises(SpecError) as err:
        call()
    text = str(err.value)
    assert path in text and words in text, text


def test_build_names_the_fix_for_llm_slis_on_mlflow_versions() -> None:
    r = (
        mc.Rollout("a")
        .champion("models:/m/1")
        .challenger("models:/m/2")
        .canary(steps=[10])
        .slo(llm.ttft(p=99) < "1s", llm.cost_per_1k_requests(max=2))
    )
    with pytest.raises(SpecError) as err:
        r.build()
    found = {(i.path, i.hint) for i in err.value.issues}
    assert (
        "spec.analysis.metrics[0].name",
        "add protocol: openai to spec.champion and spec.challenger (an OpenAI-compatible url), "
        "or use another SLI",
    ) in found
    assert any(p == "spec.champion.pricing" for p, _ in found)


def test_the_llm_page_example_builds_the_yaml_it_shows() -> None:
    """docs/llm.md shows one rollout twice, in YAML and in Python: they must be the same."""
    page = (Path(__file__).parents[1] / "docs" / "llm.md").read_text()
    section = page.split("## Spec and SDK", 1)[1].split("\n## ", 1)[0]
    yaml_text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    doc = {"apiVersion": "modelcanary.io/v1alpha1", "kind": "ModelRollout"}
    doc |= {"metadata": {"name": "assistant"}, **yaml.safe_load(yaml_text)}
    for metric in doc["spec"]["analysis"]["metrics"]:  # the SDK writes the default comparison
        if "relativeTo" in metric:
            metric.setdefault("comparison", "ratio")
    assert namespace["r"].build() == parse_rollout(doc)


# -- round trip over random LLM chains ---------------------------------------------------------


def safe(make: Any) -> Any:
    """``make`` returning None instead of raising SpecError (a bad argument, refused at once)."""
    return lambda *args: _apply(lambda: make(*args))


BOUNDS = st.integers(0, 5000) | st.sampled_from(["1%", "250ms", "1.5s", "+10%", "x", None])
EVALUATORS = st.sampled_from(["reference", "pairwise", "exact", "json", "refusal", "bogus"])
SLIS = st.one_of(
    st.builds(
        safe(lambda p, b: llm.ttft(p=p, max_ms=b)), st.sampled_from([50, 95, 99, 90]), BOUNDS
    ),
    st.builds(
        safe(lambda p, e: llm.tpot(p=p, buckets=e)),
        st.sampled_from([50, 99]),
        st.none() | st.lists(st.integers(0, 4096), min_size=1, max_size=4),
    ),
    st.builds(safe(lambda b: llm.output_tokens_per_second(min=b)), BOUNDS),
    st.builds(safe(lambda b: llm.cost_per_1k_requests(max=b)), BOUNDS),
    st.builds(safe(lambda b: llm.refusal_rate(max=b)), BOUNDS),
    st.builds(safe(lambda b: llm.json_valid_rate(min=b)), BOUNDS),
    st.builds(
        safe(lambda m, b: llm.output_length_drift(m, max=b)),
        st.sampled_from(["psi", "ks", "nope"]),
        BOUNDS,
    ),
    st.builds(
        safe(lambda c, b: llm.error_rate(error_class=c, max=b)),
        st.sampled_from([None, "rate-limit", "timeout", "bad"]),
        BOUNDS,
    ),
    st.builds(
        safe(lambda e, u, mg, bu: llm.win_rate(e, url=u, margin=mg, budget=bu)),
        EVALUATORS,
        st.none() | st.just("http://127.0.0.1:9/v1"),
        st.none() | st.floats(-0.1, 0.6),
        st.none() | st.integers(0, 100),
    ),
)
MODIFIERS = st.sampled_from(["", "rel", "threshold", "critical"])
VERSION = st.tuples(
    st.sampled_from(["openai"] * 6 + [None, "mlflow"]),
    st.fixed_dictionaries({"input_per_1k": st.floats(0, 2), "output_per_1k": st.floats(0, 2)})
    | st.none(),
)
BUDGET = st.none() | st.tuples(
    st.none() | st.integers(0, 1000),
    st.none() | st.integers(1, 10**6),
    st.none() | st.floats(0, 10),
)


def _apply(call: Any) -> Any:
    try:
        return call()
    except SpecError:
        return None


def _modified(sli: Any, how: str) -> Any:
    if how == "rel":
        return _apply(lambda: sli.relative_to_champion())
    if how == "threshold":
        return _apply(lambda: sli.judge("threshold"))
    return sli.critical() if how == "critical" else sli


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(SLIS, MODIFIERS), max_size=5),
    VERSION,
    VERSION,
    BUDGET,
    st.sampled_from([True, True, True, False]),
)
def test_random_llm_chains_round_trip_or_raise_spec_error_only(
    checks: list[tuple[Any, str]],
    champ: tuple[Any, Any],
    chal: tuple[Any, Any],
    budget: Any,
    shadow: bool,
) -> None:
    r = _apply(
        lambda: mc.Rollout("assistant").champion(url=CHAMP, protocol=champ[0], pricing=champ[1])
    )
    r = r or mc.Rollout("assistant").champion(url=CHAMP)
    r = _apply(lambda: r.challenger(url=CHAL, protocol=chal[0], pricing=chal[1])) or r.challenger(
        CHAL
    )
    if shadow:
        r = r.shadow(50, iterations=1)
    r = r.canary(steps=[10, 50], interval="30s").slo(llm.ttft(p=95) < "1s")
    if budget is not None:
        r = (
            _apply(lambda: r.mirror_budget(budget[0], max_tokens=budget[1], max_cost=budget[2]))
            or r
        )
    for made, how in checks:
        sli = None if made is None else _modified(made, how)
        if sli is not None:
            r = r.slo(sli)
    try:
        built = r.build()
    except SpecError as err:
        assert err.issues and all(i.message and i.path for i in err.issues)
        event("refused at build")
        return
    event(f"built with {len(built.spec.analysis.metrics)} metric(s)")
    assert parse_rollout_yaml(r.to_yaml()) == built
    assert parse_rollout(built.to_dict()) == built
