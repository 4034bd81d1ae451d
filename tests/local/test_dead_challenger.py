"""A challenger that dies mid-rollout is rolled back, not waited on (a real local rollout).

The issue's run: an external challenger endpoint that exits after 100 requests, during a
mirror -> 20 % -> 50 % plan (2 s interval, 40 rps), left the rollout "waiting for the
challenger to be ready" for the whole progress deadline with half the client traffic still
routed to the dead endpoint (2,267 of 4,741 client requests failed) and the verdict table
showing "error-rate 0 pass". Here both versions are real processes on loopback, the
challenger exits after its 100th answer, and the real engine, router and load run the plan.
"""

from __future__ import annotations

from datetime import datetime

from dead_challenger_endpoint import endpoint

import modelcanary as mc
from modelcanary.local._runtime import LocalRun
from modelcanary.rollout import step
from modelcanary.rollout._observations import Observations, Readiness
from modelcanary.spec import Phase, RolloutStatus

INTERVAL = 2.0


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_a_challenger_that_dies_mid_rollout_is_rolled_back_within_one_interval() -> None:
    with endpoint("champion") as champion, endpoint("challenger", after=100) as challenger:
        rollout = (
            mc.Rollout("dies")
            .champion(champion.url)
            .challenger(challenger.url)
            .slo(mc.sli.error_rate() < "1%")
            .canary(steps=[20, 50], interval=f"{INTERVAL:g}s")
            .shadow(percent=100, iterations=1)
            .load(rps=40, concurrency=4)
            .progress_deadline(600)  # the start-up deadline: never what ends this rollout
            .build()
        )
        with LocalRun(rollout, payloads=[b'{"inputs": [[1.0, 2.0]]}']) as run:
            status = run.wait(90)
            routes = run.router.routes
            rows = run.recorder.rows()
        stats = run.load_stats()
        assert challenger.died() == 0
    assert status.phase == Phase.FAILED, status.message
    assert status.outcome == "rolled_back"
    assert "challenger failed: it stopped answering while taking traffic" in status.message
    assert routes.challenger_weight == 0 and routes.mirror_weight == 0
    # the death: the challenger's last answer; within one interval the rollout rolled back,
    # after one last analysis that counted the errors the dead challenger caused
    died = max(r.timestamp for r in rows if r.version == "challenger" and r.status == 200)
    after = [record for record in status.history if _time(record.time) > died]
    assert len(after) == 1, [(r.time, r.verdict) for r in status.history]
    last = after[0]
    errors = [
        r
        for r in rows
        if r.version == "challenger" and r.status >= 500 and r.timestamp < _time(last.time)
    ]
    if errors:  # (none when it died a moment before the analysis: then nothing to count)
        error_rate = next(check for check in last.checks if check.metric == "error-rate")
        assert error_rate.verdict != "pass" and (error_rate.value or 0) > 0.01, error_rate
        assert last.verdict != "pass"
    # champion requests never failed; clients saw only calls the challenger held as it died
    assert all(r.status == 200 for r in rows if r.version == "champion")
    champion_ids = {r.request_id for r in rows if r.version == "champion"}
    lost = [
        r
        for r in rows
        if r.version == "challenger" and r.status >= 500 and r.request_id not in champion_ids
    ]
    assert stats is not None and stats.errors == len(lost) <= 4  # at most one per connection
    # any call the challenger refused after its death (none when the rollback came first,
    # as it does under load) was answered by the champion: its request id has a champion row
    refused = [r for r in rows if r.version == "challenger" and r.status >= 500 and r not in lost]
    assert all(r.request_id in champion_ids for r in refused)


def test_the_machine_rolls_back_a_failed_challenger_instead_of_waiting() -> None:
    rollout = (
        mc.Rollout("dies")
        .champion("http://127.0.0.1:1")
        .challenger("http://127.0.0.1:2")
        .slo(mc.sli.error_rate() < "1%")
        .canary(steps=[20, 50], interval="2s")
        .build()
    )
    status = RolloutStatus(
        phase=Phase.PROGRESSING,
        canary_weight=20,
        pre_rollout_done=True,
        last_applied_spec=rollout.spec_hash(),
        last_analysis_time="2026-01-01T00:00:00Z",
    )
    dead = Readiness(True, False, None, "challenger not answering /ping", "it exited")
    now = datetime.fromisoformat("2026-01-01T00:00:01+00:00")
    new, _ = step(rollout, status, Observations(readiness=dead), now)
    assert new.phase == Phase.FAILED and new.outcome == "rolled_back"
    assert new.message == "rolled back: challenger failed: it exited"
    starting = Readiness(True, False, None, "challenger not answering /ping")
    waiting, _ = step(rollout, status, Observations(readiness=starting), now)
    assert waiting.phase == Phase.PROGRESSING  # still starting: the deadline applies
