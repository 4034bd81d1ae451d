"""Every validation rule of the ModelRollout, table-driven: the error names the field and a fix."""

from __future__ import annotations

from typing import Any

import pytest
from spec_cases import base, set_path

from modelcanary.errors import SpecError
from modelcanary.spec import ModelRollout, parse_rollout, parse_rollout_yaml, to_yaml

# (id, list of (path, value) edits, expected error path, text expected in message or hint)
CASES: list[tuple[str, list[tuple[str, Any]], str, str]] = [
    # versions
    (
        "target-and-champion",
        [("spec.targetRef", {"name": "podinfo"}), ("spec.router", {"provider": "istio"})],
        "spec.champion",
        "targetRef",
    ),
    (
        "target-with-local",
        [("spec.targetRef", {"name": "podinfo"}), ("spec.champion", ...), ("spec.challenger", ...)],
        "spec.targetRef",
        "champion",
    ),
    ("missing-challenger", [("spec.challenger", ...)], "spec.challenger", "modelUri"),
    (
        "two-sources",
        [("spec.champion.url", "http://127.0.0.1:5001")],
        "spec.champion",
        "exactly one of url, modelUri, image",
    ),
    ("no-source", [("spec.champion", {"name": "x"})], "spec.champion", "exactly one"),
    ("bad-url", [("spec.champion", {"url": "ftp://host"})], "spec.champion.url", "http://"),
    (
        "bad-model-uri",
        [("spec.challenger", {"modelUri": "models:/fraud@"})],
        "spec.challenger.modelUri",
        "models:/NAME@ALIAS",
    ),
    # strategy
    ("no-plan", [("spec.analysis.stepWeights", ...)], "spec.analysis", "stepWeight"),
    (
        "weight-and-weights",
        [("spec.analysis.stepWeight", 5)],
        "spec.analysis.stepWeight",
        "keep one",
    ),
    (
        "steps-and-weights",
        [("spec.analysis.steps", [{"weight": 10, "duration": "1m"}])],
        "spec.analysis.steps",
        "stepWeights",
    ),
    (
        "iterations-and-weights",
        [("spec.analysis.iterations", 3)],
        "spec.analysis.iterations",
        "A/B or blue/green",
    ),
    (
        "weights-decrease",
        [("spec.analysis.stepWeights", [5, 20, 10])],
        "spec.analysis.stepWeights[2]",
        "increasing",
    ),
    (
        "weights-over-100",
        [("spec.analysis.stepWeights", [50, 150])],
        "spec.analysis.stepWeights[1]",
        "1-100",
    ),
    (
        "weights-zero",
        [("spec.analysis.stepWeights", [0, 10])],
        "spec.analysis.stepWeights[0]",
        "1-100",
    ),
    ("weights-empty", [("spec.analysis.stepWeights", [])], "spec.analysis.stepWeights", "give"),
    (
        "step-over-max",
        [
            ("spec.analysis.stepWeights", ...),
            ("spec.analysis.stepWeight", 60),
            ("spec.analysis.maxWeight", 50),
        ],
        "spec.analysis.stepWeight",
        "maxWeight",
    ),
    ("max-weight-over-100", [("spec.analysis.maxWeight", 120)], "spec.analysis.maxWeight", "100"),
    (
        "match-without-iterations",
        [("spec.analysis.match", [{"headers": {"x": {"exact": "1"}}}])],
        "spec.analysis.match",
        "iterations",
    ),
    (
        "empty-match",
        [
            ("spec.analysis.stepWeights", ...),
            ("spec.analysis.iterations", 5),
            ("spec.analysis.match", [{}]),
        ],
        "spec.analysis.match[0]",
        "at least one",
    ),
    (
        "string-match-two",
        [
            ("spec.analysis.stepWeights", ...),
            ("spec.analysis.iterations", 5),
            ("spec.analysis.match", [{"headers": {"x": {"exact": "1", "prefix": "2"}}}]),
        ],
        "spec.analysis.match[0].headers.x",
        "exactly one of exact",
    ),
    (
        "bad-regex",
        [
            ("spec.analysis.stepWeights", ...),
            ("spec.analysis.iterations", 5),
            ("spec.analysis.match", [{"headers": {"x": {"regex": "(unclosed"}}}]),
        ],
        "spec.analysis.match[0].headers.x.regex",
        "does not compile",
    ),
    (
        "body-match-on-istio",
        [
            ("spec.targetRef", {"name": "p"}),
            ("spec.champion", ...),
            ("spec.challenger", ...),
            ("spec.router", {"provider": "istio"}),
            ("spec.analysis.stepWeights", ...),
            ("spec.analysis.iterations", 5),
            ("spec.analysis.match", [{"body": {"inputs.country": {"exact": "FR"}}}]),
        ],
        "spec.analysis.match[0].body",
        "local",
    ),
    (
        "source-labels-local",
        [
            ("spec.analysis.stepWeights", ...),
            ("spec.analysis.iterations", 5),
            ("spec.analysis.match", [{"sourceLabels": {"app": "web"}}]),
        ],
        "spec.analysis.match[0].sourceLabels",
        "mesh",
    ),
    # mirror / shadow
    (
        "mirror-on-nginx",
        [
            ("spec.targetRef", {"name": "p"}),
            ("spec.champion", ...),
            ("spec.challenger", ...),
            ("spec.router", {"provider": "nginx"}),
            ("spec.service", {"ingressRef": {"name": "web"}}),
            ("spec.analysis.mirror", True),
        ],
        "spec.analysis.mirror",
        "istio",
    ),
    (
        "mirror-weight-without-mirror",
        [("spec.analysis.mirrorWeight", 50)],
        "spec.analysis.mirrorWeight",
        "mirror: true",
    ),
    (
        "shadow-without-mirror",
        [("spec.analysis.shadow", {"iterations": 2})],
        "spec.analysis.shadow",
        "mirror: true",
    ),
    (
        "shadow-with-steps",
        [
            ("spec.analysis.stepWeights", ...),
            ("spec.analysis.mirror", True),
            ("spec.analysis.shadow", {"iterations": 2}),
            ("spec.analysis.steps", [{"weight": 10, "duration": "1m"}]),
        ],
        "spec.analysis.shadow",
        "mirrorWeight",
    ),
    (
        "step-mirror-on-linkerd",
        [
            ("spec.targetRef", {"name": "p"}),
            ("spec.champion", ...),
            ("spec.challenger", ...),
            ("spec.router", {"provider": "linkerd"}),
            ("spec.analysis.stepWeights", ...),
            ("spec.analysis.steps", [{"weight": 0, "duration": "1m", "mirrorWeight": 50}]),
        ],
        "spec.analysis.steps[0].mirrorWeight",
        "cannot mirror",
    ),
    (
        "step-without-end",
        [("spec.analysis.stepWeights", ...), ("spec.analysis.steps", [{"weight": 10}])],
        "spec.analysis.steps[0]",
        "duration",
    ),
    (
        "affinity-on-ab",
        [
            ("spec.analysis.stepWeights", ...),
            ("spec.analysis.iterations", 5),
            ("spec.analysis.match", [{"headers": {"x": {"exact": "1"}}}]),
            ("spec.analysis.sessionAffinity", {"cookieName": "canary"}),
        ],
        "spec.analysis.sessionAffinity",
        "weighted canary",
    ),
    (
        "affinity-on-linkerd",
        [
            ("spec.targetRef", {"name": "p"}),
            ("spec.champion", ...),
            ("spec.challenger", ...),
            ("spec.router", {"provider": "linkerd"}),
            ("spec.analysis.sessionAffinity", {"cookieName": "canary"}),
        ],
        "spec.analysis.sessionAffinity",
        "not supported by provider linkerd",
    ),
    # metrics
    (
        "unknown-metric",
        [("spec.analysis.metrics", [{"name": "error_rate", "thresholdRange": {"max": 0.01}}])],
        "spec.analysis.metrics[0].name",
        "did you mean 'error-rate'",
    ),
    (
        "query-and-template",
        [
            (
                "spec.analysis.metrics",
                [
                    {
                        "name": "kpi",
                        "query": "sum(x)",
                        "templateRef": {"name": "t"},
                        "thresholdRange": {"min": 1},
                    }
                ],
            )
        ],
        "spec.analysis.metrics[0].templateRef",
        "not both",
    ),
    (
        "threshold-and-range",
        [("spec.analysis.metrics[0].threshold", 0.01)],
        "spec.analysis.metrics[0].threshold",
        "deprecated",
    ),
    (
        "no-range",
        [("spec.analysis.metrics[0].thresholdRange", ...)],
        "spec.analysis.metrics[0].thresholdRange",
        "is required",
    ),
    (
        "empty-range",
        [("spec.analysis.metrics[0].thresholdRange", {})],
        "spec.analysis.metrics[0].thresholdRange",
        "min, max or both",
    ),
    (
        "range-min-over-max",
        [("spec.analysis.metrics[0].thresholdRange", {"min": 0.5, "max": 0.1})],
        "spec.analysis.metrics[0].thresholdRange",
        "swap",
    ),
    (
        "error-rate-in-percent",
        [("spec.analysis.metrics[0].thresholdRange", {"max": 5})],
        "spec.analysis.metrics[0].thresholdRange.max",
        "write 0.05 for 5%",
    ),
    (
        "success-rate-over-100",
        [
            (
                "spec.analysis.metrics",
                [{"name": "request-success-rate", "thresholdRange": {"min": 990}}],
            )
        ],
        "spec.analysis.metrics[0].thresholdRange.min",
        "percent",
    ),
    (
        "method-not-drift",
        [("spec.analysis.metrics[0].method", "psi")],
        "spec.analysis.metrics[0].method",
        "prediction-drift",
    ),
    (
        "bad-drift-method",
        [
            (
                "spec.analysis.metrics",
                [{"name": "prediction-drift", "method": "kl", "thresholdRange": {"max": 0.2}}],
            )
        ],
        "spec.analysis.metrics[0].method",
        "use one of",
    ),
    (
        "tolerance-not-agreement",
        [("spec.analysis.metrics[0].tolerance", 0.1)],
        "spec.analysis.metrics[0].tolerance",
        "prediction-agreement",
    ),
    (
        "comparison-without-relative",
        [("spec.analysis.metrics[0].comparison", "ratio")],
        "spec.analysis.metrics[0].comparison",
        "relativeTo",
    ),
    (
        "sequential-on-throughput",
        [
            (
                "spec.analysis.metrics",
                [{"name": "throughput", "judge": "sequential", "thresholdRange": {"min": 1}}],
            )
        ],
        "spec.analysis.metrics[0].judge",
        "per-request",
    ),
    (
        "alpha-with-threshold-judge",
        [("spec.analysis.metrics[0].judge", "threshold"), ("spec.analysis.metrics[0].alpha", 0.05)],
        "spec.analysis.metrics[0].alpha",
        "sequential",
    ),
    (
        "alpha-out-of-range",
        [("spec.analysis.metrics[0].alpha", 1.5)],
        "spec.analysis.metrics[0].alpha",
        "less than 1",
    ),
    (
        "effect-with-sequential",
        [
            ("spec.analysis.metrics[0].judge", "sequential"),
            ("spec.analysis.metrics[0].allowedIncrease", 1.1),
        ],
        "spec.analysis.metrics[0].allowedIncrease",
        "mann-whitney",
    ),
    (
        "judge-typo",
        [("spec.analysis.metrics[0].judge", "mann-whitny")],
        "spec.analysis.metrics[0].judge",
        "did you mean 'mann-whitney'",
    ),
    (
        "duplicate-metric",
        [
            (
                "spec.analysis.metrics",
                [
                    {"name": "error-rate", "thresholdRange": {"max": 0.01}},
                    {"name": "error-rate", "thresholdRange": {"max": 0.02}},
                ],
            )
        ],
        "spec.analysis.metrics[1].name",
        "unique",
    ),
    ("no-data-policy", [("spec.analysis.noData", "ignore")], "spec.analysis.noData", "fail"),
    (
        "outlier-without-mann-whitney",
        [("spec.analysis.metrics[0].outlierFactor", 3)],
        "spec.analysis.metrics[0].outlierFactor",
        "mann-whitney",
    ),
    # webhooks and alerts
    (
        "webhook-type-typo",
        [("spec.analysis.webhooks", [{"name": "g", "url": "http://gate/", "type": "pre-rolout"}])],
        "spec.analysis.webhooks[0].type",
        "did you mean 'pre-rollout'",
    ),
    (
        "webhook-bad-url",
        [("spec.analysis.webhooks", [{"name": "g", "url": "gate"}])],
        "spec.analysis.webhooks[0].url",
        "http or https",
    ),
    (
        "webhook-bad-timeout",
        [("spec.analysis.webhooks", [{"name": "g", "url": "http://g/", "timeout": "soon"}])],
        "spec.analysis.webhooks[0].timeout",
        "duration",
    ),
    (
        "webhook-duplicate",
        [
            (
                "spec.analysis.webhooks",
                [{"name": "g", "url": "http://g/"}, {"name": "g", "url": "http://h/"}],
            )
        ],
        "spec.analysis.webhooks[1].name",
        "unique",
    ),
    (
        "alert-two-providers",
        [
            (
                "spec.analysis.alerts",
                [{"name": "a", "providerRef": {"name": "s"}, "provider": {"type": "slack"}}],
            )
        ],
        "spec.analysis.alerts[0]",
        "exactly one of providerRef or provider",
    ),
    (
        "alert-severity",
        [
            (
                "spec.analysis.alerts",
                [{"name": "a", "severity": "fatal", "providerRef": {"name": "s"}}],
            )
        ],
        "spec.analysis.alerts[0].severity",
        "use one of",
    ),
    (
        "secret-ref-both",
        [("spec.metricsProvider", {"type": "datadog", "secretRef": {"name": "dd", "env": "DD"}})],
        "spec.metricsProvider.secretRef",
        "exactly one",
    ),
    # providers and service
    (
        "provider-typo",
        [("spec.router", {"provider": "istoi"})],
        "spec.router.provider",
        "did you mean 'istio'",
    ),
    (
        "gatewayapi-needs-refs",
        [
            ("spec.targetRef", {"name": "p"}),
            ("spec.champion", ...),
            ("spec.challenger", ...),
            ("spec.router", {"provider": "gatewayapi"}),
        ],
        "spec.service.gatewayRefs",
        "gatewayRefs",
    ),
    (
        "nginx-needs-ingress",
        [
            ("spec.targetRef", {"name": "p"}),
            ("spec.champion", ...),
            ("spec.challenger", ...),
            ("spec.router", {"provider": "nginx"}),
        ],
        "spec.service.ingressRef",
        "ingressRef",
    ),
    (
        "load-with-istio",
        [
            ("spec.targetRef", {"name": "p"}),
            ("spec.champion", ...),
            ("spec.challenger", ...),
            ("spec.router", {"provider": "istio"}),
            ("spec.load", {"rps": 5}),
        ],
        "spec.load",
        "local router",
    ),
    (
        "listen-with-istio",
        [
            ("spec.targetRef", {"name": "p"}),
            ("spec.champion", ...),
            ("spec.challenger", ...),
            ("spec.router", {"provider": "istio", "listen": "127.0.0.1:8080"}),
        ],
        "spec.router.listen",
        "local router",
    ),
    ("bad-port", [("spec.service", {"port": 70000})], "spec.service.port", "65535"),
    (
        "bad-interval",
        [("spec.analysis.interval", "1 minute")],
        "spec.analysis.interval",
        "'30s', '1m'",
    ),
    (
        "zero-interval",
        [("spec.analysis.interval", "0s")],
        "spec.analysis.interval",
        "longer than zero",
    ),
    ("negative-rps", [("spec.load", {"rps": -1})], "spec.load.rps", "greater than 0"),
    (
        "deadline-zero",
        [("spec.progressDeadlineSeconds", 0)],
        "spec.progressDeadlineSeconds",
        "greater than or equal to 1",
    ),
    # document level
    (
        "unknown-field",
        [("spec.analysis.intervall", "1m")],
        "spec.analysis.intervall",
        "did you mean 'interval'",
    ),
    (
        "unknown-snake-case",
        [("spec.analysis.step_weights", [5])],
        "spec.analysis.step_weights",
        "did you mean 'stepWeights'",
    ),
    (
        "unknown-top-field",
        [("spec.chalenger", {"modelUri": "models:/x/1"})],
        "spec.chalenger",
        "did you mean 'challenger'",
    ),
    ("bad-name", [("metadata.name", "Fraud_Model")], "metadata.name", "pattern"),
    ("missing-analysis", [("spec.analysis", ...)], "spec.analysis", "is required"),
    ("wrong-kind", [("kind", "Canary")], "kind", "kind: ModelRollout"),
    (
        "flagger-api-version",
        [("apiVersion", "flagger.app/v1beta1")],
        "apiVersion",
        "modelcanary convert --from flagger",
    ),
]


@pytest.mark.parametrize(
    ("edits", "path", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_reports_field_and_fix(edits: list[tuple[str, Any]], path: str, expected: str) -> None:
    doc = base()
    for edit_path, value in edits:
        set_path(doc, edit_path, value)
    with pytest.raises(SpecError) as info:
        parse_rollout(doc)
    issues = info.value.issues
    matching = [i for i in issues if i.path == path]
    assert matching, f"no issue at {path}; got {[str(i) for i in issues]}"
    assert any(expected in f"{i.message} {i.hint}" for i in matching), [str(i) for i in matching]


def test_base_document_is_valid() -> None:
    rollout = parse_rollout(base())
    assert rollout.spec.analysis.strategy == "canary"
    assert rollout.spec.analysis.weights() == [5, 10, 25, 50]


def test_all_problems_reported_at_once() -> None:
    doc = base()
    set_path(doc, "spec.analysis.stepWeights", [10, 5, 500])
    set_path(doc, "spec.analysis.metrics", [{"name": "latency", "thresholdRange": {"max": 1}}])
    with pytest.raises(SpecError) as info:
        parse_rollout(doc)
    paths = {i.path for i in info.value.issues}
    assert {
        "spec.analysis.stepWeights[1]",
        "spec.analysis.stepWeights[2]",
        "spec.analysis.metrics[0].name",
    } <= paths


@pytest.mark.parametrize(
    ("step", "max_weight", "plan"),
    [
        (10, None, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]),
        (5, 50, [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]),
        (30, 50, [30, 50]),  # Flagger caps the last step at maxWeight
        (50, 50, [50]),
    ],
)
def test_step_weight_plan_follows_flagger(
    step: int, max_weight: int | None, plan: list[int]
) -> None:
    doc = base()
    set_path(doc, "spec.analysis.stepWeights", ...)
    set_path(doc, "spec.analysis.stepWeight", step)
    if max_weight:
        set_path(doc, "spec.analysis.maxWeight", max_weight)
    assert parse_rollout(doc).spec.analysis.weights() == plan


@pytest.mark.parametrize(
    ("edits", "strategy"),
    [
        ([], "canary"),
        ([("spec.analysis.stepWeights", ...), ("spec.analysis.iterations", 4)], "bluegreen"),
        (
            [
                ("spec.analysis.stepWeights", ...),
                ("spec.analysis.iterations", 4),
                ("spec.analysis.match", [{"cookies": {"cohort": {"exact": "beta"}}}]),
            ],
            "ab",
        ),
        (
            [
                ("spec.analysis.stepWeights", ...),
                (
                    "spec.analysis.steps",
                    [{"weight": 10, "duration": "5m"}, {"weight": 50, "pause": True}],
                ),
            ],
            "steps",
        ),
    ],
)
def test_strategy_is_derived(edits: list[tuple[str, Any]], strategy: str) -> None:
    doc = base()
    for path, value in edits:
        set_path(doc, path, value)
    assert parse_rollout(doc).spec.analysis.strategy == strategy


def test_deprecated_threshold_becomes_range_like_flagger() -> None:
    doc = base()
    set_path(
        doc,
        "spec.analysis.metrics",
        [
            {"name": "request-success-rate", "threshold": 99},
            {"name": "request-duration", "threshold": 500},
        ],
    )
    metrics = parse_rollout(doc).spec.analysis.metrics
    success, duration = (m.effective_range() for m in metrics)
    assert success is not None and (success.min, success.max) == (99, None)
    assert duration is not None and (duration.min, duration.max) == (None, 500)


def test_yaml_round_trip_is_lossless(repo_dir: Any) -> None:
    text = (repo_dir / "examples" / "fraud-canary.yaml").read_text()
    rollout = parse_rollout_yaml(text)
    again = parse_rollout_yaml(to_yaml(rollout))
    assert again == rollout
    assert again.spec_hash() == rollout.spec_hash()


def test_spec_hash_changes_with_spec() -> None:
    one = parse_rollout(base())
    doc = base()
    set_path(doc, "spec.challenger.modelUri", "models:/fraud/5")
    assert parse_rollout(doc).spec_hash() != one.spec_hash()


def test_models_are_frozen() -> None:
    rollout = parse_rollout(base())
    with pytest.raises(Exception, match="frozen"):
        rollout.spec.analysis.threshold = 5  # type: ignore[misc]


def test_direct_construction_runs_cross_field_rules() -> None:
    doc = base()
    set_path(doc, "spec.analysis.stepWeights", [10, 5])
    with pytest.raises(SpecError, match=r"stepWeights\[1\]"):
        ModelRollout.model_validate(doc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spec: [unclosed", "not valid YAML: "),
        ('a: 1\nb: "x\n  c: 3\n', "line "),
        ("- just\n- a list\n", "expected a mapping"),
        ("", "no document"),
        ("a: 1\n---\nb: 2\n", "expected one ModelRollout"),
    ],
)
def test_bad_yaml_is_a_spec_error(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_rollout_yaml(text)
    assert expected in str(info.value)
