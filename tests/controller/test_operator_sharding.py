"""Sharding over operator replicas (kmock): each replica holds a coordination.k8s.io Lease,
each rollout is ticked by exactly one live replica (rendezvous hashing of its uid), and the
rollouts of a replica that dies (its Lease left to expire) are picked up by the others.

Three operators run in threads against one kmock API, each with its own runtime; every tick
and every status write is recorded per replica by wrapping the runtime (outcomes: who ticked
what, who wrote which status, and whether any write lost a race).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from controller_fixtures import ROLLOUT_API, Kubelet, OperatorThread, PromAPI, rollout_doc, wait_for
from controller_fixtures import deployment as make_deployment
from kube_fixtures import KubeApi

from modelcanary.controller._operator import options_from_env
from modelcanary.controller._runtime import build_runtime
from modelcanary.controller._sharding import GROUP_LABEL, owner_of
from modelcanary.errors import ConflictError, SpecError

LEASE_SECONDS = 9.0
"""Renewed every 3 s: a live replica drops out only after a 6 s stall of its renewal thread
(with 3 s, a 2 s stall on a loaded machine let the others take its rollouts over mid-test)."""
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


class Replica:
    """One operator replica with sharding on; records (rollout, time) of each tick it runs,
    the rollouts whose status it wrote and the writes that lost a race."""

    def __init__(self, kube: KubeApi, identity: str) -> None:
        self.identity = identity
        self.runtime = build_runtime(kube.api_client)
        self.op = OperatorThread(kube.api_client, runtime=self.runtime, tick_seconds=0.3)
        self.op.options = dataclasses.replace(
            self.op.options,
            sharding=True,
            shard_identity=identity,
            lease_namespace="default",
            lease_seconds=LEASE_SECONDS,
        )
        self.ticks: list[tuple[str, float]] = []
        self.wrote: set[str] = set()
        self.conflicts: list[str] = []
        self._lock = threading.Lock()
        tick, store = self.runtime.tick, self.runtime.engine.store
        save = store.save_status

        def recorded_tick(name: str, namespace: str, **kw: Any) -> Any:
            with self._lock:
                self.ticks.append((name, time.monotonic()))
            return tick(name, namespace, **kw)

        def recorded_save(name: str, namespace: str, status: Any, version: Any) -> Any:
            try:
                out = save(name, namespace, status, version)
            except ConflictError:
                with self._lock:
                    self.conflicts.append(name)
                raise
            with self._lock:
                self.wrote.add(name)
            return out

        self.runtime.tick = recorded_tick  # type: ignore[method-assign]
        store.save_status = recorded_save  # type: ignore[method-assign]

    def ticked(self, since: float = 0.0) -> set[str]:
        with self._lock:
            return {name for name, at in self.ticks if at >= since}

    def start(self) -> Replica:
        self.op.start()
        return self

    def crash(self) -> None:
        """Stop without releasing the Lease: it expires as a dead pod's would."""
        assert self.runtime.shards is not None
        self.runtime.shards.release_on_stop = False
        self.op.stop()


def _members(replica: Replica) -> tuple[str, ...]:
    return tuple(replica.runtime.shards.members) if replica.runtime.shards else ()


def _start_rollouts(kube: KubeApi, prom: PromAPI, names: list[str], **kw: Any) -> dict[str, str]:
    """Deployments and rollouts; returns name -> uid. The uids are fixed (derived from the
    names), so each rollout has the same owner on every run: with random ones, none of the
    12 rollouts of the dead-replica test hashed to op-a in (2/3)**12 = 0.8 % of runs."""
    uids = {}
    for name in names:
        kube.create(make_deployment(name))
        doc = rollout_doc(name, prometheus=prom.url, **kw)
        doc["metadata"]["uid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"modelcanary-test-uid/{name}"))
        created = kube.create(doc)
        uids[name] = created["metadata"]["uid"]
    return uids


def _phase(kube: KubeApi, name: str) -> str:
    obj = kube.get(ROLLOUT_API, "ModelRollout", "default", name) or {}
    return str((obj.get("status") or {}).get("phase", ""))


def _new_revisions(kube: KubeApi, names: list[str]) -> None:
    container = {"name": "podinfo", "image": IMAGE_V2, "ports": [{"containerPort": 9898}]}
    for name in names:
        patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
        kube.patch("apps/v1", "Deployment", "default", name, patch)


def test_each_rollout_is_ticked_by_exactly_its_owner(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    prom.values["errors_query"] = 0.01
    replicas = [Replica(kube, identity).start() for identity in ("op-a", "op-b", "op-c")]
    try:
        everyone = ("op-a", "op-b", "op-c")
        wait_for(lambda: all(_members(r) == everyone for r in replicas), "3 live replicas")
        leases = kube.list("coordination.k8s.io/v1", "Lease", "default")
        assert sorted(lease["spec"]["holderIdentity"] for lease in leases) == list(everyone)
        assert all(lease["metadata"]["labels"][GROUP_LABEL] for lease in leases)

        names = [f"shard-{i}" for i in range(9)]
        uids = _start_rollouts(kube, prom, names, weights=(50,), interval="300ms")
        wait_for(lambda: all(_phase(kube, n) == "Initialized" for n in names), "initialized")
        _new_revisions(kube, names)
        wait_for(lambda: all(_phase(kube, n) == "Succeeded" for n in names), "promoted", timeout=90)
        for name in names:
            owner = owner_of(uids[name], everyone)
            tickers = {r.identity for r in replicas if name in r.ticked()}
            writers = {r.identity for r in replicas if name in r.wrote}
            assert tickers == {owner}, f"{name}: ticked by {tickers}, owner {owner}"
            assert writers == {owner}, f"{name}: status written by {writers}"
        assert [r.conflicts for r in replicas] == [[], [], []]
        shares = {r.identity: len(r.ticked() & set(names)) for r in replicas}
        assert sum(shares.values()) == len(names)
    finally:
        for replica in replicas:
            replica.op.stop()
    assert kube.list("coordination.k8s.io/v1", "Lease", "default") == []  # released on stop


def test_a_dead_replicas_rollouts_move_to_the_others(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    prom.values["errors_query"] = 0.01
    everyone = ("op-a", "op-b", "op-c")
    replicas = [Replica(kube, identity).start() for identity in everyone]
    alive = replicas[1:]
    try:
        wait_for(lambda: all(_members(r) == everyone for r in replicas), "3 live replicas")
        names = [f"move-{i}" for i in range(12)]
        # many steps at 1 s: every rollout is still in progress when op-a dies
        uids = _start_rollouts(kube, prom, names, weights=tuple(range(5, 55, 5)), interval="1s")
        wait_for(lambda: all(_phase(kube, n) == "Initialized" for n in names), "initialized")
        _new_revisions(kube, names)
        orphans = [n for n in names if owner_of(uids[n], everyone) == "op-a"]
        assert orphans, "no rollout hashed to op-a: pick other names"
        wait_for(lambda: set(orphans) <= replicas[0].ticked(), "op-a ticking its share")

        replicas[0].crash()
        died = time.monotonic()
        assert orphans and not all(_phase(kube, n) == "Succeeded" for n in orphans)
        wait_for(
            lambda: all(_members(r) == ("op-b", "op-c") for r in alive),
            "op-a's lease to expire",
            timeout=LEASE_SECONDS * 10,
        )
        wait_for(
            lambda: all(_phase(kube, n) == "Succeeded" for n in names), "all promoted", timeout=120
        )
        for name in orphans:
            heir = owner_of(uids[name], ("op-b", "op-c"))
            tickers = {r.identity for r in alive if name in r.ticked(since=died)}
            assert tickers == {heir}, f"{name}: picked up by {tickers}, expected {heir}"
        for name in set(names) - set(orphans):  # the others' rollouts did not move
            owner = owner_of(uids[name], everyone)
            assert {r.identity for r in alive if name in r.ticked()} == {owner}
        lease_a = kube.get(
            "coordination.k8s.io/v1", "Lease", "default", "modelcanary-operator-op-a"
        )
        assert lease_a is not None  # left behind by the crash, expired, not deleted by others
    finally:
        for replica in alive:
            replica.op.stop()


def test_sharding_from_the_pod_environment() -> None:
    from modelcanary.controller._operator import OperatorOptions

    env = {
        "MODELCANARY_SHARDING": "true",
        "MODELCANARY_SHARD_GROUP": "ml",
        "MODELCANARY_LEASE_SECONDS": "20",
        "MODELCANARY_TICK_WORKERS": "8",
    }
    options = options_from_env(OperatorOptions(), env)
    assert (options.sharding, options.shard_group, options.lease_seconds, options.workers) == (
        True,
        "ml",
        20.0,
        8,
    )
    assert options_from_env(OperatorOptions(), {}).sharding is False
    with pytest.raises(SpecError, match="MODELCANARY_LEASE_SECONDS"):
        options_from_env(OperatorOptions(), {"MODELCANARY_LEASE_SECONDS": "soon"})
