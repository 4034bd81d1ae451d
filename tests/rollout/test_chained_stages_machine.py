"""The pure state machine walks a chained plan (shadow -> canary -> A/B) stage by stage."""

from __future__ import annotations

from machine_harness import Run, data, rollout

from modelcanary.rollout import SetRoutes

BETA = [{"headers": {"x-cohort": {"exact": "beta"}}}]


def test_each_stage_of_a_chain_is_routed_in_order_then_promoted() -> None:
    steps = [
        {"mirrorWeight": 100, "iterations": 2},
        {"weight": 20, "iterations": 1},
        {"match": BETA, "iterations": 2},
    ]
    run = Run(rollout(stepWeights=None, steps=steps))
    run.tick()  # start: all traffic on the champion
    messages: list[str] = []
    for _ in range(12):
        run.tick(data=data())
        messages.append(run.status.message if run.status else "")
        if run.phase == "Succeeded":
            break
    assert run.phase == "Succeeded" and run.promoted()
    routed = [c.routes for t in run.ticks[1:] for c in t if isinstance(c, SetRoutes)]
    summary = [(r.challenger_weight, r.mirror_weight, len(r.match)) for r in routed]
    assert summary == [(0, 100, 0), (20, 0, 0), (0, 0, 1), (0, 0, 0)]
    assert routed[2].match[0].to_dict() == BETA[0]
    stages = [m for m in messages if m.startswith("stage ")]
    assert stages == [
        "stage 1/3: shadow (mirror 100%)",
        "stage 2/3: canary 20%",
        "stage 3/3: A/B (matching requests)",
    ]
    assert run.status is not None
    history = [(h.canary_weight, h.mirror_weight) for h in run.status.history]
    assert history == [(0, 100), (0, 100), (20, 0), (0, 0), (0, 0)]


def test_entering_an_ab_stage_asks_the_traffic_increase_gate() -> None:
    steps = [{"mirrorWeight": 100, "iterations": 1}, {"match": BETA, "iterations": 1}]
    run = Run(
        rollout(
            stepWeights=None,
            steps=steps,
            webhooks=[
                {"name": "more", "type": "confirm-traffic-increase", "url": "http://gate.test/"}
            ],
        )
    )
    run.tick()
    for _ in range(3):
        run.tick(data=data(), gates={"confirm-traffic-increase": False})
    assert run.status is not None and "confirm-traffic-increase" in run.status.message
    routed = [c.routes for t in run.ticks for c in t if isinstance(c, SetRoutes)]
    assert all(not r.match for r in routed)  # the A/B stage was not entered while closed
    run.tick(data=data(), gates={"confirm-traffic-increase": True})
    routed = [c.routes for t in run.ticks for c in t if isinstance(c, SetRoutes)]
    assert routed[-1].match and routed[-1].match[0].to_dict() == BETA[0]
