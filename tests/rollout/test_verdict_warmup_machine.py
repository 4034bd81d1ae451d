"""Issue 15 round 2 through the state machine: the warm-up holds the first stage without judging
it (its start is kept in the stored status, so a restarted runtime resumes it), and a drift
check's pooled predictions live in the status too."""

from __future__ import annotations

import numpy as np
from machine_harness import Run, rollout

from modelcanary.analysis import IntervalData, Window, version_data
from modelcanary.spec import RolloutStatus

METRICS = [
    {"name": "error-rate", "thresholdRange": {"max": 0.01}},
    {"name": "latency-p99", "thresholdRange": {"max": 250}},
]


def window(run: Run, slow: float = 1.0, n: int = 1500, seed: int = 0) -> IntervalData:
    """The 30 s that just ended on the run's clock (the engine's windows are wall-clock)."""
    rng = np.random.default_rng(seed)
    end = run.now.timestamp()
    return IntervalData(
        Window(end - 30, end),
        version_data(
            "challenger", latencies_ms=rng.lognormal(np.log(50), 0.5, n) * slow, errors=[False] * n
        ),
        version_data(
            "champion", latencies_ms=rng.lognormal(np.log(50), 0.5, n), errors=[False] * n
        ),
    )


def started(**analysis: object) -> Run:
    run = Run(rollout(threshold=1, stepWeights=[50], metrics=METRICS, **analysis))
    for _ in range(3):  # Initializing -> Initialized -> Progressing -> stage 1
        run.tick()
    assert run.phase == "Progressing" and run.weight == 50
    return run


def resumed(run: Run) -> None:
    """Replace the status by its stored JSON, as a restarted runtime reads it."""
    assert run.status is not None
    run.status = RolloutStatus.model_validate(run.status.model_dump(mode="json", by_alias=True))


def test_warmup_holds_without_judging_then_the_analysis_runs() -> None:
    run = started(warmup="1m")
    run.tick(data=window(run, slow=3.0, seed=1))  # cold: three times slower
    assert run.phase == "Progressing" and run.status is not None
    assert run.status.message.startswith("warming up")
    assert run.status.history[-1].verdict == "inconclusive"
    assert {c.verdict for c in run.status.history[-1].checks} == {"skipped"}
    assert run.status.analysis_state is not None and "started" in run.status.analysis_state
    resumed(run)  # the warm-up's start survives a restart
    run.tick(data=window(run, slow=3.0, seed=2))
    assert run.status is not None and run.status.message.startswith("warming up")
    assert run.status.failed_checks == 0 and not run.status.analysis_state["sequential"]
    run.until("Succeeded", data=window(run, seed=3))
    assert run.promoted()


def test_without_warmup_the_cold_start_is_judged() -> None:
    run = started()
    run.tick(data=window(run, slow=3.0, seed=1))
    assert run.phase == "Failed" and not run.promoted()
    assert run.status is not None and "latency-p99" in run.status.message


def test_a_challenger_still_slow_after_the_warmup_is_rolled_back() -> None:
    run = started(warmup="30s")
    run.tick(data=window(run, slow=3.0, seed=1))
    assert run.phase == "Progressing"
    run.tick(data=window(run, slow=2.0, seed=2))
    assert run.phase == "Failed" and not run.promoted()


def test_drift_pool_is_kept_in_the_status_between_ticks() -> None:
    metrics = [{"name": "prediction-drift", "method": "psi", "thresholdRange": {"max": 0.2}}]
    run = Run(rollout(threshold=1, stepWeights=[50], metrics=metrics))
    for _ in range(3):
        run.tick()
    rng = np.random.default_rng(5)
    for _ in range(2):
        end = run.now.timestamp()
        few = IntervalData(
            Window(end - 30, end),
            version_data("challenger", errors=[False] * 8, predictions=list(rng.random(8))),
            version_data("champion", errors=[False] * 80, predictions=list(rng.random(80))),
        )
        run.tick(data=few)
        assert run.phase == "Progressing" and run.status is not None
        assert "too few to judge" in run.status.message
        resumed(run)
    assert run.status is not None and run.status.analysis_state is not None
    (pool,) = run.status.analysis_state["pools"].values()
    assert [len(chunk["challenger"]) for chunk in pool["chunks"]] == [8, 8]
