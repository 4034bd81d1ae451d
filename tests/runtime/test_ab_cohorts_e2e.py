"""A/B rollouts fed by the built-in load, end to end on loopback (real model servers, router).

Before load cohorts the built-in load sent the A/B header on every request or on none, so an
A/B rollout tried locally rolled back at once on "no data" while ``build()`` said it was valid.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from runtime_fixtures import Models, serving_children

import modelcanary as mc
from modelcanary.local._runtime import LocalRun
from modelcanary.spec import LoadWarning, ModelRollout

SHARE = 0.25


def ab_rollout(
    models: Models, match: dict[str, Any], deadline: int = 30, **load: Any
) -> mc.Rollout:
    return (
        mc.Rollout("ab-cohorts")
        .champion(models.champion)
        .challenger(models.healthy)
        .slo(mc.sli.error_rate() < "1%")
        # threshold 2: a cold challenger may answer its first requests after the first 1 s
        # window closes (as the canary e2e tests allow); the other intervals must pass
        .ab_test(iterations=4, interval="1s", threshold=2, **match)
        .load(rps=60, concurrency=8, **load)
        .progress_deadline(deadline)
    )


class RouteWatch:
    """Times (epoch) at which the router started and stopped routing on the A/B match."""

    def __init__(self, run: LocalRun) -> None:
        self.run, self.on, self.off = run, 0.0, 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.stop.is_set():
            router = self.run.router
            matching = router is not None and bool(router.routes.match)
            if matching and not self.on:
                self.on = time.time()
            if not matching and self.on and not self.off:
                self.off = time.time()
            time.sleep(0.005)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def _run(rollout: ModelRollout, models: Models) -> tuple[Any, dict[str, int], LocalRun]:
    with LocalRun(rollout, payloads=models.payloads) as run:
        watch = RouteWatch(run)
        status = run.wait(90)
        watch.close()
        rows = run.recorder.rows(watch.on + 0.05, (watch.off or time.time()) - 0.05)
    counts = {"champion": 0, "challenger": 0}
    for row in rows:
        counts[row.version] += 1
    return status, counts, run


@pytest.mark.parametrize(
    ("match", "cohorts"),
    [
        ({"header": "x-cohort", "value": "beta"}, SHARE),  # the first match condition
        ({"header": "x-cohort", "value": "beta"}, {"beta": SHARE}),  # a match value
        ({"cookie": "tier", "regex": "gold-[0-9]+"}, SHARE),  # a cookie; a value RE2 accepts
    ],
    ids=["share", "value", "cookie-regex"],
)
def test_ab_rollout_with_cohorts_feeds_both_versions_and_promotes(
    models: Models, match: dict[str, Any], cohorts: Any
) -> None:
    rollout = ab_rollout(models, match, cohorts=cohorts)
    assert rollout.load_warnings() == []
    status, counts, run = _run(rollout.build(), models)
    assert status.phase == "Succeeded" and status.outcome == "promoted", status.message
    verdicts = [h.verdict for h in status.history]
    assert verdicts.count("pass") == 4 and len(verdicts) <= 5, verdicts
    assert counts["champion"] > 0 and counts["challenger"] > 0, counts
    share = counts["challenger"] / (counts["champion"] + counts["challenger"])
    assert abs(share - SHARE) < 0.1, (share, counts)
    stats = run.load_stats()
    assert stats is not None and stats.sent > 100
    assert abs(stats.cohort_sent[0] / stats.sent - SHARE) < 0.05, stats.cohort_sent
    assert run.findings == []
    assert serving_children() == []


def test_ab_rollout_without_cohorts_is_warned_about_and_never_promotes(models: Models) -> None:
    # without challenger data a rollout fails (at once, or after holding for evidence up to
    # the hold deadline, the progress deadline: short here)
    rollout = ab_rollout(models, {"header": "x-cohort", "value": "beta"}, deadline=8)
    with pytest.warns(
        LoadWarning, match=r"spec\.load\.cohorts: no request .* spec\.analysis\.match"
    ):
        built = rollout.build()
    status, counts, run = _run(built, models)
    # what the warning says happens: the challenger gets nothing, the rollout cannot promote
    assert status.phase == "Failed" and status.outcome != "promoted", status.message
    assert "challenger" in status.message and "no" in status.message, status.message
    assert counts["challenger"] == 0 and counts["champion"] > 0, counts
    assert any("spec.load.cohorts" in finding for finding in run.findings), run.findings
    assert serving_children() == []


def test_ab_rollout_whose_load_always_matches_is_warned_about(models: Models) -> None:
    rollout = ab_rollout(
        models, {"header": "x-cohort", "value": "beta"}, headers={"x-cohort": "beta"}
    )
    assert [w.split(":")[0] for w in rollout.load_warnings()] == ["spec.load.headers"]
    assert "the champion gets no requests" in rollout.load_warnings()[0]
