"""Issue 15 through the state machine: waiting for evidence holds the step (the count lives in
the status, so a restarted runtime resumes it), is bounded by progressDeadlineSeconds, and
never promotes; a shared incident does not roll a healthy challenger back."""

from __future__ import annotations

import numpy as np
from machine_harness import Run, rollout

from modelcanary.analysis import IntervalData, Window, version_data
from modelcanary.spec import RolloutStatus

DEFAULT_METRICS = [
    {"name": "error-rate", "thresholdRange": {"max": 0.01}},
    {"name": "latency-p99", "thresholdRange": {"max": 250}},
]


def window(chal_err: float, champ_err: float, n: int = 1500, seed: int = 0) -> IntervalData:
    rng = np.random.default_rng(seed)
    return IntervalData(
        Window(0, 30),
        version_data(
            "challenger",
            latencies_ms=rng.lognormal(np.log(50), 0.5, n),
            errors=np.arange(n) < round(n * chal_err),
        ),
        version_data(
            "champion",
            latencies_ms=rng.lognormal(np.log(50), 0.5, n),
            errors=np.arange(n) < round(n * champ_err),
        ),
    )


def started(**kw: object) -> Run:
    run = Run(rollout(threshold=1, stepWeights=[50], metrics=DEFAULT_METRICS, **kw))
    run.tick()  # Initializing -> Initialized
    run.tick()  # new revision -> Progressing
    run.tick()  # pre-rollout done, stage 1
    assert run.phase == "Progressing" and run.weight == 50
    return run


def test_shared_incident_holds_then_the_healthy_challenger_is_promoted() -> None:
    run = started()
    run.tick(data=window(0.085, 0.085, seed=2))  # both versions: 10 s at 25 % errors
    assert run.phase == "Progressing", run.status
    assert run.status is not None and "environment incident" in run.status.message
    run.until("Succeeded", data=window(0.002, 0.002, seed=3))
    assert run.promoted()


def test_challenger_without_requests_never_promotes_and_fails_at_the_deadline() -> None:
    run = started(spec={"progressDeadlineSeconds": 120})
    champion_only = IntervalData(
        Window(0, 30),
        version_data("challenger"),
        version_data("champion", latencies_ms=[50.0] * 60, errors=[False] * 60),
    )
    for _ in range(3):
        run.tick(data=champion_only)
        assert run.phase == "Progressing" and run.status is not None
        assert run.status.message.startswith("holding")
    # the held count is in the stored status: a fresh runtime resumes it
    assert run.status is not None
    resumed = RolloutStatus.model_validate(run.status.model_dump(mode="json", by_alias=True))
    assert resumed.analysis_state is not None and resumed.analysis_state["held"] == 3
    run.status = resumed
    run.tick(data=champion_only)
    assert run.phase == "Failed" and not run.promoted()
    assert run.status.outcome == "inconclusive" and "hold deadline" in run.status.message
