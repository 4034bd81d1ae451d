"""The revert of a ModelRollout deleted with ``revertOnDeletion: true`` (kopf's on-delete).

Only such a rollout carries the operator's finalizer (as Flagger adds its own only for
``revertOnDeletion``); it holds the rollout until this revert is done:

1. the plan (``modelcanary.k8s.KubeRelease.plan``): revert to the target when it runs the
   analysed, promoted revision (or when nothing else is ready to serve), else keep the champion;
2. reverting to the target: scale it back up to the champion's replicas and wait until it is
   ready (at most ``progressDeadlineSeconds``; past it the champion keeps serving instead), all
   **before** the routing objects go;
3. engine ticks until Terminating: all traffic to the champion, the routing objects removed;
4. ``KubeRelease.finish``: the apex Service selects what serves; what does not serve any more
   is given to the garbage collector; an Event says what remains.

**In a namespace being deleted** the revert is moot (the target, its Services and the
routing objects go with the namespace): the rollout is released at once, without a step of
the above. The API server refuses new objects in a terminating namespace, an Event included,
so this is said in the log only. The operator's RoleBinding
there is held until then (``controller._rbac_hold``), so the release is allowed.

An error retrying cannot fix (403, 404) gives up at once, logged: the finalizer is then
released if the API still allows it, and a terminating namespace is never held by a revert
that cannot happen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..errors import ConflictError, ModelCanaryError
from ..spec import ModelRollout
from ..spec._phases import Phase
from ._rbac_hold import namespace_terminating
from ._runtime import OperatorRuntime, transient

log = logging.getLogger("modelcanary.controller")

TICKS = 5
"""Engine ticks tried to reach Terminating (each may lose its write to a concurrent patch)."""


class RevertRetry(Exception):
    """A step failed in a way a later attempt may fix (the API unavailable)."""


async def revert(
    runtime: OperatorRuntime,
    name: str,
    namespace: str,
    poll: float = 1.0,
    uid: str | None = None,
) -> None:
    """Revert ``namespace/name`` (deleted, held by the finalizer); returns when the finalizer
    may go. Raises :class:`RevertRetry` for a transient failure, and, when replicas share the
    rollouts (sharding), on every replica but the rollout's owner: one replica reverts, the
    others retry until the rollout is gone or its owner died and they own it."""
    await asyncio.to_thread(runtime.begin_revert, name, namespace)
    try:
        await _revert(runtime, name, namespace, poll, uid)
    except ModelCanaryError as exc:
        if transient(exc):
            raise RevertRetry(f"revert on delete: {exc}") from exc
        log.warning(
            "%s/%s: released without a complete revert (retrying cannot fix it): %s",
            namespace,
            name,
            exc,
        )
    finally:
        runtime.forget(name, namespace)


async def _revert(
    runtime: OperatorRuntime, name: str, namespace: str, poll: float, uid: str | None
) -> None:
    stored = await asyncio.to_thread(runtime.engine.store.get, name, namespace)
    if stored is None:
        return
    rollout = stored.rollout
    release = runtime.release
    client = getattr(release, "client", None)
    if client is not None and await asyncio.to_thread(namespace_terminating, client, namespace):
        # no Event: the API server refuses new objects in a terminating namespace
        log.info(
            "%s/%s deleted with its namespace: released without a revert (moot: the target "
            "and the routing objects go with the namespace)",
            namespace,
            name,
        )
        return
    if not runtime.owns(uid):
        raise RevertRetry(f"{namespace}/{name}: another replica owns this rollout and reverts it")
    plan = "champion"
    note = ""
    if release is not None:
        plan = await asyncio.to_thread(release.plan, rollout)
    if plan == "target":
        deadline = time.monotonic() + rollout.spec.progress_deadline_seconds
        while True:
            ready, why = await asyncio.to_thread(release.scale_target_up, rollout)
            if ready:
                break
            if time.monotonic() >= deadline:
                plan = "champion"
                note = (
                    f"the target was not ready within progressDeadlineSeconds="
                    f"{rollout.spec.progress_deadline_seconds} ({why}); "
                )
                break
            await asyncio.sleep(poll)
    for _attempt in range(TICKS):
        try:
            result = await asyncio.to_thread(runtime.tick, name, namespace, by_revert=True)
        except ConflictError as exc:  # kopf's own patch of the finalizer: re-read
            log.debug("%s/%s: revert tick lost its write: %s", namespace, name, exc)
            continue
        if result.missing or result.phase == Phase.TERMINATING:
            break
    if release is None:
        return
    current = await asyncio.to_thread(runtime.engine.store.get, name, namespace)
    latest: ModelRollout = current.rollout if current is not None else rollout
    remains = await asyncio.to_thread(release.finish, latest, plan)
    message = note + remains.message
    log.info("%s/%s deleted: %s", namespace, name, message)
    _event(runtime, latest, message)


def _event(runtime: OperatorRuntime, rollout: ModelRollout, message: str) -> Any:
    if runtime.events is None:
        return None
    try:
        return runtime.events.emit(rollout, "Released", message)
    except Exception as exc:  # an Event is for people: never hold the deletion for one
        log.debug("%s: no Released event: %s", rollout.name, exc)
        return None
