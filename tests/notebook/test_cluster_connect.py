"""``mc.cluster()`` picks its namespace as kubectl does: the pod's service account in a pod,
else the kubeconfig context's (the current one, or ``context=``), else ``default``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kube_fixtures import KubeApi

import modelcanary as mc
from modelcanary.errors import SpecError
from modelcanary.k8s._namespace import default_namespace


def _two_contexts(kube: KubeApi, tmp_path: Path) -> str:
    path = kube.kubeconfig(tmp_path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["contexts"] = [
        {"name": "team", "context": {"cluster": "kmock", "user": "kmock", "namespace": "ml"}},
        {"name": "bare", "context": {"cluster": "kmock", "user": "kmock"}},
    ]
    doc["current-context"] = "team"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


def test_namespace_of_the_context(
    ml_kube: KubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    config = _two_contexts(ml_kube, tmp_path)
    assert mc.cluster(kubeconfig=config).namespace == "ml"  # the current context's
    assert mc.cluster(kubeconfig=config, context="bare").namespace == "default"
    assert mc.cluster(kubeconfig=config, context="bare", namespace="risk").namespace == "risk"
    monkeypatch.setenv("KUBECONFIG", config)
    assert mc.cluster().namespace == "ml"


def test_namespace_of_the_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    account = tmp_path / "namespace"
    account.write_text("fraud-team\n", encoding="utf-8")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert default_namespace(service_account=account) == "fraud-team"
    assert default_namespace(service_account=tmp_path / "missing") == "default"


def test_an_unknown_context_is_a_clear_error(ml_kube: KubeApi, tmp_path: Path) -> None:
    config = _two_contexts(ml_kube, tmp_path)
    with pytest.raises(SpecError) as caught:
        mc.cluster(kubeconfig=config, context="nope")
    assert "context nope" in str(caught.value) and "--kubeconfig" in str(caught.value)
