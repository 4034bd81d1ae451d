"""``modelcanary rollback NAME --to VERSION`` on a cluster (kmock API, the real operator runtime
ticked by hand, a real Prometheus-API server): after a promotion, the named version becomes
the challenger of a short, analysed rollout against the current champion; the history says
who asked for which version; a broken old version is rolled back, not promoted; a version
that never served as champion, a rollout under way and a targetRef rollout exit 2 with the
fix. The CLI runs as a real process; ``kubectl modelcanary rollback`` in-process."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "controller"), str(HERE.parent / "kubectl_plugin")]

from cli_runs import cli  # noqa: E402
from controller_fixtures import ROLLOUT_API, PromAPI, prom, rollout_doc  # noqa: E402
from kube_fixtures import KubeApi  # noqa: E402
from kubectl_cluster import NS, Operator, config, kube, versions_doc  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from modelcanary.cli._kubectl_plugin import app as plugin_app  # noqa: E402

__all__ = ["config", "kube", "prom"]

NAME = "fraud"


def _stored(kube: KubeApi, name: str = NAME) -> dict[str, Any]:
    obj = kube.get(ROLLOUT_API, "ModelRollout", NS, name)
    assert obj is not None
    return obj


def _primary_serves(kube: KubeApi, version: str) -> bool:
    primary = kube.get("apps/v1", "Deployment", NS, f"{NAME}-primary") or {}
    return version in json.dumps(primary.get("spec", {}).get("template", {}))


def _plugin(config: str, *args: str) -> Any:
    result = CliRunner().invoke(plugin_app, [*args, "--kubeconfig", config])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def promoted(kube: KubeApi, prom: PromAPI) -> Operator:
    """``fraud`` rolled out from models:/fraud/1 to models:/fraud/2 and promoted."""
    prom.values[f"rollout='{NAME}'"] = 0.0
    kube.create(versions_doc(prom, "models:/fraud/1", stepWeightPromotion=20))
    operator = Operator(kube, NAME)
    operator.until(lambda s: s.get("phase") == "Progressing", "Progressing")
    return operator


def test_a_rollback_while_a_rollout_is_under_way_exits_2(
    promoted: Operator, config: str, tmp_path: Path
) -> None:
    done = cli(tmp_path, "rollback", NAME, "--to", "1", "-n", NS, "--kubeconfig", config)
    assert done.returncode == 2, done.stderr
    assert "Progressing: a rollout is under way" in done.stderr
    assert f"modelcanary abort {NAME}" in done.stderr and "Traceback" not in done.stderr


def test_rollback_to_a_named_version_is_a_fast_analysed_rollout(
    kube: KubeApi, promoted: Operator, config: str, tmp_path: Path
) -> None:
    promoted.until(lambda s: s.get("phase") == "Succeeded", "Succeeded")
    status = promoted.status()
    assert status["outcome"] == "promoted" and status["champions"] == [
        "models:/fraud/1",
        "models:/fraud/2",
    ]
    before = len(status["history"])

    never = cli(tmp_path, "rollback", NAME, "--to", "7", "-n", NS, "--kubeconfig", config)
    assert never.returncode == 2, never.stderr
    text = " ".join(never.stderr.split())
    assert "'7' was never the champion of ml/fraud" in text, text
    assert "known versions: models:/fraud/1, models:/fraud/2" in text, text
    same = cli(tmp_path, "rollback", NAME, "--to", "v2", "-n", NS, "--kubeconfig", config)
    assert same.returncode == 2 and "already the champion" in same.stderr, same.stderr
    assert _stored(kube)["spec"]["challenger"] == {"modelUri": "models:/fraud/2"}  # untouched

    done = cli(
        tmp_path,
        "rollback",
        NAME,
        "--to",
        "1",
        "-n",
        NS,
        "--kubeconfig",
        config,
        "--by",
        "alice",
        "--reason",
        "v2 drifts on weekends",
    )
    assert done.returncode == 0, done.stderr
    assert "one analysis interval (1m) at canary 40%" in " ".join(done.stderr.split())
    spec = _stored(kube)["spec"]
    assert spec["champion"] == {"modelUri": "models:/fraud/2"}  # what serves now
    assert spec["challenger"] == {"modelUri": "models:/fraud/1"}
    assert spec["analysis"]["stepWeights"] == [40] and "stepWeightPromotion" not in spec["analysis"]
    assert spec["analysis"]["metrics"][0]["name"] == "errors"  # the analysis stays on
    note = json.loads(_stored(kube)["metadata"]["annotations"]["modelcanary.io/rollback"])
    assert (note["to"], note["from"], note["by"]) == ("models:/fraud/1", "models:/fraud/2", "alice")

    promoted.until(lambda s: s.get("canaryWeight") == 40, "the rollback's one stage")
    entry = promoted.status()["history"][before]
    assert (entry["kind"], entry["version"], entry["requestedBy"]) == (
        "rollback",
        "models:/fraud/1",
        "alice",
    )
    assert "v2 drifts on weekends" in entry["message"] and entry["verdict"] == "skipped"
    promoted.until(lambda s: s.get("phase") == "Succeeded", "the rollback promoted")
    status = promoted.status()
    assert (status["outcome"], status["challenger"]) == ("promoted", "models:/fraud/1")
    analysed = [r for r in status["history"][before:] if r.get("kind") != "rollback"]
    assert [r["canaryWeight"] for r in analysed] == [40]  # one interval, then a direct switch
    assert analysed[0]["verdict"] == "pass" and analysed[0]["checks"][0]["metric"] == "errors"
    assert _primary_serves(kube, "models:/fraud/1") and not _primary_serves(kube, "models:/fraud/2")
    history = _plugin(config, "history", NAME)
    assert history.exit_code == 0 and "rollback to models:/fraud/1" in history.output


def test_a_broken_old_version_is_rolled_back_not_promoted(
    kube: KubeApi, prom: PromAPI, promoted: Operator, config: str
) -> None:
    """Through ``kubectl modelcanary rollback``: the checks fail, traffic stays on the champion."""
    promoted.until(lambda s: s.get("phase") == "Succeeded", "Succeeded")
    prom.values[f"rollout='{NAME}'"] = 0.5  # the old version errors now
    try:
        result = _plugin(config, "rollback", NAME, "--to", "models:/fraud/2", "--by", "bob")
        assert result.exit_code == 0, result.output
        promoted.until(lambda s: s.get("phase") == "Failed", "the rollback rolled back")
    finally:
        prom.values[f"rollout='{NAME}'"] = 0.0
    status = promoted.status()
    assert status["outcome"] == "rolled_back" and status["canaryWeight"] == 0
    assert status["history"][-1]["checks"][0]["verdict"] == "fail"
    assert _primary_serves(kube, "models:/fraud/1")  # the champion kept serving
    rollbacks = [r for r in status["history"] if r.get("kind") == "rollback"]
    assert [(r["version"], r["requestedBy"]) for r in rollbacks] == [
        ("models:/fraud/1", "alice"),
        ("models:/fraud/2", "bob"),
    ]


def test_plugin_dry_run_prints_the_spec_and_changes_nothing(
    kube: KubeApi, promoted: Operator, config: str
) -> None:
    promoted.until(lambda s: s.get("phase") in ("Succeeded", "Failed"), "decided")
    before = _stored(kube)["metadata"]["resourceVersion"]
    result = _plugin(config, "rollback", NAME, "--to", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "challenger:\n    modelUri: models:/fraud/2" in result.stdout
    assert "resourceVersion" not in result.stdout
    assert _stored(kube)["metadata"]["resourceVersion"] == before


def test_a_target_ref_rollout_cannot_roll_back_to_a_version(
    kube: KubeApi, prom: PromAPI, config: str
) -> None:
    doc = rollout_doc("podinfo", prometheus=prom.url)
    doc["metadata"]["namespace"] = NS
    kube.create(doc)
    result = _plugin(config, "rollback", "podinfo", "--to", "1")
    assert result.exit_code == 2, result.output
    assert "kubectl rollout undo deployment/podinfo" in " ".join(result.output.split())


def test_a_rollout_changed_since_read_is_not_overwritten(
    kube: KubeApi, promoted: Operator, config: str
) -> None:
    """The patch carries the resourceVersion read: a stale read writes nothing (409)."""
    from datetime import UTC, datetime

    from modelcanary.controller._cluster import stored_from
    from modelcanary.controller._rollback import request_rollback
    from modelcanary.errors import ConflictError
    from modelcanary.rollout._rollback import plan_rollback

    promoted.until(lambda s: s.get("phase") in ("Succeeded", "Failed"), "decided")
    stored = stored_from(_stored(kube))
    new, _ = plan_rollback(stored.rollout, "2", "erin", "", datetime.now(UTC))
    kube.patch(ROLLOUT_API, "ModelRollout", NS, NAME, {"metadata": {"labels": {"team": "x"}}})
    before = _stored(kube)
    with pytest.raises(ConflictError, match="changed while the rollback was prepared"):
        request_rollback(stored, new, NS, kubeconfig=config)
    assert _stored(kube)["spec"] == before["spec"]
