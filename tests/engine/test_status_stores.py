"""StatusStore contract: the same checks against MemoryStatusStore and FileStatusStore.

Plus the file store's own promises: atomic JSON files, and no update lost between processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from engine_fakes import make_rollout

from modelcanary.engine import FileStatusStore, MemoryStatusStore, action_annotations
from modelcanary.errors import ConflictError, SpecError
from modelcanary.ports import StatusStore
from modelcanary.spec import RolloutStatus

NS = "ml"
Store = MemoryStatusStore | FileStatusStore


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return MemoryStatusStore() if request.param == "memory" else FileStatusStore(tmp_path / "w")


def test_is_a_status_store(store: Store) -> None:
    assert isinstance(store, StatusStore)


def test_put_get_and_missing(store: Store) -> None:
    assert store.get("fraud", NS) is None
    store.put(make_rollout())
    got = store.get("fraud", NS)
    assert got is not None and got.rollout == make_rollout() and not got.deleted
    assert got.version is not None and got.rollout.status is None


def test_save_status_bumps_the_version_and_detects_conflicts(store: Store) -> None:
    store.put(make_rollout())
    first = store.get("fraud", NS)
    assert first is not None
    new = store.save_status("fraud", NS, RolloutStatus(phase="Progressing"), first.version)
    assert new is not None and new != first.version
    got = store.get("fraud", NS)
    assert got is not None and got.version == new and got.rollout.status is not None
    assert got.rollout.status.phase == "Progressing"
    with pytest.raises(ConflictError, match="changed"):
        store.save_status("fraud", NS, RolloutStatus(phase="Failed"), first.version)
    # None = unconditional write
    assert store.save_status("fraud", NS, RolloutStatus(phase="Failed"), None) is not None
    with pytest.raises(ConflictError, match="no longer exists"):
        store.save_status("ghost", NS, RolloutStatus(), None)


def test_put_keeps_the_status_when_the_new_rollout_has_none(store: Store) -> None:
    store.put(make_rollout())
    store.save_status("fraud", NS, RolloutStatus(phase="Progressing", canary_weight=10), None)
    store.put(make_rollout(stepWeights=[20, 60]))
    got = store.get("fraud", NS)
    assert got is not None and got.rollout.status is not None
    assert got.rollout.status.canary_weight == 10
    assert got.rollout.spec.analysis.step_weights == [20, 60]


def test_annotate_merges_and_moves_the_version(store: Store) -> None:
    store.put(make_rollout())
    before = store.get("fraud", NS)
    assert before is not None
    store.annotate("fraud", NS, {"a": "1"})
    store.annotate("fraud", NS, action_annotations("abort", "id-1", "test"))
    got = store.get("fraud", NS)
    assert got is not None and got.version != before.version
    notes = got.rollout.metadata.annotations or {}
    assert notes["a"] == "1" and notes["modelcanary.io/action"] == "abort"
    assert notes["modelcanary.io/action-reason"] == "test"
    with pytest.raises(ConflictError):  # the engine's read is stale: it must re-read
        store.save_status("fraud", NS, RolloutStatus(), before.version)
    with pytest.raises(KeyError):
        store.annotate("ghost", NS, {"a": "1"})


def test_delete_marks_and_remove_forgets(store: Store) -> None:
    store.put(make_rollout())
    store.delete("fraud", NS)
    got = store.get("fraud", NS)
    assert got is not None and got.deleted
    store.save_status("fraud", NS, RolloutStatus(phase="Terminating"), got.version)
    again = store.get("fraud", NS)
    assert again is not None and again.deleted
    store.remove("fraud", NS)
    store.remove("fraud", NS)  # idempotent
    assert store.get("fraud", NS) is None


# -- the file store's own promises -------------------------------------------------------
def test_file_layout_list_and_safe_names(tmp_path: Path) -> None:
    store = FileStatusStore(tmp_path)
    store.put(make_rollout())
    store.save_status("fraud", NS, RolloutStatus(phase="Progressing"), None)
    doc = json.loads((tmp_path / "rollouts" / NS / "fraud.json").read_text())
    assert doc["version"] == 2 and doc["deleted"] is False
    assert doc["rollout"]["metadata"]["name"] == "fraud"
    assert doc["rollout"]["status"]["phase"] == "Progressing"
    assert (tmp_path / ".gitignore").read_text() == "*\n"
    assert not list((tmp_path / "rollouts" / NS).glob("*.tmp"))  # no temp file left behind
    assert [s.rollout.name for s in store.list()] == ["fraud"]
    assert store.list("other") == [] and FileStatusStore(tmp_path / "none").list() == []
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(SpecError):
            store.get(bad, NS)


CHILD = textwrap.dedent(
    """
    import sys
    from modelcanary.engine import FileStatusStore
    store = FileStatusStore(sys.argv[1])
    for i in range(int(sys.argv[2])):
        store.annotate("fraud", "ml", {f"test/k{i}": str(i)})
    """
)


def test_two_processes_lose_no_update(tmp_path: Path) -> None:
    """A subprocess annotates while this process saves statuses (re-reading on conflict)."""
    store = FileStatusStore(tmp_path)
    store.put(make_rollout())
    n = 200
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), str(n)])
    saves = conflicts = 0
    overlapped = False
    while child.poll() is None or saves < 20:
        stored = store.get("fraud", NS)
        assert stored is not None
        if child.poll() is None and (stored.rollout.metadata.annotations or {}):
            overlapped = True  # the child is writing while we are
        try:
            store.save_status("fraud", NS, RolloutStatus(iterations=saves + 1), stored.version)
            saves += 1
        except ConflictError:
            conflicts += 1
    assert child.returncode == 0
    final = store.get("fraud", NS)
    assert final is not None and final.rollout.status is not None
    notes = final.rollout.metadata.annotations or {}
    assert {k for k in notes if k.startswith("test/")} == {f"test/k{i}" for i in range(n)}
    assert final.rollout.status.iterations == saves
    assert final.version == str(1 + n + saves)  # put + every annotate + every save
    assert overlapped and conflicts > 0, (saves, conflicts)


def test_claim_is_exclusive_and_starts_afresh(tmp_path: Path) -> None:
    store = FileStatusStore(tmp_path)
    store.put(make_rollout())
    store.save_status("fraud", NS, RolloutStatus(phase="Failed", outcome="aborted"), None)
    store.annotate("fraud", NS, {**action_annotations("abort", "a-1"), "team": "risk"})
    with store.claim("fraud", NS):
        # fresh: the earlier run is forgotten (status, actions), the rollout never vanishes
        stored = store.get("fraud", NS)
        assert stored is not None and stored.rollout.status is None
        assert stored.rollout.metadata.annotations == {"team": "risk"}
        store.put(make_rollout())
        other = FileStatusStore(tmp_path).claim("fraud", NS)
        with pytest.raises(SpecError, match="already running"), other:
            pass
        assert store.get("fraud", NS) is not None  # the failed claim removed nothing
    with store.claim("fraud", NS, fresh=False):  # released: claimable again
        assert store.get("fraud", NS) is not None
