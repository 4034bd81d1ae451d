"""The cluster-mode MLflow hook logs the operator's progress and shows it in ``GET /status``.

Real MLflow server (sqlite), the kmock Kubernetes API and the real operator in a thread; the
template's steps are 30 % and 60 % with a closed confirm-promotion gate. While the operator
runs the rollout, the hook logs one INFO line per change of the status it writes (each stage,
each interval, the wait at the gate) and ``GET /status`` shows the phase the operator wrote.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow_cluster_fixtures import SECRET, Cluster, cluster, operator, template_text, until

from modelcanary.integrations._mlflow_hook import RegistryHook, register_webhook


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("kube-progress")) as made:
        yield made


def test_cluster_hook_logs_the_stages_intervals_gate_and_verdict(
    trained: Any,
    register_versions: Any,
    world: Cluster,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from mlflow import MlflowClient

    caplog.set_level(logging.INFO, logger="modelcanary.mlflow")
    world.reset()
    uri = trained.uri
    model = f"clp-{uuid.uuid4().hex[:6]}"
    versions = register_versions(model, "champion", "healthy")
    world.prom.values[f"rollout='{model}'"] = 0.0
    template = tmp_path / "rollout.yaml"
    template.write_text(template_text(world.prom.url, gated=True), encoding="utf-8")
    hook = RegistryHook(
        uri,
        secret=SECRET,
        template=template,
        models=[model],
        poll_interval=3600,  # only the webhook starts it
        cluster=world.rollouts(),
        namespace="default",
    )
    with operator(world), hook:
        webhook = register_webhook(uri, hook.url, SECRET, name=f"t-{uuid.uuid4().hex[:8]}")
        try:
            time.sleep(1.5)  # the server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL
            MlflowClient(uri).set_registered_model_alias(model, "challenger", versions[1])

            def at_gate() -> dict[str, Any] | None:
                body = httpx.get(f"{hook.url}/status", timeout=5).json()
                mine = [r for r in body["rollouts"] if r["model"] == model]
                return mine[0] if mine and mine[0].get("phase") == "WaitingPromotion" else None

            live = until(at_gate, "GET /status to show the operator's WaitingPromotion")
            assert body_runtime(hook) == "cluster"
            assert live["version"] == versions[1] and live["canaryWeight"] == 60
            assert live["lastAnalysis"]["verdict"] == "pass"
            world.rollouts().act(model, "default", "approve", "looks good")
            until(lambda: [o for o in hook.outcomes if o.name == model], "the verdict")
        finally:
            MlflowClient(uri).delete_webhook(webhook)
    (outcome,) = [o for o in hook.outcomes if o.name == model]
    assert outcome.outcome == "promoted", outcome.message

    label = f"{model} v{versions[1]}: "
    lines = [
        r.getMessage()[len(label) :] for r in caplog.records if r.getMessage().startswith(label)
    ]
    stage_lines = [line for line in lines if re.match(r"\w+, challenger \d+ %", line)]
    steps = [_weight(line) for line in stage_lines if line.startswith("Progressing")]
    assert [w for w in steps if w > 0] == [30, 60], stage_lines  # in order, once each
    assert all(a != b for a, b in itertools.pairwise(stage_lines)), stage_lines
    analyses = [line for line in lines if line.startswith("analysis at ")]
    assert any(a.startswith("analysis at 30 %: pass (errors 0 pass)") for a in analyses), lines
    assert any(a.startswith("analysis at 60 %: pass") for a in analyses), lines
    gate = [line for line in stage_lines if line.startswith("WaitingPromotion")]
    assert len(gate) == 1, lines  # the wait at the gate: one line, however many ticks
    assert lines.index(gate[0]) > lines.index(next(a for a in analyses if "at 60 %" in a))
    assert lines[-1].startswith("promoted ("), lines  # the verdict, as written to the registry


def body_runtime(hook: RegistryHook) -> str:
    return str(httpx.get(f"{hook.url}/status", timeout=5).json()["runtime"])


def _weight(line: str) -> int:
    found = re.search(r"challenger (\d+) %", line)
    assert found is not None, line
    return int(found.group(1))
