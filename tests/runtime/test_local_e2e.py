"""End to end on loopback: real model-server processes, the real router, the real engine."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx
from polling import until
from runtime_fixtures import Models, serving_children

import modelcanary as mc
from modelcanary.local._runtime import LocalRun
from modelcanary.spec import ModelRollout


def spec(models: Models, challenger: str, **plan: Any) -> ModelRollout:
    builder = (
        mc.Rollout("e2e")
        .champion(models.champion)
        .challenger(challenger)
        .slo(mc.sli.error_rate() < "1%")
        .load(rps=40, concurrency=8)
        .progress_deadline(plan.pop("deadline", 30))
    )
    if "ab" in plan:
        # the load is the beta cohort, so the challenger has data every interval
        builder = builder.ab_test(
            header="x-cohort", value="beta", iterations=plan.pop("ab"), interval="1s"
        ).load(rps=40, concurrency=8, headers={"x-cohort": "beta"})
    else:
        builder = builder.canary(steps=plan.pop("steps", [20, 50]), interval="1s", threshold=2)
    if plan.pop("shadow", False):
        builder = builder.shadow(percent=100, iterations=plan.pop("shadow_iterations", 1))
    return builder.build()


def test_healthy_challenger_is_promoted_and_nothing_is_left_running(models: Models) -> None:
    with LocalRun(spec(models, models.healthy, shadow=True), payloads=models.payloads) as run:
        status = run.wait(300)  # a bound on a hung run, not a timing target
        assert run.workloads.champion is not None
        promoted_source = run.workloads.champion.source
        assert status.phase == "Succeeded" and status.outcome == "promoted", status.message
        rows = run.recorder.rows()
        exposed = httpx.get(f"{run.url}/_modelcanary/metrics", timeout=5).text
    assert promoted_source == models.healthy
    # the router's metrics and the engine's self-metrics, on one scrape endpoint
    assert 'modelcanary_router_requests_total{rollout="e2e",version="champion"' in exposed
    assert (
        'modelcanary_rollout_status{name="e2e",namespace="default"} 1' in exposed
    )  # the challenger's server now serves as champion
    assert [h.canary_weight for h in status.history] == [0, 20, 50]
    assert all(r.status == 200 for r in rows)
    assert serving_children() == []


def test_faulty_challenger_is_rolled_back_early_without_hurting_champion(models: Models) -> None:
    rollout = spec(models, models.faulty, steps=[20, 40, 60, 80])
    with LocalRun(rollout, payloads=models.payloads) as run:
        status = run.wait(300)  # a bound on a hung run, not a timing target
        rows = run.recorder.rows()
    assert status.phase == "Failed" and status.outcome == "rolled_back", status.message
    assert "error-rate" in status.message
    # caught at the first weights, never reached 60 %: held intervals (too few challenger
    # requests for a 1 % SLO at 8 per interval) count as iterations since alpha is 0.01
    assert status.iterations <= 5
    assert max(h.canary_weight for h in status.history) <= 40
    assert all(r.status == 200 for r in rows if r.version == "champion")
    assert any(r.status >= 500 for r in rows if r.version == "challenger")
    assert serving_children() == []


def test_mirror_answers_never_reach_clients(models: Models) -> None:
    rollout = spec(models, models.faulty, shadow=True, shadow_iterations=30, steps=[10])
    with LocalRun(rollout, payloads=models.payloads[:1]) as run:  # load: one harmless row
        big = models.frame[models.frame["mean radius"] > 20].head(5)  # the faulty model fails
        body = {"dataframe_split": big.to_dict("split") | {"index": list(range(len(big)))}}
        deadline = time.monotonic() + 120  # a bound: the model servers start first
        while run.status().mirror_weight == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        replies = [httpx.post(f"{run.url}/invocations", json=body, timeout=10) for _ in range(20)]

        def failed_copies() -> list[Any]:
            rows = run.recorder.rows()
            return [r for r in rows if r.version == "challenger" and r.status >= 500]

        # the copies are answered after the clients' replies: wait for them (it slept 1 s)
        until(failed_copies, "the challenger's answers to the mirrored copies", 60, 0.1)
        rows = run.recorder.rows()
        run.act("abort", "test done")
    assert [r.status_code for r in replies] == [200] * 20  # clients only see the champion
    mirrored = [r for r in rows if r.version == "challenger"]
    assert mirrored and any(r.status >= 500 for r in mirrored)


def test_ab_header_routing_sends_exactly_the_matching_requests(models: Models) -> None:
    rollout = spec(models, models.healthy, ab=30)
    with LocalRun(rollout, payloads=models.payloads[:1]) as run:
        deadline = time.monotonic() + 120  # a bound: the model servers start first
        while not run.router.routes.match and time.monotonic() < deadline:
            time.sleep(0.1)  # until the A/B stage is routed
        body = {"dataframe_split": models.frame.head(1).to_dict("split") | {"index": [0]}}
        sent = {}
        for i in range(40):
            beta = i % 3 == 0
            rid = f"ab-{i}"
            headers = {"x-request-id": rid} | ({"x-cohort": "beta"} if beta else {})
            assert (
                httpx.post(
                    f"{run.url}/invocations", json=body, headers=headers, timeout=10
                ).status_code
                == 200
            )
            sent[rid] = "challenger" if beta else "champion"
        rows = {r.request_id: r.version for r in run.recorder.rows() if r.request_id in sent}
        status = run.status()
        run.act("abort", "test done")
    assert status.phase == "Progressing", status.message  # still in the A/B stage
    assert rows == sent


def test_killed_challenger_fails_the_rollout_and_champion_requests_never_fail(
    models: Models,
) -> None:
    rollout = spec(models, models.healthy, steps=[30, 60], deadline=5)
    rollout = rollout.model_copy(
        update={
            "spec": rollout.spec.model_copy(
                update={"analysis": rollout.spec.analysis.model_copy(update={"interval": "2s"})}
            )
        }
    )
    with LocalRun(rollout, payloads=models.payloads) as run:
        deadline = time.monotonic() + 120  # a bound: the model servers start first
        while run.status().canary_weight == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert run.workloads.challenger is not None and run.workloads.challenger.handle is not None
        os.kill(run.workloads.challenger.handle.pid, signal.SIGKILL)  # type: ignore[attr-defined]
        status = run.wait(300)  # a bound on a hung run, not a timing target
        rows = run.recorder.rows()
    assert status.phase == "Failed" and status.outcome in ("rolled_back", "deadline")
    assert all(r.status == 200 for r in rows if r.version == "champion")
    assert serving_children() == []
