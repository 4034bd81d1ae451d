"""What a tick costs the API server (kmock): requests per tick and connections.

Found by benchmarks/operator_scale.py: the kubernetes client's connection pool (10 on a
2-core machine) was smaller than the tick pool (16 threads), so concurrent ticks opened
connections only to drop them; ``set_routes`` read every routing object twice (its adoption
check, then ``KubeObjectStore.apply``); a steady tick re-read the rollout the watch had
already delivered unchanged.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator

import kubernetes.client
import pytest
from controller_fixtures import (
    ROLLOUT_API,
    Kubelet,
    OperatorThread,
    PromAPI,
    deployment,
    rollout_doc,
    rollout_status,
)
from kube_fixtures import KubeApi

from modelcanary.controller._runtime import OperatorRuntime, build_runtime
from modelcanary.k8s._client import KubeClient, Ref

IMAGE_V2 = "ghcr.io/stefanprodan/podinfo:6.0.1"
ISTIO = "/apis/networking.istio.io/"
WRITES = ("POST", "PATCH", "PUT", "DELETE")


@pytest.fixture(autouse=True)
def clean(kube: KubeApi) -> Iterator[None]:
    kube.reset()
    yield


def _new_revision(kube: KubeApi, name: str) -> None:
    container = {"name": "podinfo", "image": IMAGE_V2, "ports": [{"containerPort": 9898}]}
    patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
    kube.patch("apps/v1", "Deployment", "default", name, patch)


def _tick(kube: KubeApi, runtime: OperatorRuntime, name: str) -> list[tuple[str, str]]:
    """One tick of ``name`` (Deployments made ready first); the requests it made."""
    Kubelet(kube).sync()
    kube.call(lambda: kube.handler._requests.clear())
    assert runtime.drive(name, "default")
    return kube.requests()


def _progressing(kube: KubeApi, prom: PromAPI, runtime: OperatorRuntime, name: str) -> None:
    """``name`` created, initialised and moved to its first weight by ``runtime``'s ticks."""
    prom.values["errors_query"] = 0.01
    kube.create(deployment(name))
    kube.create(rollout_doc(name, prometheus=prom.url, weights=(10, 20, 30), interval="1s"))
    for _ in range(10):
        _tick(kube, runtime, name)
        if rollout_status(kube, name).get("phase") == "Initialized":
            break
    _new_revision(kube, name)
    for _ in range(10):
        _tick(kube, runtime, name)
        if rollout_status(kube, name).get("canaryWeight"):
            return
    raise AssertionError(f"{name} did not start: {rollout_status(kube, name)}")


def _step(kube: KubeApi, runtime: OperatorRuntime, name: str) -> list[tuple[str, str]]:
    """Ticks until the weight moves (its 1 s interval passes); the requests of that tick.
    The ticks before it are steady: nothing to change."""
    before = rollout_status(kube, name)["canaryWeight"]
    for _ in range(20):
        time.sleep(0.3)
        requests = _tick(kube, runtime, name)
        if rollout_status(kube, name)["canaryWeight"] != before:
            assert rollout_status(kube, name)["canaryWeight"] == before + 10
            return requests
        assert not [r for r in requests if r[0] in WRITES], f"a steady tick wrote: {requests}"
    raise AssertionError(f"{name} did not move from {before}: {rollout_status(kube, name)}")


def _routing(requests: list[tuple[str, str]], method: str) -> list[str]:
    return sorted(p.rsplit("/", 1)[1] for m, p in requests if m == method and p.startswith(ISTIO))


def test_a_traffic_step_writes_each_routing_object_once_and_reads_none(
    kube: KubeApi, prom: PromAPI
) -> None:
    """The tick that moves the weight patches the VirtualService and each DestinationRule
    once, over the copy the store wrote last (its resourceVersion as precondition), without
    reading them (it read each twice: the router's adoption check, then the store's apply)."""
    runtime = build_runtime(kube.api_client)
    _progressing(kube, prom, runtime, "steps")
    requests = _step(kube, runtime, "steps")
    assert _routing(requests, "GET") == [], requests
    assert _routing(requests, "PATCH") == ["steps", "steps-canary", "steps-primary"], requests


def test_a_routing_object_edited_meanwhile_is_read_and_corrected(
    kube: KubeApi, prom: PromAPI
) -> None:
    """Someone sends all traffic to the challenger between two steps: the guarded write
    over the remembered copy is refused (409), the object is read and corrected, so the
    VirtualService carries the rollout's weight and the user's label survives."""
    runtime = build_runtime(kube.api_client)
    _progressing(kube, prom, runtime, "edited")
    vs = kube.get("networking.istio.io/v1", "VirtualService", "default", "edited")
    assert vs is not None
    http = vs["spec"]["http"]
    for route in http:
        for destination in route.get("route") or []:
            destination["weight"] = (
                100 if destination["destination"]["host"].endswith("-canary") else 0
            )
    kube.patch(
        "networking.istio.io/v1",
        "VirtualService",
        "default",
        "edited",
        {"metadata": {"labels": {"team": "ml"}}, "spec": {"http": http}},
        manager="kubectl-edit",
    )
    requests = _step(kube, runtime, "edited")
    assert "edited" in _routing(requests, "GET"), requests  # re-read after the 409
    weight = rollout_status(kube, "edited")["canaryWeight"]
    stored = kube.get("networking.istio.io/v1", "VirtualService", "default", "edited")
    assert stored is not None
    weights = {
        d["destination"]["host"].rsplit("-", 1)[-1]: d["weight"]
        for d in stored["spec"]["http"][-1]["route"]
    }
    assert weights == {"primary": 100 - weight, "canary": weight}, stored["spec"]
    assert stored["metadata"]["labels"]["team"] == "ml"


def test_the_operator_keeps_a_connection_per_tick_worker(kube: KubeApi) -> None:
    """As many concurrent requests as tick workers reuse their connections: none is opened
    only to be dropped (with the client's default pool, cpu_count * 5, the extra threads
    opened a new connection for every request)."""
    config = copy.deepcopy(kube.configuration)
    api = kubernetes.client.ApiClient(config)
    workers = int(config.connection_pool_maxsize) + 6
    operator = OperatorThread(api)
    operator.options.workers = workers
    rounds = 6
    with operator:
        client = KubeClient(api)
        barrier = threading.Barrier(workers)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(rounds):
                    barrier.wait(30)
                    client.get(Ref("v1", "Namespace", "", "default"))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        pool = api.rest_client.pool_manager.connection_from_url(kube.url)
        assert pool.num_connections <= workers, (
            f"{pool.num_connections} connections opened for {workers} threads x {rounds} rounds"
        )
    api.close()


def _watch(kube: KubeApi, runtime: OperatorRuntime, name: str) -> None:
    """What the operator's watch does with each event: the body goes to ``noticed``."""
    body = kube.get(ROLLOUT_API, "ModelRollout", "default", name)
    assert body is not None
    runtime.noticed(name, "default", body)


def _rollout_reads(requests: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    return [(m, p) for m, p in requests if m == "GET" and p.endswith(f"/modelrollouts/{name}")]


def test_a_steady_tick_does_not_read_the_rollout_the_watch_confirmed(
    kube: KubeApi, prom: PromAPI
) -> None:
    """Once the watch has delivered the version the last tick wrote, a tick with nothing to
    change reads only the Deployments (their readiness) and writes nothing."""
    runtime = build_runtime(kube.api_client)
    _progressing(kube, prom, runtime, "steady")
    _watch(kube, runtime, "steady")
    requests = _tick(kube, runtime, "steady")
    assert not [r for r in requests if r[0] in WRITES], requests
    assert _rollout_reads(requests, "steady") == [], requests
    # the next step is still taken, from the remembered rollout
    _watch(kube, runtime, "steady")
    _step(kube, runtime, "steady")


def test_an_action_the_watch_delivers_is_read_and_acted_on(kube: KubeApi, prom: PromAPI) -> None:
    """An abort annotated by a user reaches the tick: the watch delivers a new version, so
    the tick reads the rollout from the API and rolls back (nothing stale is acted on)."""
    runtime = build_runtime(kube.api_client)
    _progressing(kube, prom, runtime, "aborted")
    _watch(kube, runtime, "aborted")
    kube.patch(
        ROLLOUT_API,
        "ModelRollout",
        "default",
        "aborted",
        {"metadata": {"annotations": {"modelcanary.io/action": "abort"}}},
    )
    _watch(kube, runtime, "aborted")
    requests = _tick(kube, runtime, "aborted")
    assert _rollout_reads(requests, "aborted"), requests
    for _ in range(10):
        if rollout_status(kube, "aborted").get("phase") == "Failed":
            break
        _tick(kube, runtime, "aborted")
    assert rollout_status(kube, "aborted")["phase"] == "Failed"
    assert rollout_status(kube, "aborted")["canaryWeight"] == 0


def test_a_status_written_by_someone_else_is_not_overwritten(kube: KubeApi, prom: PromAPI) -> None:
    """Another writer changes the status before the watch delivered it: the tick works from
    the remembered rollout, but its write carries the remembered version, is refused, and
    the retry reads what is stored and takes the step from there."""
    runtime = build_runtime(kube.api_client)
    _progressing(kube, prom, runtime, "raced")
    _watch(kube, runtime, "raced")
    kube.patch(
        ROLLOUT_API,
        "ModelRollout",
        "default",
        "raced",
        {"status": {"message": "set by another replica"}, "metadata": {"labels": {"x": "y"}}},
    )
    requests = _step(kube, runtime, "raced")  # one step of 10 points, not more
    assert _rollout_reads(requests, "raced"), requests  # the refused write made it read
