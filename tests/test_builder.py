"""The fluent builder: the issue example, immutability, units, errors with paths, views, properties.

Many tables hold builder calls as source text: the text is the test id, so a failure names
the exact call. ``run`` evaluates it with ``r`` bound to a valid base rollout.
"""

from __future__ import annotations

import ast
import math
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import modelcanary as mc
from modelcanary.builder import Rollout, rollout_html, step
from modelcanary.errors import SpecError
from modelcanary.spec import ModelRollout, parse_rollout_yaml

sli = mc.sli


def versions() -> Rollout:
    """Champion, challenger and one SLO, but no traffic plan yet."""
    return (
        Rollout("fraud")
        .champion("models:/fraud@champion")
        .challenger("http://127.0.0.1:5001")
        .slo(sli.error_rate() < "1%")
    )


def base() -> Rollout:
    """A minimal valid canary to vary in tests."""
    return versions().canary(steps=[5, 10, 25, 50])


def example() -> Rollout:
    """The example of the issue, verbatim."""
    return (
        mc.Rollout("fraud").champion("models:/fraud@champion").challenger("models:/fraud/4")
        .shadow(percent=100, iterations=3).canary(steps=[5, 10, 25, 50], interval="1m")
        .slo(mc.sli.error_rate() < "1%", mc.sli.latency(p=99) < "250ms",
             mc.sli.agreement() >= 0.95, mc.sli.latency(p=99).relative_to_champion() <= 1.1)
        .ab_test(header="x-cohort", value="beta", iterations=10)
    )  # fmt: skip


def run(code: str, r: Rollout | None = None) -> Any:
    """Evaluate builder source text with ``r`` (default: :func:`base`), warnings ignored."""
    names = {"r": base() if r is None else r, "sli": sli, "step": step, "Rollout": Rollout}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return eval(code, {"nan": math.nan, "inf": math.inf, **names})


def test_issue_example_builds_a_chain_shadow_canary_ab() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = example()
    spec = r.build()
    assert isinstance(spec, ModelRollout)
    a = spec.spec.analysis
    assert (a.strategy, a.iterations, a.step_weights, a.interval) == ("steps", None, None, "1m")
    assert [s.kind for s in a.steps or []] == ["shadow"] + ["canary"] * 4 + ["ab"]
    shadow, *canary, ab = a.steps or []
    assert (shadow.mirror_weight, shadow.iterations) == (100, 3)
    assert [s.weight for s in canary] == [5, 10, 25, 50]
    assert ab.iterations == 10
    assert ab.match and ab.match[0].to_dict() == {"headers": {"x-cohort": {"exact": "beta"}}}
    assert spec.spec.champion and spec.spec.champion.model_uri == "models:/fraud@champion"
    assert spec.spec.challenger and spec.spec.challenger.model_uri == "models:/fraud/4"
    got = [(m.name, m.relative_to, m.threshold_range) for m in a.metrics]
    assert [(n, rel, rng and rng.to_dict()) for n, rel, rng in got] == [
        ("error-rate", None, {"max": 0.01}),
        ("latency-p99", None, {"max": 250.0}),
        ("prediction-agreement", None, {"min": 0.95}),
        ("latency-p99", "champion", {"max": 1.1}),
    ]
    assert parse_rollout_yaml(r.to_yaml()) == spec


def test_interval_threshold_and_shadow_survive_chaining_another_plan() -> None:
    r = base().shadow(percent=50, iterations=2).canary(steps=[10], interval="2m", threshold=3)
    a = r.blue_green(iterations=4).build().spec.analysis
    assert (a.strategy, a.interval, a.threshold, a.step_weights) == ("steps", "2m", 3, None)
    steps = a.steps or []
    assert [(s.kind, s.weight, s.mirror_weight, s.iterations) for s in steps] == [
        ("canary", 10, None, 1),  # base() called canary first: the call order is kept
        ("shadow", 0, 50, 2),
        ("step", 0, None, 4),
    ]


@pytest.mark.parametrize(
    ("first", "second", "kinds"),
    [
        ("r.canary(steps=[5])", "r.ab_test(header='h', value='v')", "canary ab"),
        ("r.ab_test(header='h', regex='v')", "r.blue_green()", "ab step"),
        ("r.blue_green()", "r.steps(step(5, '1m'))", "step canary"),
        ("r.steps(step(5, '1m'))", "r.canary(step=10)", "canary " * 11),
    ],
)  # fmt: skip
def test_a_later_plan_of_another_kind_is_chained_after_without_a_warning(
    first: str, second: str, kinds: str
) -> None:
    r = run(first, versions())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = eval(second, {"r": r, "step": step})
    a = r.build().spec.analysis
    assert a.strategy == "steps"
    assert [s.kind for s in a.steps or []] == kinds.split()


def test_same_kind_of_plan_replaces_silently() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = base().canary(step=10, max_weight=30)
    assert r.build().spec.analysis.weights() == [10, 20, 30]


@pytest.mark.parametrize(
    "code",
    [
        "r.champion('models:/fraud/3')",
        "r.challenger(image='repo/fraud:5', env={'A': '1'})",
        "r.router('istio', hosts='fraud.example.com')",
        "r.service(port=8080)",
        "r.shadow(percent=20, iterations=2)",
        "r.canary(step=10)",
        "r.steps(step(5, '5m'))",
        "r.slo(sli.latency(p=95) < '200ms')",
        "r.webhook('load', 'http://loadtester/')",
        "r.gate('approve', 'http://gate/')",
        "r.alert('oncall', 'slack', channel='#ml')",
        "r.load(rps=5)",
        "r.no_data('skip')",
        "r.progress_deadline(30)",
        "r.skip_analysis()",
        "r.suspend()",
        "r.revert_on_deletion()",
        "r.metrics_provider('prometheus', 'http://prom:9090')",
        "r.labels(team='risk')",
        "r.analysis(interval='30s')",
    ],
)
def test_every_method_returns_a_new_object_and_leaves_the_original_unchanged(code: str) -> None:
    original = base()
    before, spec_before = original.model_dump(), original.build()
    changed = run(code, original)
    assert isinstance(changed, Rollout) and changed is not original and changed != original
    assert original.model_dump() == before and original.build() == spec_before


def test_builder_and_sli_are_frozen() -> None:
    r, check = base(), sli.error_rate()
    with pytest.raises(ValidationError):
        r.plan = None  # type: ignore[misc]
    bounded = check < "2%"
    assert check.metric.threshold_range is None and bounded.metric.threshold_range is not None


@pytest.mark.parametrize(
    "code",
    [
        "r",
        "r.blue_green(iterations=5, mirror=True, mirror_weight=50)",
        "r.steps(step(5, '5m'), {'weight': 50, 'pause': True}, step(80, '1m', mirror_weight=10))",
        "r.router('gatewayapi', gateway_refs=['gw-ns/public'], hosts=['fraud.example.com'])"
        ".webhook('load', 'http://loadtester/', metadata={'cmd': 'hey -z 1m'}, timeout='30s')"
        ".gate('approve', 'http://gate/').alert('oncall', ref='slack-provider', severity='warn')",
        "Rollout('api', namespace='ml').target('api').router('istio', gateways='mesh')"
        ".canary(step=20, max_weight=60, promotion_step=30).slo(sli.success_rate() >= 99,"
        " sli.request_duration() <= '500ms', sli.throughput() > 1)",
        "r.load(rps=10, duration='5m', requests='reqs.jsonl', concurrency=2).no_data('skip')"
        ".progress_deadline('10m').revert_on_deletion().labels(team='risk')"
        ".slo(sli.drift('ks') < 0.2, sli.kpi('conversion', 'sum(x)', provider='prometheus') > 0.1,"
        " sli.error_rate().judge('mann-whitney', allowed_increase='+10%').relative_to_champion())",
    ],
)
def test_round_trip_builder_to_yaml_to_spec_is_lossless(code: str) -> None:
    r = run(code)
    built = r.build()
    assert parse_rollout_yaml(r.to_yaml()) == built
    assert r.to_dict() == built.to_dict()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("sli.error_rate()", {"name": "error-rate"}),
        ("sli.success_rate()", {"name": "request-success-rate"}),
        ("sli.request_duration()", {"name": "request-duration"}),
        *[(f"sli.latency(p={p})", {"name": f"latency-p{p}"}) for p in (50, 90, 95, 99)],
        ("sli.throughput()", {"name": "throughput"}),
        ("sli.drift()", {"name": "prediction-drift", "method": "psi"}),
        ("sli.drift(method='js')", {"name": "prediction-drift", "method": "js"}),
        ("sli.agreement(tolerance=0.1)", {"name": "prediction-agreement", "tolerance": 0.1}),
        ("sli.custom('c', 'q', variables={'a': 'b'})",
         {"name": "c", "query": "q", "templateVariables": {"a": "b"}}),
        ("sli.kpi('conv', template='tpl')", {"name": "conv", "templateRef": {"name": "tpl"}}),
        ("sli.custom('c', 'q', provider={'type': 'datadog'})",
         {"name": "c", "query": "q", "provider": {"type": "datadog"}}),
        ("sli.kpi('c', 'q', provider='prometheus')",
         {"name": "c", "query": "q", "provider": {"type": "prometheus"}}),
    ],
)  # fmt: skip
def test_sli_functions_name_their_metric(code: str, expected: dict[str, Any]) -> None:
    assert run(code).metric.to_dict() == {"critical": False, "weight": 1.0, **expected}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("sli.error_rate() < '1%'", {"max": 0.01}),
        ("sli.error_rate() <= 0.02", {"max": 0.02}),
        ("'5%' > sli.error_rate()", {"max": 0.05}),
        ("sli.agreement() >= '95%'", {"min": 0.95}),
        ("sli.agreement() > 0.9", {"min": 0.9}),
        ("sli.success_rate() > '99%'", {"min": 99.0}),
        ("sli.success_rate() >= 99.5", {"min": 99.5}),
        ("sli.latency(p=99) < '250ms'", {"max": 250.0}),
        ("sli.latency(p=50) < '1.5s'", {"max": 1500.0}),
        ("sli.request_duration() <= 300", {"max": 300.0}),
        ("sli.throughput() > 100", {"min": 100.0}),
        ("sli.throughput() >= '50rps'", {"min": 50.0}),
        ("sli.drift() < 0.2", {"max": 0.2}),
        ("sli.custom('margin', 'q') > -3", {"min": -3.0}),
        ("sli.agreement().between('90%', 1)", {"min": 0.9, "max": 1.0}),
        ("(sli.latency(p=90) > '10ms') < '2s'", {"min": 10.0, "max": 2000.0}),
        ("sli.latency(p=99).relative_to_champion() <= '+10%'", {"max": 1.1}),
        ("sli.latency(p=99).relative_to_champion() >= '-5%'", {"min": 0.95}),
        ("sli.latency(p=99).relative_to_champion() <= 1.2", {"max": 1.2}),
        ("sli.latency(p=99).relative_to_champion('difference') <= '+20ms'", {"max": 20.0}),
        ("sli.error_rate().relative_to_champion('difference') >= '-0.5%'", {"min": -0.005}),
    ],
)
def test_comparisons_convert_units_into_threshold_ranges(
    code: str, expected: dict[str, float]
) -> None:
    rng = run(code).metric.threshold_range
    assert rng is not None and rng.to_dict() == pytest.approx(expected)


def test_modifiers_set_fields_and_return_new_objects() -> None:
    plain = sli.latency(p=99)
    rel = plain.relative_to_champion().metric
    assert plain.metric.relative_to is None and (rel.relative_to, rel.comparison) == (
        "champion",
        "ratio",
    )
    mw = (
        sli.error_rate().judge("mann-whitney", allowed_increase="+10%", allowed_decrease=0.9).metric
    )
    assert (mw.judge, mw.allowed_increase, mw.allowed_decrease) == ("mann-whitney", 1.1, 0.9)
    seq = sli.error_rate().judge("sequential", alpha=0.01)
    assert (seq.metric.judge, seq.metric.alpha) == ("sequential", 0.01)
    assert seq.judge("threshold").metric.alpha is None  # a new judge drops the old one's settings
    m = (
        sli.error_rate().over("5m").critical().weight(2).group("e").on_no_data("skip") < "1%"
    ).metric
    assert (m.interval, m.critical, m.weight, m.group, m.no_data) == ("5m", True, 2.0, "e", "skip")
    spec = base().slo(sli.latency(p=99).relative_to_champion().judge("sequential") <= 1.1).build()
    assert spec.spec.analysis.metrics[-1].judge == "sequential"


@pytest.mark.parametrize(
    ("code", "path", "words"),
    [
        ("sli.latency(p=42)", "latency.p", "50, 90, 95, 99"),
        ("sli.error_rate() < 'abc'", "error-rate.thresholdRange.max", "fraction"),
        ("sli.latency(p=99) < 'fast'", "latency-p99.thresholdRange.max", "250ms"),
        ("sli.success_rate() > True", "request-success-rate.thresholdRange.min", "99"),
        ("sli.error_rate() < nan", "error-rate.thresholdRange.max", "finite"),
        ("sli.error_rate() < 10**400", "error-rate.thresholdRange.max", "not a valid"),
        ("sli.throughput() > -1", "throughput.thresholdRange.min", "negative"),
        ("sli.latency().relative_to_champion() < '9%'", "latency-p99.thresholdRange.max", "ambig"),
        ("(sli.latency(p=99) < '1s').relative_to_champion()", "latency-p99.relativeTo", "before"),
        ("0.9 <= sli.agreement() <= 1.0", "prediction-agreement", "between"),
        ("sli.agreement().between(1, 0.5)", "prediction-agreement.thresholdRange", "swap"),
        ("sli.drift('kl')", "prediction-drift.method", "'kl'"),
        ("sli.agreement(tolerance=-1)", "prediction-agreement.tolerance", "greater than"),
        ("sli.error_rate().judge('sequential', alpha=2)", "error-rate.alpha", "less than 1"),
        ("sli.error_rate().judge('bayes')", "error-rate.judge", "'bayes'"),
        ("sli.custom('kpi')", "kpi.query", "exactly one"),
        ("sli.custom('kpi', 'q', unit='apples')", "kpi.unit", "fraction"),
        ("Rollout('Fraud')", "metadata.name", "pattern"),
        ("r.champion('models:/x y')", "spec.champion.modelUri", "model URI"),
        ("r.champion('models:/x/1', image='img')", "spec.champion", "exactly one"),
        ("r.champion(42)", "spec.champion", "int"),
        ("r.canary(steps=[10, 5]).build()", "spec.analysis.stepWeights[1]", "greater"),
        ("r.canary(steps=5)", "spec.analysis.stepWeights", "list"),
        ("r.canary()", "spec.analysis.stepWeights", "exactly one"),
        ("r.canary(step=200)", "spec.analysis.stepWeight", "100"),
        ("r.ab_test(header='x-cohort')", "spec.analysis.match[0].headers", "value"),
        ("r.ab_test(value='beta')", "spec.analysis.match[0]", "need a header"),
        ("r.ab_test(header='a', cookie='b', value='c')", "spec.analysis.match[0]", "only one"),
        ("r.ab_test()", "spec.analysis.match", "at least one"),
        ("r.ab_test(colour='red')", "spec.analysis.match", "colour"),
        ("r.ab_test(header='h', regex='(')", "spec.analysis.match[0].headers.h.regex", "compile"),
        ("Rollout('x').ab_test(body_field='in.country', value='FR').router('istio').build()",
         "spec.analysis.match[0].body", "istio"),
        ("r.blue_green(mirror_weight=5)", "spec.analysis.mirrorWeight", "mirror"),
        ("r.shadow(percent=101)", "spec.analysis.mirrorWeight", "100"),
        ("r.shadow().router('linkerd').build()", "spec.analysis.mirror", "linkerd"),
        ("r.steps()", "spec.analysis.steps", "at least one"),
        ("r.steps({'weight': 5})", "spec.analysis.steps[0]", "duration"),
        ("step(120, '1m')", "step.weight", "100"),
        ("r.slo()", "spec.analysis.metrics", "at least one"),
        ("r.slo(sli.error_rate() == 0.1)", "spec.analysis.metrics[1]", "bool"),
        ("r.slo({'name': 'x', 'treshold': 1})", "spec.analysis.metrics[1].treshold", "threshold"),
        ("r.slo(sli.agreement()>5).build()", "spec.analysis.metrics[1].thresholdRange.min", "0-1"),
        ("r.slo(sli.throughput()).build()", "spec.analysis.metrics[1].thresholdRange", "required"),
        ("r.webhook('load', 'ftp://x')", "spec.analysis.webhooks[0].url", "http or https"),
        ("r.webhook('w', 'http://x/', type='later')", "spec.analysis.webhooks[0].type", "'later'"),
        ("r.webhook('w', 'http://x/', metadata=['a'])", "spec.analysis.webhooks", "mapping"),
        ("r.alert('oncall')", "spec.analysis.alerts[0]", "exactly one"),
        ("r.alert('oncall', channel='#x')", "spec.analysis.alerts", "provider="),
        ("r.alert('oncall', 'pager')", "spec.analysis.alerts[0].provider.type", "'pager'"),
        ("r.no_data('maybe')", "spec.analysis.noData", "'maybe'"),
        ("r.analysis(unit_key='x user')", "spec.analysis.unitKey.header", "not a valid header"),
        ("r.session_affinity('a;b')", "spec.analysis.sessionAffinity.cookieName", "not a valid"),
        ("r.session_affinity('c', max_age=0)", "spec.analysis.sessionAffinity.maxAge", "1"),
        ("r.progress_deadline('soon')", "spec.progressDeadlineSeconds", "duration"),
        ("r.router('envoy')", "spec.router.provider", "'envoy'"),
        ("r.router('nginx').build()", "spec.service.ingressRef", "nginx"),
        ("r.service(tls=True)", "spec.service", "tls"),
        ("r.service(gateway_refs=5)", "spec.service.gatewayRefs", "list"),
        ("r.load(rps=5).router('istio').build()", "spec.load", "local"),
        ("r.load(rps=-1)", "spec.load.rps", "greater than 0"),
        ("r.target('api').build()", "spec.champion", "targetRef"),
        ("Rollout('x').canary(step=5).slo(sli.drift() < 1).build()", "spec.champion", "required"),
    ],
)  # fmt: skip
def test_bad_input_raises_spec_error_naming_the_field(code: str, path: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        run(code)
    issues = {i.path: f"{i.message} {i.hint}" for i in reversed(info.value.issues)}
    assert path in issues, info.value.issues
    assert words in issues[path]


def test_ab_test_conditions_combine_with_and_inside_and_or_across() -> None:
    r = versions().ab_test(
        cookie="beta",
        regex="^yes$",
        headers={"x-a": "b", "x-c": {"prefix": "d"}},
        match=[{"queryParams": {"v": {"exact": "2"}}}],
        iterations=3,
    )
    a = r.build().spec.analysis
    headers = {"x-a": {"exact": "b"}, "x-c": {"prefix": "d"}}
    assert [c.to_dict() for c in a.match or []] == [
        {"headers": headers, "cookies": {"beta": {"regex": "^yes$"}}},
        {"queryParams": {"v": {"exact": "2"}}},
    ]
    assert (a.strategy, a.iterations) == ("ab", 3)
    body = versions().ab_test(body_field="inputs.country", value="FR").build().spec.analysis
    assert body.match and body.match[0].to_dict() == {"body": {"inputs.country": {"exact": "FR"}}}
    q = versions().ab_test(query_param="v", suffix="2", source_labels={"app": "x"}).router("istio")
    cond = (q.build().spec.analysis.match or [])[0].to_dict()
    assert cond == {"queryParams": {"v": {"suffix": "2"}}, "sourceLabels": {"app": "x"}}


def test_routing_hooks_load_and_flags_reach_the_spec() -> None:
    spec = (
        base()
        .router("gatewayapi", gateway_refs=["gw-ns/public", "internal"], hosts="a.io", port=8080)
        .service(timeout="30s", retries=2)
        .webhook("load", "http://loadtester/", metadata={"cmd": "hey"}, retries=1)
        .gate("approve", "http://gate/approve")
        .alert("oncall", "slack", channel="#ml", secret_env="SLACK_URL", severity="error")
        .metrics_provider("prometheus", "http://prom:9090", secret_name="prom-creds")
        .progress_deadline("15m").skip_analysis().suspend().revert_on_deletion()
        .labels({"app.kubernetes.io/name": "fraud"}, team="risk")
        .challenger(image="repo/fraud:5", env={"THREADS": "2"}, resources={"limits": {"cpu": "1"}})
        .build()
    )  # fmt: skip
    d = spec.to_dict()
    assert d["metadata"]["labels"] == {"app.kubernetes.io/name": "fraud", "team": "risk"}
    s, a = d["spec"], d["spec"]["analysis"]
    assert s["service"] == {
        "port": 8080, "hosts": ["a.io"], "timeout": "30s", "retries": {"attempts": 2},
        "gatewayRefs": [{"name": "public", "namespace": "gw-ns"}, {"name": "internal"}],
    }  # fmt: skip
    hooks = [(w["name"], w["type"], w["retries"]) for w in a["webhooks"]]
    assert hooks == [("load", "rollout", 1), ("approve", "confirm-promotion", 0)]
    assert a["alerts"][0]["provider"] == {
        "type": "slack",
        "channel": "#ml",
        "secretRef": {"env": "SLACK_URL"},
    }
    assert s["metricsProvider"]["secretRef"] == {"name": "prom-creds"}
    flags = [
        s[k] for k in ("progressDeadlineSeconds", "skipAnalysis", "suspend", "revertOnDeletion")
    ]
    assert flags == [900, True, True, True]
    assert s["challenger"] == {
        "image": "repo/fraud:5",
        "env": {"THREADS": "2"},
        "resources": {"limits": {"cpu": "1"}},
    }
    nginx = base().router("nginx", ingress_ref="fraud-ing").to_dict()["spec"]["service"]
    assert nginx["ingressRef"] == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "name": "fraud-ing",
    }
    load = (
        base()
        .load(rps=50, duration="5m", requests="r.jsonl", concurrency=4)
        .to_dict()["spec"]["load"]
    )
    assert load == {"rps": 50.0, "duration": "5m", "requests": "r.jsonl", "concurrency": 4}


def test_steps_accept_step_helpers_dicts_or_one_list() -> None:
    a = versions().steps(step(5, "5m"), {"weight": 50, "pause": True}).build().spec.analysis
    got = [(s.weight, s.duration, s.pause) for s in a.steps or []]
    assert a.strategy == "steps" and got == [(5, "5m", False), (50, None, True)]
    listed = versions().steps([step(5, "5m"), step(20, "1m")]).build().spec.analysis
    assert [s.weight for s in listed.steps or []] == [5, 20]


def test_repr_summarises_versions_plan_and_slos() -> None:
    r = (
        mc.Rollout("fraud").champion("models:/fraud@champion").challenger("models:/fraud/4")
        .canary(steps=[5, 10, 25, 50], interval="1m")
        .slo(sli.error_rate() < "1%", sli.latency(p=99) < "250ms", sli.agreement() >= 0.95,
             sli.latency(p=99).relative_to_champion() <= 1.1)
    )  # fmt: skip
    assert repr(r) == (
        "Rollout('fraud': models:/fraud@champion -> models:/fraud/4, "
        "canary [5, 10, 25, 50] every 1m, 4 SLOs)"
    )
    shown = repr(example())
    assert (
        "steps shadow 100% for 3 intervals, 5%, 10%, 25%, 50%, "
        "A/B on header x-cohort=beta for 10 intervals every 1m"
    ) in shown
    assert repr(Rollout("x", namespace="ml")) == "Rollout('ml/x': ? -> ?, no traffic plan, 0 SLOs)"
    target = repr(run("Rollout('api').target('api').blue_green(3).gate('ok', 'http://g/')"))
    assert "Deployment/api (current) -> Deployment/api (new revision), blue/green" in target
    assert target.endswith("0 SLOs, 1 webhook)")
    assert (
        repr(sli.latency(p=99).relative_to_champion() <= 1.1)
        == "SLI(latency-p99 / champion <= 1.1x)"
    )
    assert str(sli.error_rate().critical() < "1%") == "SLI(error-rate <= 1% (critical))"
    assert repr(sli.throughput().between(5, 10)) == "SLI(5 rps <= throughput <= 10 rps)"


def test_html_view_escapes_user_strings_and_lists_problems() -> None:
    r = versions().ab_test(header="x-cohort", value="<b>beta</b>").slo(sli.kpi("<kpi>", "q") > 1)
    page = r._repr_html_()
    assert "&lt;b&gt;beta&lt;/b&gt;" in page and "<b>beta</b>" not in page
    assert "SLO &lt;kpi&gt;" in page and "error-rate &lt;= 1%" in page and "(valid)" in page
    assert page == rollout_html(r.build())
    draft = Rollout("draft").canary(steps=[10, 5])._repr_html_()
    assert "problems" in draft and "<code>spec.analysis.stepWeights[1]</code>" in draft
    assert "<code>spec.champion</code>" in draft and "canary [10, 5]" in draft


def test_lazy_top_level_exports() -> None:
    import modelcanary.builder as builder

    assert mc.Rollout is Rollout and mc.sli is builder.sli and mc.sli.error_rate is sli.error_rate
    assert set(builder.__all__) == {"SLI", "Rollout", "rollout_html", "sli", "step"}


def test_builder_imports_only_spec_errors_stdlib_and_pydantic() -> None:
    allowed = {"pydantic", "yaml", "modelcanary"} | set(sys.stdlib_module_names)
    for file in Path(mc.__file__).parent.joinpath("builder").glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in allowed, f"{file.name} imports {name}"
                if name.startswith("modelcanary"):
                    assert name.startswith(("modelcanary.spec", "modelcanary.errors")), name
    heavy = "{'httpx', 'kubernetes', 'kopf', 'mlflow', 'plotly', 'pandas'}"
    code = f"import sys, modelcanary.builder; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _call(template: str, *parts: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """A builder call as source text, its arguments drawn from ``parts``."""
    return st.tuples(*parts).map(lambda args: template.format(*map(repr, args)))


WEIGHTS = st.integers(-5, 120)
DURATIONS = st.sampled_from(["1m", "30s", "0s", "abc", "2h", "500ms"])
VALUES = st.floats() | st.integers(-10, 10**6) | st.sampled_from(["1%", "250ms", "+10%", "x", ""])
CHECKS = st.tuples(
    st.sampled_from(["error_rate()", "success_rate()", "latency(p=99)", "request_duration()",
                     "throughput()", "drift()", "agreement()", "kpi('conv', 'sum(x)')"]),
    st.sampled_from(["", ".relative_to_champion()", ".relative_to_champion('difference')"]),
    st.sampled_from(["", ".judge('mann-whitney')", ".judge('sequential')", ".critical()"]),
    st.sampled_from(["<", ">=", "<="]),
    VALUES,
).map(lambda t: f"r.slo(sli.{t[0]}{t[1]}{t[2]} {t[3]} {t[4]!r})")  # fmt: skip
CALLS = st.one_of(
    _call("r.champion({})", st.sampled_from(["models:/m/1", "http://h:1", "x y", "", "runs:/a/m"])),
    _call("r.challenger(image={})", st.sampled_from(["repo/m:2", ""])),
    _call("r.canary(steps={}, interval={})", st.lists(WEIGHTS, max_size=4), DURATIONS),
    _call("r.canary(step={}, max_weight={})", WEIGHTS, st.none() | WEIGHTS),
    _call("r.shadow({}, {})", WEIGHTS, st.integers(-1, 4)),
    _call("r.ab_test(header={}, value={}, iterations={})",
          st.sampled_from(["x-cohort", ""]), st.text(max_size=3), st.integers(-1, 12)),
    _call("r.blue_green({}, mirror={})", st.integers(-1, 12), st.booleans()),
    _call("r.steps(*[step(w, d, pause=p) for w, d, p in {}])",
          st.lists(st.tuples(WEIGHTS, DURATIONS, st.booleans()), max_size=3)),
    CHECKS,
    _call("r.router({})", st.sampled_from(["local", "istio", "gatewayapi", "nginx", "bogus"])),
    _call("r.webhook({}, {}, {})", st.text(max_size=3), st.sampled_from(["http://h/", "x"]),
          st.sampled_from(["rollout", "confirm-promotion", "nope"])),
    _call("r.no_data({})", st.sampled_from(["fail", "skip", "inconclusive", "maybe"])),
    _call("r.progress_deadline({})", st.integers(-5, 900) | DURATIONS),
    _call("r.load(rps={}, duration={})", st.floats(), DURATIONS),
    _call("r.target({})", st.text(max_size=4)),
    _call("r.{}()", st.sampled_from(["skip_analysis", "suspend", "revert_on_deletion"])).map(
        lambda c: c.replace("'", "")),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(CALLS, max_size=10))
def test_random_chains_build_or_raise_spec_error_only(chain: list[str]) -> None:
    r = base()
    for code in chain:
        try:
            r = run(code, r)
        except SpecError:
            continue  # a bad argument is reported at the call; the chain goes on
    assert repr(r).startswith("Rollout('fraud'") and "<table>" in r._repr_html_()
    try:
        built = r.build()
    except SpecError as err:
        assert err.issues and all(i.message for i in err.issues)
        return
    assert parse_rollout_yaml(r.to_yaml()) == built


def test_a_later_slo_on_the_same_metric_replaces_it_in_place() -> None:
    """Tuning a bound in a notebook: the second slo() on latency-p99 replaces the first
    (before: "'latency-p99' is already used"); order and the other checks are kept."""
    r = base().slo(sli.latency(p=99) < "250ms")
    tuned = r.slo(sli.latency(p=99) < "300ms").build()
    names = [m.name for m in tuned.spec.analysis.metrics]
    assert names == [m.name for m in r.build().spec.analysis.metrics]
    p99 = next(m for m in tuned.spec.analysis.metrics if m.name == "latency-p99")
    assert p99.effective_range().max == 300
    assert [m.name for m in r.without_slo("latency-p99").build().spec.analysis.metrics] == [
        n for n in names if n != "latency-p99"
    ]


def test_the_same_metric_twice_in_one_call_and_an_unknown_removal_are_errors() -> None:
    with pytest.raises(SpecError, match="already used"):
        base().slo(sli.latency(p=99) < "250ms", sli.latency(p=99) < "300ms").build()
    with pytest.raises(SpecError, match="no check on 'nope'"):
        base().without_slo("nope")


def test_per_user_judging_and_sticky_sessions_are_set_from_the_builder() -> None:
    chain = base().analysis(unit_key="x-user-id").session_affinity("canary", max_age=600)
    built = chain.build()
    analysis = built.spec.analysis
    assert analysis.unit_key is not None and analysis.unit_key.header == "x-user-id"
    affinity = analysis.session_affinity
    assert affinity is not None and (affinity.cookie_name, affinity.max_age) == ("canary", 600)
    assert affinity.primary_cookie_name is None
    again = parse_rollout_yaml(chain.to_yaml()).spec.analysis
    assert again.unit_key == analysis.unit_key and again.session_affinity == affinity
    # a later analysis() call without unit_key keeps it (None means "not given")
    kept = base().analysis(unit_key="x-user-id").analysis(interval="30s").build()
    assert kept.spec.analysis.unit_key is not None
