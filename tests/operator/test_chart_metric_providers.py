"""The chart's opt-in rules for the metric backends that are Kubernetes APIs."""

from __future__ import annotations

import pytest
from bundle_objects import helm_render, validate


def _rules(values: dict[str, object]) -> list[dict[str, object]]:
    objects = helm_render(values)
    (role,) = [
        o
        for o in objects
        if o["kind"] == "ClusterRole" and not o["metadata"]["name"].endswith("-discovery")
    ]
    for obj in objects:
        validate(obj)
    return list(role["rules"])


def _backend_rules(rules: list[dict[str, object]]) -> list[dict[str, object]]:
    groups = {"metrics.keptn.sh", "external.metrics.k8s.io"}
    return [r for r in rules if set(r["apiGroups"]) & groups]  # type: ignore[call-overload]


def test_no_metric_backend_rules_by_default() -> None:
    assert _backend_rules(_rules({})) == []


def test_keptn_and_external_metrics_rules_name_their_resources() -> None:
    values = {
        "rbac": {
            "metricProviders": ["keptn", "externalmetrics"],
            "externalMetrics": ["queue_depth"],
        }
    }
    assert _backend_rules(_rules(values)) == [
        {"apiGroups": ["metrics.keptn.sh"], "resources": ["keptnmetrics"], "verbs": ["get"]},
        {
            "apiGroups": ["metrics.keptn.sh"],
            "resources": ["analyses"],
            "verbs": ["get", "create", "delete"],
        },
        {
            "apiGroups": ["external.metrics.k8s.io"],
            "resources": ["queue_depth"],
            "verbs": ["get", "list"],
        },
    ]


def test_external_metrics_without_names_is_refused() -> None:
    with pytest.raises(Exception, match=r"rbac\.externalMetrics"):
        helm_render({"rbac": {"metricProviders": ["externalmetrics"]}})
