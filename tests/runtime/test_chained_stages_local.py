"""A chained rollout (shadow -> canary 20% -> A/B on a header -> promoted) run end to end on
loopback: real model-server processes, the real local router, the real engine.

The routes are read from the router itself (what it forwards by), polled in the background;
the A/B stage is checked request by request through the recorder.
"""

from __future__ import annotations

import threading
import time

import httpx
from runtime_fixtures import Models, serving_children

import modelcanary as mc
from modelcanary.local import LocalRun
from modelcanary.spec import Routes, stages


def _watch(run: LocalRun, seen: list[Routes], stop: threading.Event) -> None:
    """Record every route table the router forwards by, in order (consecutive repeats once)."""
    while not stop.is_set():
        routes = run.router.routes
        if not seen or seen[-1] != routes:
            seen.append(routes)
        time.sleep(0.01)


def _summary(routes: Routes) -> tuple[int, int, int, bool]:
    return (
        routes.champion_weight,
        routes.challenger_weight,
        routes.mirror_weight,
        bool(routes.match),
    )


def test_shadow_then_canary_then_ab_then_promoted(models: Models) -> None:
    rollout = (
        mc.Rollout("chain")
        .champion(models.champion)
        .challenger(models.healthy)
        .slo(mc.sli.error_rate() < "1%")
        .shadow(percent=100, iterations=2)
        .canary(steps=[20], interval="1s", threshold=2)
        .ab_test(header="x-cohort", value="beta", iterations=4)
        # the load is the beta cohort, so the challenger has data in the A/B stage too
        .load(rps=40, concurrency=8, headers={"x-cohort": "beta"})
        .progress_deadline(30)
        .build()
    )
    kinds = [s.kind for s in stages(rollout.spec.analysis)]
    assert kinds == ["shadow", "canary", "ab"]
    seen: list[Routes] = []
    stop = threading.Event()
    sent: dict[str, str] = {}
    with LocalRun(rollout, payloads=models.payloads[:5]) as run:
        watcher = threading.Thread(target=_watch, args=(run, seen, stop), daemon=True)
        watcher.start()
        deadline = time.monotonic() + 60
        while not run.router.routes.match and time.monotonic() < deadline:
            time.sleep(0.01)  # until the A/B stage is routed
        body = {"dataframe_split": models.frame.head(1).to_dict("split") | {"index": [0]}}
        for i in range(12):
            beta = i % 2 == 0
            rid = f"chain-{i}"
            headers = {"x-request-id": rid} | ({"x-cohort": "beta"} if beta else {})
            answer = httpx.post(f"{run.url}/invocations", json=body, headers=headers, timeout=10)
            assert answer.status_code == 200
            sent[rid] = "challenger" if beta else "champion"
        status = run.wait(90)
        stop.set()
        watcher.join(5)
        rows = {r.request_id: r.version for r in run.recorder.rows() if r.request_id in sent}
        assert run.workloads.champion is not None
        promoted = run.workloads.champion.source
    assert status.phase == "Succeeded" and status.outcome == "promoted", status.message
    assert promoted == models.healthy
    # the router forwarded by the stages of the chain, in order, then all to the new champion
    routed = [_summary(r) for r in seen if _summary(r) != (100, 0, 0, False)]
    assert routed == [(100, 0, 100, False), (80, 20, 0, False), (100, 0, 0, True)], seen
    assert _summary(seen[-1]) == (100, 0, 0, False)
    # one passing interval per planned interval, in stage order: shadow 2, canary 1, A/B 4
    # (an interval that did not pass, e.g. too few mirrored requests yet, is held and redone)
    passed = [(h.canary_weight, h.mirror_weight) for h in status.history if h.verdict == "pass"]
    records = [(h.canary_weight, h.mirror_weight, h.verdict, h.message) for h in status.history]
    assert passed == [(0, 100)] * 2 + [(20, 0)] + [(0, 0)] * 4, records
    order = [(0, 100), (20, 0), (0, 0)]
    indexes = [order.index((h.canary_weight, h.mirror_weight)) for h in status.history]
    assert indexes == sorted(indexes)
    # in the A/B stage exactly the requests carrying the header reached the challenger
    assert rows == sent
    assert serving_children() == []
