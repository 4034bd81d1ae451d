"""When the operator ticks (kmock): each rollout at its own due time, however long the
``tick_seconds`` check period, and many rollouts at once (a tick mostly waits for the API).
Found by benchmarks/operator_scale.py: the daemon slept a full ``tick_seconds`` between checks
(up to 2 s of lag per tick) and ticks queued on asyncio's default executor (cpu + 4 threads)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from controller_fixtures import ROLLOUT_API, Kubelet, OperatorThread, PromAPI, rollout_doc, wait_for
from controller_fixtures import deployment as make_deployment
from kube_fixtures import KubeApi

from modelcanary.controller._runtime import build_runtime

IMAGE_V2 = "ghcr.io/stefanprodan/podinfo:6.0.1"


@pytest.fixture(autouse=True)
def clean(kube: KubeApi) -> Iterator[None]:
    kube.reset()
    yield


@pytest.fixture(scope="module")
def kubelet(kube: KubeApi) -> Iterator[Kubelet]:
    runner = Kubelet(kube).start()
    yield runner
    runner.stop()


def _phase(kube: KubeApi, name: str) -> str:
    obj = kube.get(ROLLOUT_API, "ModelRollout", "default", name) or {}
    return str((obj.get("status") or {}).get("phase", ""))


def _start(kube: KubeApi, prom: PromAPI, name: str, **kw: Any) -> None:
    kube.create(make_deployment(name))
    kube.create(rollout_doc(name, prometheus=prom.url, **kw))


def _new_revision(kube: KubeApi, name: str) -> None:
    container = {"name": "podinfo", "image": IMAGE_V2, "ports": [{"containerPort": 9898}]}
    patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
    kube.patch("apps/v1", "Deployment", "default", name, patch)


def test_rollout_ticks_when_due_not_only_every_tick_seconds(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    """A 10-minute check period: the rollout (300 ms interval) still runs to promotion, each
    tick when its runtime says it is due."""
    prom.values["errors_query"] = 0.01
    _start(kube, prom, "due", weights=(30, 60), interval="300ms")
    with OperatorThread(kube.api_client, tick_seconds=600):
        wait_for(lambda: _phase(kube, "due") == "Initialized", "initialized", timeout=60)
        _new_revision(kube, "due")
        wait_for(lambda: _phase(kube, "due") == "Succeeded", "promoted", timeout=60)


def test_a_challenger_becoming_ready_is_seen_within_a_second_not_an_interval(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    """A 10-minute analysis interval: the challenger, not ready at the first Progressing tick,
    gets its traffic as soon as it is ready (the waiting rollout is ticked every second)."""
    prom.values["errors_query"] = 0.01
    _start(kube, prom, "slow", weights=(50,), interval="10m")
    with OperatorThread(kube.api_client):
        wait_for(lambda: _phase(kube, "slow") == "Initialized", "initialized", timeout=60)
        kubelet.paused = True
        try:
            _new_revision(kube, "slow")

            def waiting() -> bool:
                status = (kube.get(ROLLOUT_API, "ModelRollout", "default", "slow") or {}).get(
                    "status"
                ) or {}
                return "waiting for the challenger" in str(status.get("message"))

            wait_for(waiting, "the rollout waiting for the challenger", timeout=60)
        finally:
            kubelet.paused = False
        wait_for(lambda: _canary_weight(kube, "slow") == 50, "traffic at 50 %", timeout=60)


def _canary_weight(kube: KubeApi, name: str) -> int:
    vs = kube.get("networking.istio.io/v1", "VirtualService", "default", name) or {}
    for route in (vs.get("spec") or {}).get("http") or []:
        for dest in route.get("route") or []:
            if dest["destination"]["host"] == f"{name}-canary":
                return int(dest.get("weight", 0))
    return 0


def test_many_rollouts_tick_at_once(kube: KubeApi, prom: PromAPI, kubelet: Kubelet) -> None:
    """12 rollouts whose first ticks all wait for each other: they only proceed when the
    operator runs 12 ticks at the same time (it has more tick threads than asyncio's default
    executor of cpu + 4 on a small node)."""
    prom.values["errors_query"] = 0.01
    names = [f"wide-{i}" for i in range(12)]
    gate = threading.Barrier(len(names), timeout=60)
    passed: set[str] = set()
    runtime = build_runtime(kube.api_client)
    drive = runtime.drive

    def gated(name: str, namespace: str, uid: str | None = None) -> bool:
        if name not in passed:
            gate.wait()  # BrokenBarrierError when fewer than 12 ticks run at once
            passed.add(name)
        return drive(name, namespace, uid)

    runtime.drive = gated  # type: ignore[method-assign]
    for name in names:
        _start(kube, prom, name)
    with OperatorThread(kube.api_client, runtime=runtime):
        wait_for(
            lambda: all(_phase(kube, n) == "Initialized" for n in names), "initialized", timeout=90
        )
    assert passed == set(names) and not gate.broken
