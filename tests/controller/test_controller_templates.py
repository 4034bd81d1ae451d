"""templateRef metrics: the operator reads Flagger MetricTemplates from the (kmock) cluster."""

from __future__ import annotations

import time
from typing import Any

import pytest
from controller_fixtures import PromAPI, rollout_doc
from kube_fixtures import KubeApi

from modelcanary.analysis._measurements import Scalar, Window
from modelcanary.controller._metric_backends import RolloutMetrics
from modelcanary.errors import SpecError
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._objects import KubeObjectStore
from modelcanary.spec import ModelRollout, parse_rollout


def _template(name: str, namespace: str, address: str, **provider: Any) -> dict[str, Any]:
    """A Flagger MetricTemplate as users write them (flagger.app/v1beta1)."""
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "provider": {"type": "prometheus", "address": address, **provider},
            "query": 'template_errors{namespace="{{ namespace }}",target="{{ target }}"}',
        },
    }


def _rollout(ref: dict[str, str]) -> ModelRollout:
    doc = rollout_doc("fraud", prometheus="http://127.0.0.1:9")  # the rollout's own is unused
    doc["metadata"]["namespace"] = "ml"
    doc["spec"]["analysis"]["metrics"] = [
        {"name": "errors", "templateRef": ref, "thresholdRange": {"max": 0.05}}
    ]
    return parse_rollout(doc)


def _metrics(kube: KubeApi) -> RolloutMetrics:
    objects = KubeObjectStore(KubeClient(kube.api_client))
    return RolloutMetrics(
        templates=lambda ns, name: objects.get("flagger.app/v1beta1", "MetricTemplate", ns, name)
    )


def _window() -> Window:
    now = time.time()
    return Window(now - 30, now)


def test_template_in_the_rollout_namespace_is_queried(kube: KubeApi, prom: PromAPI) -> None:
    kube.create(_template("error-rate", "ml", prom.url))
    prom.values["template_errors"] = 0.02
    rollout = _rollout({"name": "error-rate"})
    got = _metrics(kube).query(rollout.spec.analysis.metrics[0], rollout, _window())
    assert got == Scalar(0.02)
    assert 'template_errors{namespace="ml",target="fraud"}' in prom.queries[-1]


def test_template_in_another_namespace_and_edits_apply(kube: KubeApi, prom: PromAPI) -> None:
    kube.create(_template("shared-errors", "flagger-system", prom.url))
    prom.values["template_errors"] = 0.5
    rollout = _rollout({"name": "shared-errors", "namespace": "flagger-system"})
    metrics = _metrics(kube)
    assert metrics.query(rollout.spec.analysis.metrics[0], rollout, _window()) == Scalar(0.5)
    kube.patch(
        "flagger.app/v1beta1",
        "MetricTemplate",
        "flagger-system",
        "shared-errors",
        {"spec": {"query": "other_errors{}"}},
    )
    prom.values["other_errors"] = 0.01
    assert metrics.query(rollout.spec.analysis.metrics[0], rollout, _window()) == Scalar(0.01)


def test_missing_template_is_a_spec_error_with_the_fix(kube: KubeApi) -> None:
    rollout = _rollout({"name": "nowhere"})
    with pytest.raises(SpecError) as caught:
        _metrics(kube).query(rollout.spec.analysis.metrics[0], rollout, _window())
    issue = caught.value.issues[0]
    assert issue.path == "spec.analysis.metrics[errors].templateRef"
    assert "ml/nowhere does not exist" in issue.message and "kubectl apply" in issue.hint


def test_template_of_an_unsupported_provider_is_refused(kube: KubeApi, prom: PromAPI) -> None:
    template = _template("dyna", "ml", prom.url)
    template["spec"]["provider"]["type"] = "dynatrace"
    kube.create(template)
    rollout = _rollout({"name": "dyna"})
    with pytest.raises(SpecError, match="'dynatrace' has no modelcanary equivalent"):
        _metrics(kube).query(rollout.spec.analysis.metrics[0], rollout, _window())
