"""docs/operator.md stays true: every snippet validates, renders, converts and runs as shown."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from bundle_objects import (
    CHART,
    CLUSTER_SCOPED,
    KUBE_VERSION,
    REPO,
    Obj,
    assert_least_privilege,
    assert_no_cluster_wide_writes,
    bundle_crds,
    by_kind,
    crds_by_kind,
    documents,
    helm_render,
    kustomize,
    one,
    operator_container,
    validate,
)
from k8s_schema import errors as crd_errors
from typer.testing import CliRunner

from modelcanary.cli._main import app
from modelcanary.convert import from_flagger
from modelcanary.rollout._commands import Routes
from modelcanary.routers import MemoryObjectStore, router_class
from modelcanary.spec import load_documents, parse_rollout_yaml

DOC = REPO / "docs" / "operator.md"


def _sections() -> dict[str, str]:
    text = DOC.read_text()
    parts = re.split(r"^## ", text, flags=re.M)
    return {part.splitlines()[0]: part for part in parts[1:]}


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


@pytest.fixture(scope="module")
def shared_crds(shared_dir: Path) -> dict[str, Obj]:
    return crds_by_kind(shared_dir / "crds")


def _validate_any(obj: Obj, shared: dict[str, Obj]) -> None:
    """Core kinds strictly; mesh/Gateway API/Flagger kinds with the real CRDs in tests/data."""
    kind = obj["kind"]
    if kind in shared:
        version = obj["apiVersion"].split("/")[-1]
        assert crd_errors(shared[kind], obj, version) == [], f"{kind}/{obj['metadata']['name']}"
    elif kind in bundle_crds():
        validate(obj)
    else:
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{kind}: {exc.message} at {list(exc.path)}") from exc


def test_tutorials_cover_the_three_routers() -> None:
    providers = {}
    for title, text in _sections().items():
        for block in _blocks(text, "yaml"):
            doc = yaml.safe_load(block)
            if isinstance(doc, dict) and doc.get("kind") == "ModelRollout":
                providers[title] = doc["spec"]["router"]["provider"]
    tutorials = {t: p for t, p in providers.items() if t.startswith("Tutorial")}
    assert sorted(tutorials.values()) == ["gatewayapi", "istio", "nginx"], providers


def test_every_object_in_the_doc_validates_and_every_rollout_renders(
    shared_crds: dict[str, Obj],
) -> None:
    rendered_kinds: set[str] = set()
    checked = 0
    for title, text in _sections().items():
        objects = [
            doc
            for block in _blocks(text, "yaml")
            for doc in documents(block)
            if isinstance(doc, dict) and "kind" in doc and doc["kind"] != "Kustomization"
        ]
        for obj in objects:
            if obj["kind"] == "ModelRollout":
                rollout = parse_rollout_yaml(yaml.safe_dump(obj), source=f"operator.md {title}")
                assert crd_errors(bundle_crds()["ModelRollout"], obj) == [], title
                others = [o for o in objects if o["kind"] not in ("ModelRollout", "Canary")]
                router = router_class(rollout.spec.router.provider)(MemoryObjectStore(others))
                analysis = rollout.spec.analysis
                routes = Routes(
                    champion_weight=75,
                    challenger_weight=25,
                    mirror_weight=100 if analysis.mirror else 0,
                    match=tuple(analysis.match or ()),
                    session_affinity=analysis.session_affinity,
                )
                for out in router.render(rollout, routes):
                    _validate_any(out, shared_crds)
                    rendered_kinds.add(out["kind"])
            else:
                _validate_any(obj, shared_crds)
            checked += 1
    assert checked >= 7
    assert {"VirtualService", "DestinationRule", "HTTPRoute", "Ingress"} <= rendered_kinds


def test_migration_example_is_what_convert_writes() -> None:
    text = _sections()["Migrating from Flagger"]
    blocks = _blocks(text, "yaml")
    canary = next(b for b in blocks if "kind: Canary" in b)
    shown = next(b for b in blocks if "kind: ModelRollout" in b)
    result = from_flagger(load_documents(canary), default_provider=None, source="canary.yaml")
    assert result.documents == [yaml.safe_load(shown)]
    notes = _blocks(text, "console")[0]
    assert [f"note: {n}" for n in result.notes] == notes.strip().splitlines()


def test_helm_values_example_renders_a_namespaced_operator() -> None:
    text = _sections()["Install"]
    (values_block,) = [b for b in _blocks(text, "yaml") if b.startswith("# values-")]
    values = yaml.safe_load(values_block)
    objects = helm_render(values, name="modelcanary")
    for obj in objects:
        validate(obj)
    assert_least_privilege(objects)
    assert_no_cluster_wide_writes(objects)
    bindings = by_kind(objects, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["churn", "fraud"]
    role = one(objects, "ClusterRole", bindings[0]["roleRef"]["name"])
    groups = {g for r in role["rules"] for g in r["apiGroups"]}
    assert "networking.istio.io" in groups and "networking.k8s.io" not in groups
    container = operator_container(objects)
    assert container["envFrom"] == [{"secretRef": {"name": "datadog-keys"}}]
    assert one(objects, "Deployment")["metadata"]["name"] == "modelcanary"


def test_kustomize_overlay_example_builds(tmp_path: Path) -> None:
    text = _sections()["Install"]
    (block,) = [b for b in _blocks(text, "yaml") if "kind: Kustomization" in b]
    (tmp_path / "operator").symlink_to(REPO / "operator")
    overlay = tmp_path / "my-overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(block)
    objects = kustomize(overlay)
    for obj in objects:
        validate(obj)
    assert operator_container(objects)["image"] == "registry.example.com/modelcanary/operator:0.1.0"
    binding = one(objects, "RoleBinding")
    assert binding["metadata"]["namespace"] == "ml-platform"
    # the binding the operator holds keeps its name (MODELCANARY_RBAC_BINDING names it)
    env = {e["name"]: e.get("value") for e in operator_container(objects)["env"]}
    assert env["MODELCANARY_RBAC_BINDING"] == binding["metadata"]["name"]
    assert one(objects, "Namespace")["metadata"]["name"] == "ml-platform"
    for binding in by_kind(objects, "RoleBinding") + by_kind(objects, "ClusterRoleBinding"):
        assert binding["subjects"][0]["namespace"] == "ml-platform", binding["metadata"]
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"]["namespace"] == "ml-platform", obj["kind"]
    args = operator_container(objects)["args"]
    assert "--namespace=$(POD_NAMESPACE)" in args
    assert_no_cluster_wide_writes(objects)
    # installed next to both overlays, it overwrites none of their cluster-scoped objects
    # (same name, other content); CRDs and the shared discovery ClusterRole are identical
    mine = _cluster_scoped(objects)
    for overlay in ("cluster", "namespaced"):
        other = _cluster_scoped(kustomize(REPO / "operator" / "kustomize" / "overlays" / overlay))
        clashes = [key for key in mine.keys() & other.keys() if mine[key] != other[key]]
        assert not clashes, (overlay, clashes)
        assert ("ClusterRoleBinding", "modelcanary-operator-ml-platform-discovery") not in other


def _cluster_scoped(objects: list[Obj]) -> dict[tuple[str, str], Obj]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects if o["kind"] in CLUSTER_SCOPED}


def _values_paths(node: Any, prefix: str = "") -> set[str]:
    paths = {prefix} if prefix else set()
    if isinstance(node, dict):
        for key, value in node.items():
            paths |= _values_paths(value, f"{prefix}.{key}" if prefix else key)
    return paths


def test_values_named_in_the_doc_exist() -> None:
    known = _values_paths(yaml.safe_load((CHART / "values.yaml").read_text()))
    text = DOC.read_text()
    named: set[str] = set()
    table = text.split("The chart's values", 1)[1].split("\n\n", 2)[1]
    for row in table.splitlines()[2:]:
        first = row.split("|")[1]
        tokens = re.findall(r"`([^`]+)`", first)
        for token in tokens:
            named.add(tokens[0].rsplit(".", 1)[0] + token if token.startswith(".") else token)
    named |= set(re.findall(r"--set ([\w.]+)=", text))
    assert len(named) >= 25
    assert named <= known, named - known


def test_paths_and_commands_in_shell_blocks_exist() -> None:
    runner = CliRunner()
    helps: dict[str, str] = {}
    checked = 0
    for block in _blocks(DOC.read_text(), "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            words = shlex.split(line)
            for word in words:
                path = word.split("=", 1)[-1]
                if path.startswith("operator/"):
                    assert (REPO / path).exists(), f"{line}: {path} does not exist"
                    checked += 1
            if words[0] == "modelcanary":
                command = words[1]
                if command not in helps:
                    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
                    assert result.exit_code == 0, f"{line}: {result.output}"
                    helps[command] = result.output
                for option in (w.split("=")[0] for w in words[2:] if w.startswith("-")):
                    assert option in helps[command], f"{line}: no option {option}"
                checked += 1
    assert checked >= 12
    assert {"validate", "apply", "watch", "history", "render", "convert"} <= set(helps)
