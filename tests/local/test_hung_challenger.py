"""A challenger that hangs mid-rollout is rolled back, not waited on (real servers, loopback).

A challenger that answered before and now accepts connections but never answers (``/ping``
and requests time out) was only "not ready": the rollout waited for the whole
``progressDeadlineSeconds`` with traffic still routed to it. Now a challenger that answered
before and whose ``/ping`` timed out on ``HUNG_PROBES`` probes in a row, spanning at least one
analysis interval, has failed and is rolled back. A server still starting (never answered)
keeps the deadline; a server that answers late now and then is never failed.
"""

from __future__ import annotations

from dead_challenger_endpoint import endpoint
from hung_challenger_server import hung_endpoint
from polling import until

import modelcanary as mc
from modelcanary.local._runtime import LocalRun
from modelcanary.local._workloads import HUNG_PROBES, LocalWorkloads
from modelcanary.rollout._observations import Readiness
from modelcanary.spec import ModelRollout, Phase

PAYLOAD = b'{"inputs": [[1.0, 2.0]]}'


def _rollout(champion: str, challenger: str, interval: str = "2s") -> ModelRollout:
    return (
        mc.Rollout("hangs")
        .champion(champion)
        .challenger(challenger)
        .slo(mc.sli.error_rate() < "5%")
        .canary(steps=[20, 50], interval=interval)
        .shadow(percent=100, iterations=1)
        .load(rps=40, concurrency=4)
        .progress_deadline(600)  # the start-up deadline: never what ends these rollouts
        .build()
    )


def test_a_challenger_that_hangs_mid_rollout_is_rolled_back_before_the_deadline() -> None:
    with endpoint("champion") as champion, hung_endpoint(after=100) as challenger:
        rollout = _rollout(champion.url, challenger.url)
        with LocalRun(rollout, payloads=[PAYLOAD]) as run:
            status = run.wait(120)  # the deadline is 600 s: only a hang verdict ends it here
            routes = run.router.routes
            rows = run.recorder.rows()
            done = run.done
    assert done, status.message
    assert status.phase == Phase.FAILED, status.message
    assert status.outcome == "rolled_back"
    assert "challenger failed: it stopped answering while taking traffic" in status.message
    assert "/ping timed out for" in status.message
    assert f"{HUNG_PROBES} probes in a row" in status.message
    assert routes.challenger_weight == 0 and routes.mirror_weight == 0
    # it did answer first (100 requests), then hung: the answers stop at the 100th
    answered = [r for r in rows if r.version == "challenger" and r.status == 200]
    assert len(answered) == 100
    assert all(r.status == 200 for r in rows if r.version == "champion")


def test_workloads_fail_a_hung_challenger_after_consecutive_timed_out_pings() -> None:
    with endpoint("champion") as champion, hung_endpoint(after=1) as challenger:
        rollout = _rollout(champion.url, challenger.url, interval="1s")
        # 2 s probes (0.5 s before: a loaded machine could make the champion's or the fresh
        # challenger's first /ping miss it); the first answer is waited for, not assumed
        workloads = LocalWorkloads(probe_timeout=2.0)
        workloads.ensure(rollout)

        def answered() -> Readiness | None:
            state = workloads.readiness(rollout)
            return state if state.challenger_ready else None

        first = until(answered, "the challenger's first /ping answer", 60, 0.05)
        assert not first.challenger_failed
        # one answer, then it hangs
        _post(challenger.url)
        seen = [workloads.readiness(rollout) for _ in range(HUNG_PROBES + 1)]
    assert all(not r.challenger_ready for r in seen)
    assert all(r.champion_ready for r in seen)
    # fewer than HUNG_PROBES timed-out pings in a row are a wait, not a failure
    assert [bool(r.challenger_failed) for r in seen[: HUNG_PROBES - 1]] == [False] * (
        HUNG_PROBES - 1
    )
    assert seen[HUNG_PROBES - 1].challenger_failed  # the third one in a row (6 s >= 1 s)
    failed = seen[-1].challenger_failed
    assert failed.startswith("it stopped answering while taking traffic (/ping timed out for ")
    assert f"{HUNG_PROBES + 1} probes in a row" in failed


def test_a_challenger_still_starting_keeps_the_deadline() -> None:
    with endpoint("champion") as champion, hung_endpoint(after=0) as challenger:
        rollout = _rollout(champion.url, challenger.url, interval="1s")
        workloads = LocalWorkloads(probe_timeout=0.3)
        workloads.ensure(rollout)
        seen = [workloads.readiness(rollout) for _ in range(HUNG_PROBES + 3)]
    assert all(not r.challenger_ready for r in seen)
    assert all(r.challenger_failed == "" for r in seen)  # never answered: starting, not dead
    assert "challenger not answering /ping" in seen[-1].message


def test_a_challenger_that_answers_late_now_and_then_is_not_failed() -> None:
    with endpoint("champion") as champion, hung_endpoint(after=-1, slow_ping=1.0) as challenger:
        rollout = _rollout(champion.url, challenger.url, interval="1s")
        workloads = LocalWorkloads(probe_timeout=0.5)
        workloads.ensure(rollout)
        seen = [workloads.readiness(rollout) for _ in range(3 * HUNG_PROBES)]
    # every other ping times out, the others answer: slow, never failed
    assert any(r.challenger_ready for r in seen) and any(not r.challenger_ready for r in seen)
    assert all(r.challenger_failed == "" for r in seen)


def test_a_rollout_with_a_late_but_answering_challenger_is_promoted() -> None:
    # every other /ping takes 3 s (past the 2 s probe timeout): not ready then, never failed
    with endpoint("champion") as champion, hung_endpoint(after=-1, slow_ping=3.0) as challenger:
        rollout = _rollout(champion.url, challenger.url)
        with LocalRun(rollout, payloads=[PAYLOAD]) as run:
            status = run.wait(180)
    assert status.phase == Phase.SUCCEEDED, status.message
    assert status.outcome == "promoted"


def _post(url: str) -> None:
    import urllib.request

    request = urllib.request.Request(f"{url}/invocations", data=PAYLOAD, method="POST")
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status == 200
