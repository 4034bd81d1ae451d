"""``mc.cluster().submit(rollout)`` and its ClusterRun against the kmock API with the operator
running in-process: what a data scientist sees in a notebook (status, wait, history, list,
the live widget and its buttons), decided by the real operator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cluster_fixtures import NS, ROLLOUT_API, fraud, stored
from controller_fixtures import OperatorThread, PromAPI
from kube_fixtures import KubeApi
from polling import until

import modelcanary as mc
from modelcanary.errors import SpecError
from modelcanary.notebook import Cluster, ClusterRun
from modelcanary.notebook._cluster import LIST_COLUMNS
from modelcanary.notebook._run import HISTORY_COLUMNS

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _until(check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    return until(check, what, timeout, interval=0.05)


@pytest.fixture
def env_kubeconfig(kubeconfig: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """$KUBECONFIG set, as in a notebook started from a shell with a current context."""
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return kubeconfig


def test_submit_then_wait_in_the_notebook_cell(
    ml_kube: KubeApi,
    ml_prom: PromAPI,
    ml_operator: OperatorThread,
    env_kubeconfig: str,
    clean_ml: None,
    tmp_path: Path,
) -> None:
    ml_prom.values["rollout='fraud'"] = 0.0
    rollout = fraud(ml_prom.url)

    run = mc.cluster(namespace="ml").submit(rollout)
    status = run.wait(180)

    assert isinstance(run, ClusterRun) and run.done
    assert status.phase == "Succeeded" and status.outcome == "promoted", status.message
    cr = stored(ml_kube, "fraud")
    assert cr is not None and cr["spec"]["challenger"]["modelUri"] == "models:/fraud/4"
    assert cr["status"]["outcome"] == "promoted"  # what wait() returned is what is stored
    applied = [m for m in cr["metadata"]["managedFields"] if m["operation"] == "Apply"]
    assert [m["manager"] for m in applied] == ["modelcanary"]  # server-side apply, our manager
    assert "f:challenger" in str(applied[0]["fieldsV1"])

    frame = run.history()
    assert list(frame.columns) == HISTORY_COLUMNS
    assert frame["weight"].tolist() == [30, 60] and set(frame["verdict"]) == {"pass"}

    listed = mc.cluster().list()  # the context's namespace: ml
    assert list(listed.columns) == LIST_COLUMNS
    (row,) = listed.to_dict("records")
    assert row["name"] == "fraud" and row["namespace"] == NS and row["phase"] == "Succeeded"
    assert row["last_verdict"] == "pass" and row["age"].total_seconds() >= 0

    again = mc.cluster(namespace="ml").get("fraud")
    assert again.done and again.status().outcome == "promoted"
    out = again.report(tmp_path / "cluster-report.html")
    assert "fraud" in out.read_text(encoding="utf-8")
    assert "promoted" in repr(again) or "Succeeded" in repr(again)


def test_abort_from_the_widget_rolls_back(
    ml_kube: KubeApi,
    ml_prom: PromAPI,
    ml_operator: OperatorThread,
    kubeconfig: str,
    clean_ml: None,
) -> None:
    ml_prom.values["rollout='slow'"] = 0.0
    rollout = fraud(ml_prom.url, "slow").canary(steps=list(range(5, 100, 5)), interval="1s")
    run = mc.cluster(kubeconfig=kubeconfig).submit(rollout)
    bundle = run._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "text/html" in bundle
    widget = run.widget()
    assert widget.polling  # following the watch
    _until(lambda: widget.phase == "Progressing", "the widget to show Progressing")
    widget.buttons["abort"].click()  # as a person pressing it
    assert "abort sent" in widget.feedback.value
    notes = (stored(ml_kube, "slow") or {})["metadata"]["annotations"]
    assert notes["modelcanary.io/action"] == "abort"
    assert notes["modelcanary.io/action-reason"] == "abort from the notebook widget"

    status = run.wait(180)
    assert status.phase == "Failed" and status.outcome == "aborted", status.message
    _until(lambda: not widget.polling, "the widget to stop following")
    assert widget.phase == "Failed" and "aborted" in widget.badge.value
    assert all(b.disabled for b in widget.buttons.values())


def test_a_resubmitted_rollout_is_not_done_with_the_old_decision(
    ml_kube: KubeApi,
    ml_prom: PromAPI,
    ml_operator: OperatorThread,
    kubeconfig: str,
    clean_ml: None,
) -> None:
    ml_prom.values["rollout='fraud'"] = 0.0
    cluster = mc.cluster(kubeconfig=kubeconfig)
    first = cluster.submit(fraud(ml_prom.url))
    assert first.wait(180).outcome == "promoted"

    # a slower plan for version 5: the abort must land while it runs, whatever the load
    slow = fraud(ml_prom.url, challenger="models:/fraud/5").canary(steps=[30, 60], interval="20s")
    second = cluster.submit(slow)
    assert second.generation is not None and second.generation > (first.generation or 0)
    assert not second.done  # the stored "promoted" is the decision about version 4
    second.abort("v5 looks wrong")  # applied to version 5, not swallowed by the old decision
    status = second.wait(180)
    assert status.outcome == "aborted", status.message
    assert status.challenger is None or "5" in str(status.challenger)
    assert "v5 looks wrong" in status.message


def test_bad_input_and_missing_rollouts_are_clear_errors(
    ml_kube: KubeApi, kubeconfig: str, clean_ml: None
) -> None:
    cluster = mc.cluster(kubeconfig=kubeconfig)
    assert isinstance(cluster, Cluster) and cluster.namespace == NS
    local = (
        mc.Rollout("here")
        .champion("models:/m/1")
        .challenger("models:/m/2")
        .canary(steps=[50])
        .slo(mc.sli.error_rate() < "1%")
    )
    with pytest.raises(SpecError) as bad:
        cluster.submit(local)
    assert "spec.router.provider" in str(bad.value) and ".router('istio')" in str(bad.value)
    assert stored(ml_kube, "here") is None  # nothing written
    with pytest.raises(SpecError) as wrong:
        cluster.submit({"name": "x"})
    assert "expected an mc.Rollout or a ModelRollout, got dict" in str(wrong.value)
    with pytest.raises(SpecError) as missing:
        cluster.get("nope")
    assert f"no ModelRollout {NS}/nope" in str(missing.value)
    empty = cluster.list()
    assert list(empty.columns) == LIST_COLUMNS and empty.empty
    assert ml_kube.get(ROLLOUT_API, "ModelRollout", NS, "nope") is None
