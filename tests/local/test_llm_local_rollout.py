"""An LLM rollout end to end on the local runtime: two OpenAI-compatible simulators behind the
real router, the LLM load (the simulator's task set with references, sent to
/v1/chat/completions), shadow mirroring, the judging worker and the sequential ``win-rate``
verdict, wired by ``LocalRun`` itself (nothing assembled by the test).

A faster but worse challenger (quality 0.4 against 0.9) is rolled back on win rate while it is
still in shadow; a better one (0.97) is promoted. Before the runtime wired the LLM load, every
request went to /invocations (404 from an OpenAI server) and both rolled back on no data."""

from __future__ import annotations

import modelcanary as mc
from modelcanary.local import LocalRun
from modelcanary.serving import LLMSimConfig, LLMSimServer
from modelcanary.spec import Phase, RolloutStatus

CHAMPION = LLMSimConfig(quality=0.9, seed=1, ttft_ms=20, tokens_per_second=400)


def _run(quality: float) -> tuple[RolloutStatus, LocalRun]:
    challenger = LLMSimConfig(quality=quality, seed=2, ttft_ms=5, tokens_per_second=2000)
    with LLMSimServer(CHAMPION) as a, LLMSimServer(challenger) as b:
        rollout = (
            mc.Rollout("assistant")
            .champion(url=a.url, protocol="openai")
            .challenger(url=b.url, protocol="openai")
            .slo(mc.sli.llm.win_rate("reference"))
            .shadow(100, iterations=3)
            .canary(steps=[20, 50], interval="3s")
            .load(rps=20)
            .build()
        )
        with LocalRun(rollout) as run:
            return run.wait(150), run


def test_a_faster_but_worse_challenger_is_rolled_back_in_shadow_on_win_rate() -> None:
    status, run = _run(0.4)
    assert status.phase == Phase.FAILED and status.outcome == "rolled_back", status.message
    assert "win-rate" in status.message and "worse than the champion" in status.message
    assert status.canary_weight == 0
    # decided on mirrored prompts: the challenger never took a client's request
    assert all(record.canary_weight == 0 for record in status.history)
    assert run.llm_load is not None and run.judging is not None
    judged = [pair for worker in run.judging.workers for pair in worker.all_judged()]
    assert judged and {pair.outcome for pair in judged} <= {"win", "tie", "loss", "error"}
    assert any(pair.challenger_answer and pair.reason for pair in judged)  # kept to be read


def test_a_better_challenger_is_promoted_on_win_rate() -> None:
    status, _ = _run(0.97)
    assert status.phase == Phase.SUCCEEDED and status.outcome == "promoted", status.message
    verdicts = [c.verdict for r in status.history for c in r.checks if c.metric == "win-rate"]
    assert "pass" in verdicts and "fail" not in verdicts
