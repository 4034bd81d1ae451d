"""With sharding (every replica runs kopf's handlers, no peering), a deleted
``revertOnDeletion`` rollout is reverted by its owner only; the other replicas retry until
it is gone (or its owner died and the rollout is theirs)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from controller_fixtures import ROLLOUT_API, Kubelet, PromAPI, deployment, rollout_doc
from kube_fixtures import KubeApi

from modelcanary.controller._deletion import RevertRetry, revert
from modelcanary.controller._runtime import build_runtime


class _Shards:
    """A replica's view of the shards: owns the uids it is given."""

    def __init__(self, owned: set[str]) -> None:
        self.owned = owned

    def owns(self, uid: str | None) -> bool:
        return uid in self.owned


def _deleted_rollout(kube: KubeApi, prom: PromAPI) -> dict[str, Any]:
    kube.reset()
    prom.values["rollout='rev'"] = 0.0
    doc = rollout_doc("rev", prometheus=prom.url, weights=(50,))
    doc["spec"]["revertOnDeletion"] = True
    doc["metadata"]["finalizers"] = ["modelcanary.io/finalizer"]
    kube.create(deployment("rev"))
    created = kube.create(doc)
    kube.delete(ROLLOUT_API, "ModelRollout", "default", "rev")  # held by the finalizer
    return created


def test_only_the_owner_reverts_a_deleted_rollout(
    kube: KubeApi, prom: PromAPI, kubelet: Kubelet
) -> None:
    obj = _deleted_rollout(kube, prom)
    uid = obj["metadata"]["uid"]
    other = build_runtime(kube.api_client)
    other.shards = _Shards(set())  # type: ignore[assignment]
    before = len(kube.writes())
    with pytest.raises(RevertRetry, match="another replica owns"):
        asyncio.run(revert(other, "rev", "default", poll=0.05, uid=uid))
    assert kube.writes()[before:] == []  # the non-owner touched nothing
    owner = build_runtime(kube.api_client)
    owner.shards = _Shards({uid})  # type: ignore[assignment]
    asyncio.run(revert(owner, "rev", "default", poll=0.05, uid=uid))
    assert kube.writes()[before:], "the owner reverted (routes to the champion, objects released)"
