"""Warnings of valid rollouts, from one list: validate prints them, the builder warns them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import modelcanary as mc
from modelcanary.spec import SpecWarning, parse_rollout, spec_warnings

WEBHOOKS_ONLY = {
    "apiVersion": "modelcanary.io/v1alpha1",
    "kind": "ModelRollout",
    "metadata": {"name": "podinfo", "namespace": "test"},
    "spec": {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "router": {"provider": "istio"},
        "service": {"port": 9898},
        "analysis": {
            "interval": "1m",
            "stepWeights": [10, 20],
            "webhooks": [
                {"name": "acceptance", "type": "pre-rollout", "url": "http://tester.test/"},
                {"name": "load", "type": "rollout", "url": "http://tester.test/"},
            ],
        },
    },
}


def test_webhooks_only_analysis_is_valid_with_a_warning(tmp_path: Path) -> None:
    rollout = parse_rollout(WEBHOOKS_ONLY)
    (issue,) = spec_warnings(rollout)
    assert issue.path == "spec.analysis.metrics" and "only the webhooks judge" in issue.message
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(WEBHOOKS_ONLY))
    done = subprocess.run(
        [sys.executable, "-m", "modelcanary.cli._main", "validate", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "warning" in done.stderr and "only the webhooks judge" in done.stderr


def test_a_latency_max_off_the_buckets_warns_with_prometheus(tmp_path: Path) -> None:
    doc = {**WEBHOOKS_ONLY, "spec": {**WEBHOOKS_ONLY["spec"]}}
    doc["spec"]["metricsProvider"] = {"type": "prometheus", "address": "http://prom:9090"}
    doc["spec"]["analysis"] = {
        "interval": "1m",
        "stepWeights": [10],
        "metrics": [{"name": "latency-p99", "thresholdRange": {"max": 300}}],
    }
    (issue,) = spec_warnings(parse_rollout(doc))
    assert issue.path == "spec.analysis.metrics[0].thresholdRange.max"
    assert "not a latency bucket bound" in issue.message and "250" in issue.hint
    doc["spec"]["analysis"]["metrics"][0]["thresholdRange"]["max"] = 250
    assert spec_warnings(parse_rollout(doc)) == []


def test_the_builder_warns_webhook_only_rollouts() -> None:
    builder = (
        mc.Rollout("podinfo", namespace="test")
        .target("podinfo")
        .router("istio")
        .canary(steps=[10, 20])
        .webhook("acceptance", "http://tester.test/", "pre-rollout")
    )
    with pytest.warns(SpecWarning, match="only the webhooks judge"):
        builder.build()
