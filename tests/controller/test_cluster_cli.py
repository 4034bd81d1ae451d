"""The cluster command line against a Kubernetes API (kmock): apply, status, history, actions,
watch; and a rollout applied, steered and watched from the command line while the operator
runs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from controller_fixtures import (
    ROLLOUT_API,
    Kubelet,
    OperatorThread,
    PromAPI,
    deployment,
    forget_requests,
    rollout_doc,
    wait_for,
)
from kube_fixtures import KubeApi
from typer.testing import CliRunner

from modelcanary.cli._main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean(kube: KubeApi) -> Iterator[None]:
    kube.reset()
    forget_requests(kube)
    if kube.get("v1", "Namespace", None, "default") is None:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    yield


@pytest.fixture
def config(kube: KubeApi, tmp_path: Path) -> str:
    return str(kube.kubeconfig(tmp_path))


def _file(tmp_path: Path, doc: dict[str, Any], name: str = "rollout.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


def _cr(kube: KubeApi, name: str = "podinfo") -> dict[str, Any] | None:
    return kube.get(ROLLOUT_API, "ModelRollout", "default", name)


def _set_status(kube: KubeApi, name: str, status: dict[str, Any]) -> None:
    kube.patch(ROLLOUT_API, "ModelRollout", "default", name, {"status": status})


def test_apply_creates_then_patches_the_resource(
    kube: KubeApi, config: str, tmp_path: Path
) -> None:
    doc = rollout_doc(prometheus="http://prometheus.monitoring:9090")
    path = _file(tmp_path, doc)
    result = runner.invoke(app, ["apply", path, "--kubeconfig", config])
    assert result.exit_code == 0, result.output
    assert "modelrollout default/podinfo created" in result.output
    stored = _cr(kube)
    assert stored is not None
    assert stored["spec"]["analysis"]["stepWeights"] == [30, 60]
    assert stored["spec"]["router"] == {"provider": "istio"}

    again = runner.invoke(app, ["apply", path, "--kubeconfig", config])
    assert again.exit_code == 0 and "unchanged" in again.output, again.output

    doc["spec"]["analysis"]["stepWeights"] = [10, 20, 40]
    doc["spec"]["analysis"]["threshold"] = 3
    changed = runner.invoke(app, ["apply", _file(tmp_path, doc), "--kubeconfig", config])
    assert changed.exit_code == 0 and "configured" in changed.output, changed.output
    stored = _cr(kube)
    assert stored is not None
    assert stored["spec"]["analysis"]["stepWeights"] == [10, 20, 40]
    assert stored["spec"]["analysis"]["threshold"] == 3


def test_apply_into_another_namespace(kube: KubeApi, config: str, tmp_path: Path) -> None:
    path = _file(tmp_path, rollout_doc(prometheus="http://p:9090"))
    result = runner.invoke(app, ["apply", path, "-n", "models", "--kubeconfig", config])
    assert result.exit_code == 0, result.output
    assert kube.get(ROLLOUT_API, "ModelRollout", "models", "podinfo") is not None
    assert _cr(kube) is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("analysis", "stepWeights", [60, 30]), "spec.analysis.stepWeights"),
        (("router", "provider", "local"), "spec.router.provider"),
    ],
)
def test_apply_refuses_a_bad_file_with_exit_2(
    kube: KubeApi,
    config: str,
    tmp_path: Path,
    change: tuple[str, str, Any],
    expected: str,
) -> None:
    doc = rollout_doc(prometheus="http://p:9090")
    section, key, value = change
    doc["spec"][section][key] = value
    result = runner.invoke(app, ["apply", _file(tmp_path, doc), "--kubeconfig", config])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "fix:" in result.output
    assert "Traceback" not in result.output
    assert _cr(kube) is None


def test_missing_cluster_configuration_is_exit_2(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    for args in (
        ["status", "podinfo", "--kubeconfig", missing],
        ["apply", _file(tmp_path, rollout_doc(prometheus="http://p")), "--kubeconfig", missing],
        ["watch", "podinfo", "--kubeconfig", missing],
        ["abort", "podinfo", "--kubeconfig", missing],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "--kubeconfig" in result.output and "fix:" in result.output
        assert "Traceback" not in result.output


def test_unknown_rollout_is_exit_2(kube: KubeApi, config: str) -> None:
    for command in ("status", "history", "promote", "watch"):
        result = runner.invoke(app, [command, "nope", "--kubeconfig", config])
        assert result.exit_code == 2, (command, result.output)
        assert "no ModelRollout default/nope" in result.output


def test_status_and_history_read_the_resource(kube: KubeApi, config: str) -> None:
    kube.create(rollout_doc(prometheus="http://p:9090"))
    record = {
        "time": "2026-01-01T00:00:00Z",
        "phase": "Progressing",
        "canaryWeight": 30,
        "verdict": "pass",
        "message": "all 1 checks passed",
        "checks": [{"metric": "errors", "value": 0.01, "max": 0.05, "verdict": "pass"}],
    }
    _set_status(
        kube,
        "podinfo",
        {"phase": "Progressing", "canaryWeight": 30, "iterations": 1, "history": [record]},
    )
    shown = runner.invoke(app, ["status", "podinfo", "--kubeconfig", config])
    assert shown.exit_code == 0, shown.output
    assert "Progressing" in shown.output and "30%" in shown.output and "errors" in shown.output

    as_json = runner.invoke(app, ["status", "podinfo", "--kubeconfig", config, "--json"])
    assert as_json.exit_code == 0, as_json.output
    status = json.loads(as_json.output)
    assert status["phase"] == "Progressing" and status["canaryWeight"] == 30

    lines = runner.invoke(app, ["history", "podinfo", "--kubeconfig", config])
    assert lines.exit_code == 0, lines.output
    assert "weight  30%" in lines.output and "all 1 checks passed" in lines.output


def test_cluster_mode_from_the_environment(kube: KubeApi, config: str) -> None:
    kube.create(rollout_doc(prometheus="http://p:9090"))
    _set_status(kube, "podinfo", {"phase": "Initialized"})
    env = {"MODELCANARY_CLUSTER": "1", "KUBECONFIG": config}
    result = runner.invoke(app, ["status", "podinfo", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["phase"] == "Initialized"


def test_local_mode_is_unchanged_without_a_cluster_flag(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "podinfo", "--workdir", str(tmp_path)])
    assert result.exit_code == 2
    assert "modelcanary run FILE --workdir" in result.output  # the local command's own message


def test_actions_annotate_the_resource(kube: KubeApi, config: str) -> None:
    kube.create(rollout_doc(prometheus="http://p:9090"))
    result = runner.invoke(
        app, ["abort", "podinfo", "--kubeconfig", config, "--reason", "bad canary"]
    )
    assert result.exit_code == 0, result.output
    notes = (_cr(kube) or {})["metadata"]["annotations"]
    assert notes["modelcanary.io/action"] == "abort"
    assert notes["modelcanary.io/action-id"].startswith("abort-")
    assert notes["modelcanary.io/action-reason"] == "bad canary"

    result = runner.invoke(app, ["approve", "podinfo", "--cluster"], env={"KUBECONFIG": config})
    assert result.exit_code == 0, result.output
    notes = (_cr(kube) or {})["metadata"]["annotations"]
    assert notes["modelcanary.io/action"] == "approve"
    assert "modelcanary.io/action-reason" not in notes  # no stale reason of the abort


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ({"phase": "Succeeded", "outcome": "promoted", "message": "promoted"}, 0),
        ({"phase": "Failed", "outcome": "rolled_back", "message": "rolled back"}, 1),
        ({"phase": "Failed", "outcome": "aborted", "message": "aborted by user"}, 3),
    ],
)
def test_watch_exit_codes(kube: KubeApi, config: str, status: dict[str, Any], code: int) -> None:
    kube.create(rollout_doc(prometheus="http://p:9090"))
    _set_status(kube, "podinfo", status)
    for extra in (["--quiet"], []):
        result = runner.invoke(app, ["watch", "podinfo", "--kubeconfig", config, *extra])
        assert result.exit_code == code, result.output
        assert status["message"] in result.output


def test_watch_gives_up_at_the_timeout(kube: KubeApi, config: str) -> None:
    kube.create(rollout_doc(prometheus="http://p:9090"))
    _set_status(kube, "podinfo", {"phase": "Progressing"})
    result = runner.invoke(
        app,
        ["watch", "podinfo", "--kubeconfig", config, "--timeout", "0.3", "--interval", "0.1"],
    )
    assert result.exit_code == 3, result.output
    assert "still Progressing" in result.output


def test_watch_follows_a_kubernetes_watch_not_a_poll(kube: KubeApi, config: str) -> None:
    """Each status the operator writes reaches ``watch`` through the watch API: over 1.5 s and
    three status writes, the resource is read once (the start), not once per --interval."""
    import threading
    import time

    kube.create(rollout_doc(prometheus="http://p:9090"))
    _set_status(kube, "podinfo", {"phase": "Progressing", "canaryWeight": 10})
    forget_requests(kube)

    def operator_writes() -> None:
        for weight in (30, 60):
            time.sleep(0.5)
            _set_status(kube, "podinfo", {"phase": "Progressing", "canaryWeight": weight})
        time.sleep(0.5)
        _set_status(kube, "podinfo", {"phase": "Succeeded", "outcome": "promoted"})

    writer = threading.Thread(target=operator_writes)
    writer.start()
    result = runner.invoke(
        app, ["watch", "podinfo", "--kubeconfig", config, "-q", "--interval", "0.05"]
    )
    writer.join()
    assert result.exit_code == 0, result.output
    path = "/apis/modelcanary.io/v1alpha1/namespaces/default/modelrollouts"
    reads = [q for q in kube.queries() if q[0] == "GET" and q[1] == f"{path}/podinfo"]
    watches = [q for q in kube.queries() if q[0] == "GET" and q[2].get("watch") in ("true", "1")]
    assert watches, kube.queries()
    assert len(reads) <= 3, reads  # a 0.05 s poll would have read ~30 times


def test_apply_watch_and_abort_with_the_operator_running(
    kube: KubeApi, config: str, tmp_path: Path
) -> None:
    prom = PromAPI()
    kubelet = Kubelet(kube).start()
    try:
        prom.values["rollout='podinfo'"] = 0.0
        prom.values["rollout='held'"] = 0.0
        kube.create(deployment("podinfo"))
        kube.create(deployment("held"))
        ok = _file(tmp_path, rollout_doc("podinfo", prometheus=prom.url), "ok.yaml")
        held = _file(tmp_path, rollout_doc("held", prometheus=prom.url, interval="1h"), "held.yaml")
        assert runner.invoke(app, ["apply", ok, "--kubeconfig", config]).exit_code == 0
        assert runner.invoke(app, ["apply", held, "--kubeconfig", config]).exit_code == 0
        with OperatorThread(kube.api_client):
            for name in ("podinfo", "held"):
                wait_for(
                    lambda n=name: (
                        ((_cr(kube, n) or {}).get("status") or {}).get("phase") == "Initialized"
                    ),
                    f"{name} Initialized",
                )
            for name in ("podinfo", "held"):
                kube.patch(
                    "apps/v1",
                    "Deployment",
                    "default",
                    name,
                    {"spec": {"template": {"metadata": {"annotations": {"rev": "2"}}}}},
                )
            watched = runner.invoke(app, ["watch", "podinfo", "--kubeconfig", config, "-q"])
            assert watched.exit_code == 0, watched.output
            assert "promoted" in watched.output

            # "held" waits an hour per step: abort it from the command line
            wait_for(
                lambda: ((_cr(kube, "held") or {}).get("status") or {}).get("canaryWeight") == 30,
                "held at 30 %",
            )
            aborted = runner.invoke(
                app, ["abort", "held", "--kubeconfig", config, "--reason", "not today"]
            )
            assert aborted.exit_code == 0, aborted.output
            watched = runner.invoke(app, ["watch", "held", "--kubeconfig", config, "-q"])
            assert watched.exit_code == 3, watched.output
        status = (_cr(kube, "held") or {})["status"]
        assert status["outcome"] == "aborted" and "not today" in status["message"]
        assert status["canaryWeight"] == 0
    finally:
        kubelet.stop()
        prom.close()
