"""``stamp`` is part of the StatusStore port: every store (memory, file, the Kubernetes custom
resource, and the operator's write-skipping wrapper) gives a fingerprint that moves on every
write, so the runner watches any store through the port instead of probing it with getattr."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_fakes import make_rollout
from kube_fixtures import KubeApi, kube

from modelcanary.controller._runtime import QuietStatusStore
from modelcanary.engine import FileStatusStore, MemoryStatusStore, action_annotations
from modelcanary.engine import _runner as runner_module
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._status import API_VERSION, KIND, KubeStatusStore
from modelcanary.ports import StatusStore
from modelcanary.spec import RolloutStatus

__all__ = ["kube"]

NS = "ml"
Touch = Callable[[], None]
"""Another writer changes the stored rollout's metadata (an action annotation)."""


@pytest.fixture(params=["memory", "file", "kube", "quiet-kube"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, kube: KubeApi
) -> Iterator[tuple[StatusStore, Touch]]:
    """A store holding no rollout yet, and how another writer creates/annotates it."""
    if request.param in ("memory", "file"):
        local = MemoryStatusStore() if request.param == "memory" else FileStatusStore(tmp_path)

        def touch_local() -> None:
            if local.get("fraud", NS) is None:
                local.put(make_rollout())
            else:
                local.annotate("fraud", NS, action_annotations("pause", "id-1", "test"))

        yield local, touch_local
        return
    remote: StatusStore = KubeStatusStore(KubeClient(kube.api_client, timeout=10))
    if request.param == "quiet-kube":
        remote = QuietStatusStore(remote)

    def touch_kube() -> None:
        if kube.get(API_VERSION, KIND, NS, "fraud") is None:
            kube.create(make_rollout().to_dict())
        else:
            kube.patch(API_VERSION, KIND, NS, "fraud", {"metadata": {"annotations": {"a": "1"}}})

    yield remote, touch_kube
    kube.reset()


def test_every_store_stamps_through_the_port(store: tuple[StatusStore, Touch]) -> None:
    s, touch = store
    assert isinstance(s, StatusStore)
    assert s.stamp("fraud", NS) is None  # nothing stored yet
    touch()
    created = s.stamp("fraud", NS)
    assert created is not None
    assert s.stamp("fraud", NS) == created  # no write, no move
    stored = s.get("fraud", NS)
    assert stored is not None
    s.save_status("fraud", NS, RolloutStatus(phase="Progressing", canary_weight=10), None)
    written = s.stamp("fraud", NS)
    assert written not in (None, created)
    touch()  # an annotation written by another process (a manual action)
    assert s.stamp("fraud", NS) not in (None, written)


def test_the_runner_reads_the_stamp_only_through_the_port() -> None:
    tree = ast.parse(inspect.getsource(runner_module))
    probes = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("getattr", "hasattr")
    ]
    assert probes == []
