"""Local runtime, real router and real model endpoints on loopback: a challenger that starts
failing 40 % of its requests in the middle of a long (60 s) interval is rolled back by a look
between intervals, within a few looks, not at the interval's end."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime

from scripted_model import scripted_model

import modelcanary as mc
from modelcanary.local._runtime import LocalRun
from modelcanary.spec import ModelRollout, Phase

PAYLOAD = b'{"inputs": [[1.0, 2.0]]}'
INTERVAL_S = 60.0


class FailsAfterSwitch:
    """A model's script: once ``failing`` is set, 2 requests in 5 answer 500."""

    def __init__(self) -> None:
        self.failing = threading.Event()
        self.served = 0
        self.lock = threading.Lock()

    def __call__(self, headers: Mapping[str, str], body: bytes) -> int:
        with self.lock:
            self.served += 1
            n = self.served
        return 500 if self.failing.is_set() and n % 5 in (0, 2) else 200


def _rollout(champion: str, challenger: str) -> ModelRollout:
    return (
        mc.Rollout("looks")
        .champion(champion)
        .challenger(challenger)
        .slo(mc.sli.error_rate() < "5%")
        .canary(steps=[20, 50], interval=f"{INTERVAL_S:.0f}s")
        .load(rps=40, concurrency=4)
        .build()
    )


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_a_challenger_failing_mid_interval_is_rolled_back_by_a_look() -> None:
    script = FailsAfterSwitch()
    with (
        scripted_model(FailsAfterSwitch()) as champion,
        scripted_model(script) as challenger,
        LocalRun(_rollout(champion.url, challenger.url), payloads=[PAYLOAD]) as run,
    ):
        deadline = time.monotonic() + 60
        while run.status().canary_weight == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        status = run.status()
        assert status.phase == Phase.PROGRESSING and status.canary_weight == 20, status
        started = status.last_analysis_time
        assert started is not None
        time.sleep(3.0)  # some healthy traffic first: the fault starts mid-interval
        script.failing.set()
        fault = time.time()
        final = run.wait(240)  # a generous bound, not a timing target
    assert final.phase == Phase.FAILED, final.message
    assert final.outcome == "rolled_back"
    assert "look between intervals" in final.message, final.message
    assert "error-rate" in final.message
    decided = final.history[-1]
    assert decided.verdict == "fail" and "look between intervals" in decided.message
    assert final.iterations == 0  # the interval never ended: a look decided
    rolled_back = _seconds(decided.time)
    assert rolled_back < _seconds(started) + INTERVAL_S, "rolled back only at the interval's end"
    assert rolled_back - fault < INTERVAL_S / 2, f"{rolled_back - fault:.1f}s after the fault"
