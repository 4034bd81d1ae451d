"""The MLflow hook logs a local rollout's progress between the alias move and the verdict.

Real MLflow server (sqlite), real model servers, a real local rollout through 20 % and 50 %:
the hook's log (``modelcanary.mlflow``, INFO) has one line per change in order (each stage,
each analysis interval, the verdict), never one per tick, and the receiver's ``GET /status``
shows where the rollout is while it runs.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelcanary.integrations._mlflow_hook import RegistryHook
from modelcanary.spec import AnalysisRecord, CheckRecord, Phase, RolloutStatus

SECRET = "progress-secret"


def _until(check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    end = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_hook_logs_each_stage_interval_and_the_verdict_of_a_local_rollout(
    trained: Any,
    register_versions: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    template: Path,
) -> None:
    from mlflow import MlflowClient

    caplog.set_level(logging.INFO, logger="modelcanary.mlflow")
    # the shared template, read from its fixture: "from conftest import TEMPLATE" imported
    # whichever conftest.py was loaded last under that name (tests/notify's, when pytest is
    # given several directories), so the module failed to import
    base = template.read_text(encoding="utf-8")
    template = tmp_path / "rollout.yaml"
    # 3 s intervals: GET /status, polled every 50 ms by this thread, must see the 20 % and
    # the 50 % stage while each lasts (with 1 s a stall of this thread could miss a stage)
    text = base.replace("[50]", "[20, 50]").replace("interval: 1s", "interval: 3s")
    assert "interval: 3s" in text
    template.write_text(text, encoding="utf-8")
    model = f"progress-{uuid.uuid4().hex[:6]}"
    versions = register_versions(model, "champion", "healthy")
    hook = RegistryHook(
        trained.uri,
        secret=SECRET,
        template=template,
        models=[model],
        poll_interval=0.5,
        payloads=trained.payloads,
    )
    stages: list[tuple[str, int]] = []
    with hook:
        MlflowClient(trained.uri).set_registered_model_alias(model, "challenger", versions[1])

        def at_50() -> dict[str, Any] | None:
            body = httpx.get(f"{hook.url}/status", timeout=5).json()
            mine = [r for r in body["rollouts"] if r["model"] == model]
            if mine and "phase" in mine[0]:
                stages.append((mine[0]["phase"], mine[0]["canaryWeight"]))
            return mine[0] if mine and mine[0].get("canaryWeight") == 50 else None

        live = _until(at_50, "GET /status to show the 50 % stage")
        assert live["phase"] in ("Progressing", "Promoting") and live["mirrorWeight"] == 0
        assert live["message"] and live["lastAnalysis"]["verdict"] == "pass"  # 20 % passed
        _until(lambda: [o for o in hook.outcomes if o.name == model], "the verdict")
    (outcome,) = [o for o in hook.outcomes if o.name == model]
    assert outcome.outcome == "promoted", outcome.message
    assert ("Progressing", 20) in stages  # /status followed the stages as they came

    label = f"{model} v{versions[1]}: "
    lines = [
        r.getMessage()[len(label) :] for r in caplog.records if r.getMessage().startswith(label)
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if label in r.getMessage())
    stage_lines = [line for line in lines if re.match(r"\w+, challenger \d+ %", line)]
    steps = [_weight(line) for line in stage_lines if line.startswith("Progressing")]
    # the weight steps in order, each logged once (a change, not a tick)
    assert [w for w in steps if w > 0] == [20, 50], stage_lines
    analyses = [line for line in lines if line.startswith("analysis at ")]
    assert any(line.startswith("analysis at 20 %: pass") for line in analyses), analyses
    assert any(line.startswith("analysis at 50 %: pass") for line in analyses), analyses
    assert "error-rate" in analyses[0] and "latency-p99" in analyses[0]
    first_50 = lines.index(next(line for line in lines if "challenger 50 %" in line))
    first_20_analysis = lines.index(next(a for a in analyses if a.startswith("analysis at 20")))
    assert first_20_analysis < first_50  # the 20 % interval passed before the move to 50 %
    # the decided phase, then the verdict as written to the registry, each once
    assert lines[-2:] == [
        "Succeeded, challenger 0 % (mirror 0 %): challenger promoted",
        "promoted (challenger promoted)",
    ], lines
    # one line per change: no stage line repeats the one before it
    assert all(a != b for a, b in itertools.pairwise(stage_lines)), stage_lines


def test_progress_lines_are_changes_not_ticks(caplog: pytest.LogCaptureFixture) -> None:
    from modelcanary.integrations._mlflow_progress import ProgressLog

    caplog.set_level(logging.INFO, logger="modelcanary.mlflow")
    progress = ProgressLog("fraud", "7")
    waiting = RolloutStatus(
        phase=Phase.PROGRESSING, canary_weight=0, message="waiting for the challenger to be ready"
    )
    for _ in range(5):  # the same wait, tick after tick: one line
        progress.observe(waiting)
    record = AnalysisRecord(
        time="2026-01-01T00:00:02.000Z", phase=Phase.PROGRESSING, canary_weight=20, verdict="pass"
    )
    stepped = waiting.model_copy(
        update={"canary_weight": 20, "message": "stage 1/2: canary 20%", "history": [record]}
    )
    for _ in range(3):
        progress.observe(stepped)
    failed = AnalysisRecord(
        time="2026-01-01T00:00:04.000Z",
        phase=Phase.PROGRESSING,
        canary_weight=20,
        verdict="fail",
        checks=[CheckRecord(metric="error-rate", value=0.2, max=0.01, verdict="fail")],
        message="failed checks 1/2: error-rate 0.2 > 0.01",
    )
    counted = stepped.model_copy(update={"history": [record, failed], "message": failed.message})
    progress.observe(counted)  # the interval's message is in its line: not logged twice
    held = counted.model_copy(update={"message": "stage 1 paused: waiting for approval"})
    progress.observe(held)
    progress.observe(held)
    done = held.model_copy(
        update={"phase": Phase.SUCCEEDED, "outcome": "promoted", "message": "promoted"}
    )
    progress.observe(done)
    progress.observe(done)
    lines = [r.getMessage() for r in caplog.records if r.name == "modelcanary.mlflow"]
    assert lines == [
        "fraud v7: Progressing, challenger 0 % (mirror 0 %): "
        "waiting for the challenger to be ready",
        "fraud v7: analysis at 20 %: pass",
        "fraud v7: Progressing, challenger 20 % (mirror 0 %): stage 1/2: canary 20%",
        "fraud v7: analysis at 20 %: fail (error-rate 0.2 fail): "
        "failed checks 1/2: error-rate 0.2 > 0.01",
        "fraud v7: stage 1 paused: waiting for approval",
        "fraud v7: Succeeded, challenger 20 % (mirror 0 %): promoted",
    ]
    assert progress.summary()["phase"] == "Succeeded"


def _weight(line: str) -> int:
    found = re.search(r"challenger (\d+) %", line)
    assert found is not None, line
    return int(found.group(1))
