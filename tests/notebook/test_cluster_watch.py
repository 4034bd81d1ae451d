"""``ClusterRollouts.watch``: a Kubernetes watch on one ModelRollout, against the kmock API.

What a follower of a rollout must get from the API server: the rollout now, then each new
version once (never a version twice, though a reconnecting stream replays the object), the
end when it is deleted or the time is up, a stream re-opened after silence or a ``410 Gone``,
and a clear error (naming the rollout, the namespace and the fix) when access is refused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import kmock
import pytest
from cluster_fixtures import NS, ROLLOUT_API, fraud
from kmock._internal.k8s import KubernetesError
from kube_fixtures import KubeApi

from modelcanary.controller._cluster import ClusterRollouts, resource
from modelcanary.errors import AccessDenied, SpecError
from modelcanary.k8s._client import KubeClient, Ref
from modelcanary.k8s._watch import ObjectWatch


@pytest.fixture
def rollouts(kubeconfig: str, clean_ml: None) -> ClusterRollouts:
    return ClusterRollouts.connect(kubeconfig=kubeconfig)


def _create(kube: KubeApi, name: str = "fraud") -> None:
    kube.create(resource(fraud("http://prometheus.monitoring:9090", name).build(), NS))


def _set(kube: KubeApi, name: str, weight: int, **more: Any) -> None:
    status = {"phase": "Progressing", "canaryWeight": weight, **more}
    kube.patch(ROLLOUT_API, "ModelRollout", NS, name, {"status": status})


def _weight(status: Any) -> int | None:
    return None if status is None else int(status.canary_weight)


def _later(*steps: Any, pause: float = 0.3) -> threading.Thread:
    """Run each step after ``pause`` seconds in a thread (what the operator would write)."""

    def run() -> None:
        for step in steps:
            time.sleep(pause)
            step()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _requests(kube: KubeApi) -> list[str]:
    """URLs (path and query) of the requests on modelrollouts served so far."""
    return kube.call(
        lambda: [
            str(r.url.path_qs) for r in kube.handler._requests if "modelrollouts" in r.url.path
        ]
    )


def test_yields_now_then_each_version_once_and_ends_on_deletion(
    ml_kube: KubeApi, rollouts: ClusterRollouts
) -> None:
    _create(ml_kube)
    _create(ml_kube, "other")  # same namespace: its events must not show up
    watch = rollouts.watch("fraud", NS, timeout=60)
    # the writes start once the watch has yielded the rollout as stored now (they started
    # 0.3 s after the watch was created before: a first read later than that on a loaded
    # machine saw weight 30 first); each stream resumes from the last version it saw
    first = next(iter(watch))
    writer = _later(
        lambda: _set(ml_kube, "fraud", 30),
        lambda: _set(ml_kube, "other", 99),
        lambda: _set(ml_kube, "fraud", 60),
        lambda: ml_kube.patch(  # a finalizer keeps it while "Terminating", as kopf's does
            ROLLOUT_API, "ModelRollout", NS, "fraud", {"metadata": {"finalizers": ["x/y"]}}
        ),
        lambda: ml_kube.delete(ROLLOUT_API, "ModelRollout", NS, "fraud"),
        lambda: ml_kube.patch(
            ROLLOUT_API, "ModelRollout", NS, "fraud", {"metadata": {"finalizers": None}}
        ),
    )
    seen = [(s.rollout.name, _weight(s.rollout.status), s.deleted) for s in [first, *watch]]
    writer.join(10)
    assert [w for _, w, _ in seen][:3] == [None, 30, 60]
    assert {n for n, _, _ in seen} == {"fraud"}
    assert seen[-1][2] is True  # the deletion was seen (deletionTimestamp) before the end
    assert watch.deleted  # type: ignore[attr-defined]
    watches = [u for u in _requests(ml_kube) if "watch=true" in u]
    assert watches and all("fieldSelector=metadata.name%3Dfraud" in u for u in watches)


def test_ends_at_its_timeout(ml_kube: KubeApi, rollouts: ClusterRollouts) -> None:
    _create(ml_kube)
    started = time.monotonic()
    seen = list(rollouts.watch("fraud", NS, timeout=1.0))
    assert len(seen) == 1 and seen[0].rollout.name == "fraud"
    assert time.monotonic() - started < 30  # a bound, not a speed target


def test_a_silent_stream_is_reopened_from_the_last_version_without_repeats(
    ml_kube: KubeApi, kubeconfig: str, clean_ml: None
) -> None:
    _create(ml_kube)
    client: KubeClient = ClusterRollouts.connect(kubeconfig=kubeconfig).store.client  # type: ignore[attr-defined]
    watch = ObjectWatch(
        client,
        Ref(ROLLOUT_API, "ModelRollout", NS, "fraud"),
        # the watch ends at its timeout; the two changes come at ~1.5 s and ~3 s: 10 s leaves
        # a loaded machine 7 s of slack (it was 6 s: 3 s)
        timeout=10,
        read_timeout=0.5,  # kmock never ends a stream: silence for 0.5 s re-opens it
    )
    writer = _later(
        lambda: _set(ml_kube, "fraud", 30), lambda: _set(ml_kube, "fraud", 60), pause=1.5
    )
    versions = [o["metadata"]["resourceVersion"] for o in watch]
    writer.join(10)
    assert watch.reconnects >= 2  # re-opened after each silence
    assert len(versions) == len(set(versions)) == 3  # now + two changes, each once
    watches = [u for u in _requests(ml_kube) if "watch=true" in u]
    assert any(f"resourceVersion={versions[1]}" in u for u in watches)  # resumed from the last


def test_gone_410_reads_the_object_again_and_goes_on(
    ml_kube: KubeApi, rollouts: ClusterRollouts
) -> None:
    _create(ml_kube)
    first = ml_kube.get(ROLLOUT_API, "ModelRollout", NS, "fraud")
    assert first is not None
    version = first["metadata"]["resourceVersion"]

    key = (kmock.resource("modelcanary.io", "v1alpha1", "modelrollouts"), NS, "fraud")

    async def expired(request: Any) -> Any:  # the watch cache compacted that version
        yield b""
        moved = {"status": {"phase": "Progressing", "canaryWeight": 30}}  # ... and it moved on
        ml_kube.handler.objects[key].patch({**moved, "metadata": {"resourceVersion": "9999"}})
        yield {
            "type": "ERROR",
            "object": {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": f"too old resource version: {version}",
                "reason": "Expired",
                "code": 410,
            },
        }

    ml_kube.call(
        lambda: (
            ml_kube.handler[kmock.action.WATCH, kmock.params(resourceVersion=version)][:1]
            << expired
        )
    )
    statuses = []
    for stored in rollouts.watch("fraud", NS, timeout=20):
        statuses.append(stored.rollout.status.canary_weight if stored.rollout.status else None)
        if statuses[-1] == 30:
            break
    assert statuses == [None, 30]
    gets = [u for u in _requests(ml_kube) if u.endswith("/modelrollouts/fraud")]
    assert len(gets) >= 3  # require(), the watch's first read, the re-read after 410


def test_close_from_another_thread_wakes_a_blocked_watch(
    ml_kube: KubeApi, rollouts: ClusterRollouts
) -> None:
    _create(ml_kube)
    watch = rollouts.watch("fraud", NS, timeout=300)
    seen: list[Any] = []
    reader = threading.Thread(target=lambda: seen.extend(watch), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60  # until the reader has the rollout as stored now: then
    while not seen and time.monotonic() < deadline:  # it blocks on the quiet stream (a fixed
        time.sleep(0.05)  # 1 s sleep could close the watch before the first item was read)
    time.sleep(0.3)  # into the stream's wait
    assert reader.is_alive() and len(seen) == 1
    watch.close()
    reader.join(20)  # a bound far below the watch's 300 s: close() woke it
    assert not reader.is_alive()
    assert len(seen) == 1


def _forbid(kube: KubeApi, action: Any) -> None:
    """The API server answers 403 to ``action`` (a watch is a list request: no name in it)."""

    def forbidden(request: Any) -> Any:
        raise KubernetesError(
            status=403,
            reason="Forbidden",
            message=f'User "alice" cannot {action} resource "modelrollouts" in "{NS}"',
        )

    kube.call(lambda: kube.handler[action] << forbidden)


def test_a_forbidden_watch_is_a_clear_error(ml_kube: KubeApi, rollouts: ClusterRollouts) -> None:
    _create(ml_kube)
    _forbid(ml_kube, kmock.action.WATCH)  # a Role with get but without watch
    watch = rollouts.watch("fraud", NS, timeout=20)
    assert next(watch).rollout.name == "fraud"
    with pytest.raises(AccessDenied) as caught:
        next(watch)
    text = str(caught.value)
    assert f"ModelRollout {NS}/fraud" in text and "HTTP 403" in text
    assert f"kubectl auth can-i watch modelrollouts.modelcanary.io -n {NS}" in text


def test_a_missing_or_forbidden_rollout_is_a_clear_error(
    ml_kube: KubeApi, rollouts: ClusterRollouts
) -> None:
    with pytest.raises(SpecError) as missing:
        rollouts.watch("fraud", NS)
    assert f"no ModelRollout {NS}/fraud" in str(missing.value)
    assert "mc.cluster().submit(rollout)" in str(missing.value)
    _create(ml_kube)
    _forbid(ml_kube, kmock.action.FETCH)
    with pytest.raises(AccessDenied) as refused:
        rollouts.watch("fraud", NS)
    assert "refused to get ModelRollout ml/fraud (HTTP 403)" in str(refused.value)
    assert "Role granting get, list, watch and patch on modelrollouts.modelcanary.io" in str(
        refused.value
    )


@pytest.fixture(autouse=True)
def _no_reactions(ml_kube: KubeApi) -> Iterator[None]:
    """Reactions a test added (403, 410) end with it."""
    before = ml_kube.call(lambda: list(ml_kube.handler._payloads))
    yield

    def restore() -> None:
        ml_kube.handler._payloads[:] = before

    ml_kube.call(restore)
