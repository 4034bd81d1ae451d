"""Every complete Canary manifest of Flagger's documentation converts to a valid ModelRollout
and back to a Canary Flagger's CRD accepts (tests/data/flagger-examples/docs/, vendored from
fluxcd/flagger's docs/gitbook with provenance headers).

A manifest is complete when it has ``targetRef`` and ``analysis``; the FAQ's excerpts without
them are not rollouts. Each file names the ``meshProvider`` its page installs Flagger with,
which is what ``modelcanary convert --provider`` stands in for.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runs import cli
from k8s_schema import errors as crd_errors

from modelcanary.convert import from_flagger, to_flagger
from modelcanary.errors import ConversionError
from modelcanary.spec import ModelRollout, parse_rollout, spec_warnings

DATA = Path(__file__).resolve().parent / "data"
DOCS = DATA / "flagger-examples" / "docs"
MANIFESTS = sorted(DOCS.glob("*.yaml"))
MESH = re.compile(r"^# meshProvider: (\S+)", re.M)
SERVICE_BLUE_GREEN = [
    "keda-scaledobject-L80.yaml",
    "kubernetes-blue-green-L68.yaml",
    "prometheus-operator-L152.yaml",
]


def _flagger_crds() -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all((DATA / "crds" / "flagger.yaml").read_text(encoding="utf-8"))
    return {crd["spec"]["names"]["kind"]: crd for crd in docs}


CRDS = _flagger_crds()


def _convert(path: Path) -> tuple[ModelRollout, list[str], list[dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    docs = [d for d in yaml.safe_load_all(text) if d]
    mesh = MESH.search(text)
    result = from_flagger(docs, default_provider=mesh.group(1) if mesh else None, source=path.name)
    (rollout,) = result.documents
    return parse_rollout(rollout), result.notes, docs


def test_the_vendored_manifests_are_every_complete_canary_of_the_docs() -> None:
    """22 pages' Canaries (the issue's count), each with its source and commit."""
    assert len(MANIFESTS) == 22
    for path in MANIFESTS:
        head = path.read_text(encoding="utf-8").splitlines()[:2]
        assert "github.com/fluxcd/flagger, commit 15bd6ad5" in head[0], path.name
        assert "License: Apache-2.0" in head[1], path.name
        canaries = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "Canary"]
        assert len(canaries) == 1 and {"targetRef", "analysis"} <= set(canaries[0]["spec"])


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.stem)
def test_each_converts_validates_and_goes_back_to_a_valid_canary(path: Path) -> None:
    model, _notes, docs = _convert(path)
    for doc in docs:  # the manifests themselves are valid Flagger objects
        assert crd_errors(CRDS[doc["kind"]], doc) == [], (path.name, doc["kind"])
    back = to_flagger(model)
    for doc in back.documents:
        assert crd_errors(CRDS[doc["kind"]], doc) == [], (path.name, doc["kind"])
    canary = next(d for d in docs if d["kind"] == "Canary")
    assert back.documents[0]["spec"]["targetRef"] == canary["spec"]["targetRef"]
    provider = canary["spec"].get("provider") or MESH.search(path.read_text())
    if isinstance(provider, str):
        assert back.documents[0]["spec"]["provider"] == provider


@pytest.mark.parametrize("name", SERVICE_BLUE_GREEN)
def test_service_blue_green_becomes_the_kubernetes_router(name: str) -> None:
    """``provider: kubernetes`` (plain blue/green, KEDA, the Prometheus Operator) converts
    with nothing dropped: blue/green iterations on the ``kubernetes`` router, and back."""
    model, notes, _ = _convert(DOCS / name)
    assert [n for n in notes if "inlined as query" not in n] == []  # templates: inlined
    assert model.spec.router.provider == "kubernetes"
    assert model.spec.analysis.strategy == "bluegreen"
    assert to_flagger(model).documents[0]["spec"]["provider"] == "kubernetes"


def test_keda_scaled_object_and_prometheus_operator_templates() -> None:
    keda, _, _ = _convert(DOCS / "keda-scaledobject-L80.yaml")
    scaler = keda.spec.autoscaler_ref
    assert scaler is not None and (scaler.api_version, scaler.kind) == (
        "keda.sh/v1alpha1",
        "ScaledObject",
    )
    back = to_flagger(keda).documents[0]["spec"]["autoscalerRef"]
    assert back["primaryScalerQueries"] == {
        "prom-trigger": 'sum(rate(http_requests_total{ app="podinfo-primary" }[30s]))'
    }
    assert back["primaryScalerReplicas"] == {"minReplicas": 2, "maxReplicas": 5}
    operator, _, _ = _convert(DOCS / "prometheus-operator-L152.yaml")
    queries = {m.name: m.query for m in operator.spec.analysis.metrics}
    assert set(queries) == {"error-rate", "latency"}
    assert all(q and 'job="{{ target }}-canary"' in q for q in queries.values())


def test_the_faq_canary_without_checks_converts_with_a_warning() -> None:
    """Flagger walks the steps of a Canary with neither metrics nor webhooks; so does the
    rollout, and validation says that nothing but readiness judges the challenger."""
    model, _, _ = _convert(DOCS / "faq-L730.yaml")
    assert model.spec.analysis.weights() == [10, 20, 30]
    (warning,) = spec_warnings(model)
    assert warning.path == "spec.analysis.metrics" and "but its readiness" in warning.message


def test_a_weighted_canary_on_plain_services_is_refused_with_the_fix() -> None:
    canary = yaml.safe_load((DATA / "flagger-examples" / "istio-canary.yaml").read_text())
    canary["spec"]["provider"] = "kubernetes"
    with pytest.raises(ConversionError) as err:
        from_flagger([canary])
    assert [i.path for i in err.value.issues] == ["spec.analysis.stepWeight"]
    assert "iterations" in err.value.hint and "istio" in err.value.hint


def test_the_cli_converts_a_docs_manifest_and_refuses_a_split(tmp_path: Path) -> None:
    done = cli(
        tmp_path, "convert", "--from", "flagger", str(DOCS / "kubernetes-blue-green-L68.yaml")
    )
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["spec"]["router"] == {"provider": "kubernetes"}
    canary = yaml.safe_load((DATA / "flagger-examples" / "istio-canary.yaml").read_text())
    canary["spec"]["provider"] = "kubernetes"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(canary))
    done = cli(tmp_path, "convert", "--from", "flagger", "c.yaml")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "spec.analysis.stepWeight" in done.stderr and "blue/green plan" in done.stderr
