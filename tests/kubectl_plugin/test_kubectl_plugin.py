"""``kubectl modelcanary`` against a Kubernetes API (kmock) where the real operator runtime
created a rollout's objects: the tree of ``get``, status/history/actions through the cluster
mode, kubectl's conventions (namespace of the context, $KUBECONFIG, --context), exit 2 on bad
input; and the installed console script run by the real kubectl as a plugin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from controller_fixtures import ROLLOUT_API, PromAPI, prom
from kube_fixtures import KubeApi
from kubectl_cluster import NS, Operator, config, launch, versions_doc
from ports import closed_url
from typer.testing import CliRunner

from modelcanary.cli._kubectl_plugin import app
from modelcanary.cli._kubectl_tree import build
from modelcanary.k8s import KubeClient, KubeObjectStore, KubeStatusStore, Ref

__all__ = ["config", "prom"]

runner = CliRunner()
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def podinfo(kube: KubeApi, prom: PromAPI) -> Operator:
    kube.reset()
    return launch(kube, prom, "podinfo")


def plugin(config: str, *args: str) -> Any:
    """Run the plugin in-process with ``--kubeconfig`` (the context's namespace: ml)."""
    result = runner.invoke(app, [*args, "--kubeconfig", config])
    assert "Traceback" not in result.output, result.output
    return result


def _nodes(node: dict[str, Any], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    yield depth, node
    for child in node["children"]:
        yield from _nodes(child, depth + 1)


def test_get_shows_the_tree_of_what_the_rollout_owns(
    kube: KubeApi, config: str, podinfo: Operator
) -> None:
    result = plugin(config, "get", "podinfo", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["name"], data["namespace"], data["phase"]) == ("podinfo", NS, "Progressing")
    assert data["routes"] == {"champion": 70, "challenger": 30, "mirror": 0, "matchConditions": 0}
    tree = data["tree"]
    assert (tree["kind"], tree["status"], tree["owned"]) == ("ModelRollout", "Progressing", None)
    shape = {
        (depth, n["kind"], n["name"], n["role"], n["owned"], n["status"])
        for depth, n in _nodes(tree)
        if depth
    }
    assert shape == {
        (1, "Deployment", "podinfo-primary", "champion", False, "Ready"),  # outlives it
        (2, "HorizontalPodAutoscaler", "podinfo-primary", "autoscaler", False, "Present"),
        (2, "ConfigMap", "podinfo-config-primary", "copy of podinfo-config", False, "Present"),
        (1, "Deployment", "podinfo", "challenger (targetRef)", False, "Ready"),
        (2, "HorizontalPodAutoscaler", "podinfo", "autoscaler", False, "Present"),
        (1, "Service", "podinfo", "apex service", False, "Present"),
        (1, "Service", "podinfo-primary", "champion service", True, "Present"),
        (1, "Service", "podinfo-canary", "challenger service", True, "Present"),
        (1, "DestinationRule", "podinfo-primary", "routing", True, "Present"),
        (1, "DestinationRule", "podinfo-canary", "routing", True, "Present"),
        (1, "VirtualService", "podinfo", "routing", True, "Present"),
    }
    champion = next(n for _, n in _nodes(tree) if n["name"] == "podinfo-primary")
    assert champion["info"] == "2/2 ready, ghcr.io/stefanprodan/podinfo:6.0.0"
    challenger = next(n for d, n in _nodes(tree) if d == 1 and n["name"] == "podinfo")
    assert "ghcr.io/stefanprodan/podinfo:6.0.1" in challenger["info"]
    assert data["notes"] == []
    as_yaml = plugin(config, "get", "podinfo", "-o", "yaml")
    assert as_yaml.exit_code == 0 and yaml.safe_load(as_yaml.stdout) == data


def test_the_tree_holds_every_object_owned_or_labelled(
    kube: KubeApi, config: str, podinfo: Operator
) -> None:
    """Whatever carries an ownerReference to the rollout or its label, in any kind the API
    serves, is in the tree, and OWNED agrees with the objects' ownerReferences."""
    rollout = kube.get(ROLLOUT_API, "ModelRollout", NS, "podinfo")
    assert rollout is not None
    uid = rollout["metadata"]["uid"]
    data = json.loads(plugin(config, "get", "podinfo", "-o", "json").stdout)
    shown = {(n["kind"], n["name"]): n["owned"] for d, n in _nodes(data["tree"]) if d}
    belonging: dict[tuple[str, str], bool] = {}
    for api_version, kind in kube.kinds:
        if kind in ("Event", "ModelRollout", "Namespace", "CustomResourceDefinition"):
            continue
        for obj in kube.list(api_version, kind, NS):
            meta = obj["metadata"]
            owned = any(o.get("uid") == uid for o in meta.get("ownerReferences") or [])
            if owned or (meta.get("labels") or {}).get("modelcanary.io/rollout") == "podinfo":
                belonging[(kind, meta["name"])] = owned
    assert belonging, "the operator created nothing"
    for key, owned in belonging.items():
        assert shown.get(key) == owned, (key, owned, shown)


def test_get_of_a_model_versions_rollout(
    kube: KubeApi, prom: PromAPI, config: str, podinfo: Operator
) -> None:
    """Champion and challenger model versions: both Deployments are the operator's."""
    doc = versions_doc(prom, "models:/fraud@champion")
    prom.values["rollout='fraud'"] = 0.0
    kube.create(doc)
    Operator(kube, "fraud").until(lambda s: s.get("canaryWeight") == 20, "20%")
    data = json.loads(plugin(config, "get", "fraud", "-o", "json").stdout)
    assert data["routes"]["challenger"] == 20
    rows = {(n["kind"], n["name"], n["role"], n["owned"]) for d, n in _nodes(data["tree"]) if d}
    assert rows == {
        ("Deployment", "fraud-primary", "champion", False),  # serves after deletion
        ("Deployment", "fraud-canary", "challenger", True),
        ("Service", "fraud", "apex service", False),
        ("Service", "fraud-primary", "champion service", True),
        ("Service", "fraud-canary", "challenger service", True),
        ("DestinationRule", "fraud-primary", "routing", True),
        ("DestinationRule", "fraud-canary", "routing", True),
        ("VirtualService", "fraud", "routing", True),
    }
    challenger = next(n for _, n in _nodes(data["tree"]) if n["name"] == "fraud-canary")
    assert challenger["status"] == "Ready" and "models:/fraud/2" in challenger["info"]


def test_get_prints_a_tree_for_a_person(config: str, podinfo: Operator) -> None:
    result = plugin(config, "get", "podinfo")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Name:       podinfo"
    assert "Namespace:  ml" in lines
    assert "Phase:      Progressing" in lines
    assert "Traffic:    champion 70%, challenger 30%" in lines
    assert "Router:     istio" in lines
    head = next(i for i, line in enumerate(lines) if line.startswith("NAME "))
    assert lines[head].split() == ["NAME", "KIND", "ROLE", "STATUS", "OWNED", "INFO"]
    assert lines[head + 1].startswith("podinfo ") and "ModelRollout" in lines[head + 1]
    body = lines[head + 2 :]
    assert body[0].startswith("├── podinfo-primary ")
    assert body[1].startswith("│   ├── podinfo-primary ") and "HorizontalPodAutoscaler" in body[1]
    assert body[2].startswith("│   └── podinfo-config-primary ")
    assert body[-1].startswith("└── podinfo ") and "VirtualService" in body[-1]
    columns = {line.index("Deployment") for line in body if " Deployment " in line}
    assert len(columns) == 1, "columns are aligned"


def test_status_history_and_actions_go_through_the_cluster_mode(
    kube: KubeApi, prom: PromAPI, config: str, podinfo: Operator
) -> None:
    steered = launch(kube, prom, "steered")
    shown = plugin(config, "status", "steered", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["canaryWeight"] == 30

    paused = plugin(config, "pause", "steered", "--reason", "maintenance")
    assert paused.exit_code == 0, paused.output
    assert "pause requested for ModelRollout ml/steered" in paused.output
    steered.until(lambda s: s.get("paused") is True, "paused")
    text = plugin(config, "get", "steered").stdout
    assert "Phase:      Progressing (paused)" in text

    assert plugin(config, "resume", "steered").exit_code == 0
    steered.until(lambda s: s.get("paused") is False, "resumed")
    steered.until(lambda s: s.get("iterations", 0) >= 1, "one analysis interval")
    assert plugin(config, "abort", "steered", "--reason", "bad canary").exit_code == 0
    steered.until(lambda s: s.get("phase") == "Failed", "Failed")
    data = json.loads(plugin(config, "get", "steered", "-o", "json").stdout)
    assert (data["phase"], data["outcome"]) == ("Failed", "aborted")
    assert "bad canary" in data["message"]

    lines = plugin(config, "history", "steered").stdout
    assert "weight  30%" in lines

    for kind in ("retry", "approve", "promote"):
        result = plugin(config, kind, "steered")
        assert result.exit_code == 0, result.output
        notes = (kube.get(ROLLOUT_API, "ModelRollout", NS, "steered") or {})["metadata"][
            "annotations"
        ]
        assert notes["modelcanary.io/action"] == kind
    watched = plugin(config, "status", "steered", "--watch", "--json")  # decided: aborted
    assert watched.exit_code == 3, watched.output
    assert "aborted by user (bad canary)" in watched.output


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["get", "Bad_Name"], ["NAME", "is not a ModelRollout name", "fix:"]),
        (["get", "podinfo", "-n", "Not/A/Namespace"], ["--namespace", "is not a namespace name"]),
        (["get", "nope"], ["no ModelRollout ml/nope", "fix:"]),
        (["get", "podinfo", "-n", "default"], ["no ModelRollout default/podinfo"]),
        (["status", "nope"], ["no ModelRollout ml/nope"]),
        (["history", "Nope"], ["is not a ModelRollout name"]),
        (["promote", "nope"], ["no ModelRollout ml/nope"]),
        (["get", "podinfo", "-o", "xml"], ["'xml' is not one of"]),
        (["frobnicate"], ["No such command"]),
        (["get"], ["Missing argument"]),
    ],
)
def test_bad_input_exits_2_with_the_fix(
    config: str, podinfo: Operator, args: list[str], fragments: list[str]
) -> None:
    result = plugin(config, *args)
    assert result.exit_code == 2, result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)


def test_a_missing_kubeconfig_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["get", "podinfo", "--kubeconfig", str(tmp_path / "nope")])
    assert result.exit_code == 2, result.output
    assert "--kubeconfig" in result.output and "fix:" in result.output
    assert "Traceback" not in result.output


def test_the_context_decides_the_namespace(
    kube: KubeApi, config: str, podinfo: Operator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As kubectl: -n wins, else the context's namespace (--context, else current-context, from
    every $KUBECONFIG file), else default."""
    plain = plugin(config, "get", "podinfo", "--context", "plain")  # no namespace: default
    assert plain.exit_code == 2 and "no ModelRollout default/podinfo" in plain.output
    assert plugin(config, "get", "podinfo", "--context", "plain", "-n", NS).exit_code == 0
    # $KUBECONFIG with two files: the first sets current-context, the second defines it
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("apiVersion: v1\nkind: Config\ncurrent-context: ml\n", encoding="utf-8")
    second.write_text(Path(config).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv(
        "KUBECONFIG", os.pathsep.join([str(tmp_path / "missing"), str(first), str(second)])
    )
    from modelcanary.cli._kubectl_plugin import context_namespace

    assert context_namespace(None, None) == NS
    assert context_namespace(None, "plain") is None
    assert context_namespace(str(first), None) is None


def test_a_list_the_api_refuses_is_a_note_not_a_failure(kube: KubeApi, podinfo: Operator) -> None:
    """The tree shows what the rollout names; what a label search cannot read is a note."""
    client = KubeClient(kube.api_client, timeout=10)
    stored = KubeStatusStore(client).get("podinfo", NS)
    assert stored is not None
    closed = kube.api_client.configuration.__class__()
    closed.host = closed_url()  # nothing listens
    dead = KubeClient(kube.api_client.__class__(closed), timeout=5)

    def lister(api_version: str, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        return dead.list(Ref(api_version, kind, namespace, ""), label_selector=selector)

    tree = build(stored.rollout, KubeObjectStore(client), lister)
    assert len(tree.notes) == 5 and "cannot list Deployments labelled" in tree.notes[0]
    names = {c.name for c in tree.root.children}
    assert {"podinfo-primary", "podinfo-canary", "podinfo"} <= names
    champion = next(c for c in tree.root.children if c.name == "podinfo-primary")
    assert [c.kind for c in champion.children] == ["HorizontalPodAutoscaler"]  # no copy found


# -- the installed plugin, run by kubectl ------------------------------------------------------
def test_kubectl_runs_the_installed_plugin(config: str, podinfo: Operator, tmp_path: Path) -> None:
    """``kubectl modelcanary ...`` finds ``kubectl-modelcanary`` on the PATH (``pip install``
    puts it next to the interpreter); the plugin honours $KUBECONFIG and its context."""
    script = BIN / "kubectl-modelcanary"
    assert script.exists(), f"{script} missing: run `pip install -e .` (scripts/_env.sh does)"
    env = {**os.environ, "KUBECONFIG": config, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env["HOME"] = str(tmp_path)  # no ~/.kube of the machine running the tests
    kubectl = shutil.which("kubectl", path=env["PATH"])
    command = [kubectl, "modelcanary"] if kubectl else [str(script)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    got = run("get", "podinfo")
    assert got.returncode == 0, got.stderr
    assert "Namespace:  ml" in got.stdout and "└── podinfo " in got.stdout
    missing = run("get", "nope")
    assert missing.returncode == 2, missing.stderr
    assert "no ModelRollout ml/nope" in missing.stderr and "Traceback" not in missing.stderr
    helped = run("--help")
    assert helped.returncode == 0 and "kubectl modelcanary" in helped.stdout
    if kubectl:
        listed = subprocess.run(
            [kubectl, "plugin", "list"], env=env, capture_output=True, text=True, timeout=60
        )
        assert str(script) in listed.stdout, listed.stdout + listed.stderr
    direct = subprocess.run(
        [str(script), "version"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert direct.returncode == 0 and direct.stdout.strip()
