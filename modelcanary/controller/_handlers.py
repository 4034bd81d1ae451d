"""kopf handlers for ModelRollout (``modelcanary.io/v1alpha1``, plural ``modelrollouts``).

- a **daemon per rollout** ticks it when its own next tick is due (``next_delay``: 1 s
  while waiting for readiness or moving traffic, the analysis interval otherwise): it sleeps
  until then, at most ``tick_seconds`` (default 2 s) between checks; a watch event with a new
  spec generation or a manual action (``modelcanary.io/action: abort``) wakes it at once. The
  daemon ends when the rollout is gone (or replaced by a new one of the same name). Ticks run
  on the operator's tick pool (``workers`` threads: a tick mostly waits for the API);
- **sharded** (``runtime.shards``): every replica runs the daemon, but only the rollout's
  owner (``controller._sharding``) ticks; the others check again each ``tick_seconds``, so a
  rollout whose owner died is picked up with no event on the object;
- **no finalizer** on a rollout unless it asks for ``revertOnDeletion``: kopf puts a
  finalizer on every object a daemon or timer serves, which this operator turns off for its
  ticker (:func:`without_finalizer`). A finalizer the operator cannot remove once its
  RoleBinding is gone (a namespaced install whose namespace is deleted) would hold the
  namespace in Terminating forever; what must survive a deletion is simply never owned by the
  rollout (``modelcanary.k8s._release``);
- ``revertOnDeletion: true``: kopf's on-delete with the finalizer ``modelcanary.io/finalizer``
  reverts (``_deletion.revert``) before the rollout goes; in a namespace being deleted it
  releases the rollout at once (the revert is moot);
- a **namespaced install** (``$MODELCANARY_RBAC_BINDING`` names its RoleBinding) keeps that
  binding (finalizer ``modelcanary.io/rbac-in-use``, ``_rbac_hold``) while a rollout of its
  namespace carries the finalizer, so a namespace deletion that removes the binding first
  cannot leave the operator without the right to release its rollouts: checked when such a
  rollout is seen (at most every 30 s per namespace), released at once when the last one goes,
  when a watched namespace terminates (a Namespace watch, which such an install may list and
  watch for kopf already) and at shutdown;
- errors never reach kopf (no ERROR lines for a retry): :meth:`OperatorRuntime.drive` turns
  them into status conditions, Events and retry delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from concurrent.futures import Executor
from typing import Any

import kopf

from ._deletion import RevertRetry, revert
from ._rbac_hold import BINDING_ENV, RbacHold
from ._runtime import OperatorRuntime

GROUP, VERSION, PLURAL = "modelcanary.io", "v1alpha1", "modelrollouts"
FINALIZER = "modelcanary.io/finalizer"
KOPF_PREFIX = "operator.modelcanary.io"
"""Annotation prefix of kopf's own bookkeeping (handler progress, last handled spec)."""
TICKER = "ticker"
"""Handler id of the per-rollout daemon."""
ERROR_BACKOFFS = (1.0, 2.0, 4.0)
"""Retries of a failed API request (7 s in all) instead of kopf's default (1, 1, 2, ... 21:
54 s): kopf retries a 403 too, and its last keep-alive of the peering object is shielded from
cancellation, so with kopf's default a SIGTERM after the operator's RoleBinding was removed
(its namespace terminating) waited 54 s."""
MIN_WAIT = 0.05
"""Shortest sleep of a daemon between two checks (a rollout due again at once)."""
WAKE = "modelcanary_wake"
"""Key of the per-rollout asyncio.Event in kopf's memo (the watch handler wakes the daemon)."""

log = logging.getLogger("modelcanary.controller")


def settings(base: kopf.OperatorSettings | None = None) -> kopf.OperatorSettings:
    """Operator settings: finalizer and kopf's bookkeeping under modelcanary names (in
    annotations, so the CRD's status schema stays ours), kopf's own Events only for
    warnings, bounded API retries (:data:`ERROR_BACKOFFS`, unless ``base`` chose its own).
    Peering is chosen when the operator starts (see ``controller.operator``)."""
    out = base if base is not None else kopf.OperatorSettings()
    out.persistence.finalizer = FINALIZER
    out.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    out.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=KOPF_PREFIX)
    out.posting.level = logging.WARNING
    default = kopf.OperatorSettings().networking.error_backoffs
    if _as_tuple(out.networking.error_backoffs) == _as_tuple(default):
        out.networking.error_backoffs = ERROR_BACKOFFS
    return out


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def without_finalizer(registry: kopf.OperatorRegistry, handler_id: str) -> None:
    """Let the daemon ``handler_id`` serve objects without kopf's finalizer.

    kopf marks every daemon and timer as requiring one (so it can stop them before the object
    goes); this ticker stops on its own when the rollout is gone. kopf has no public switch:
    the handler (a frozen dataclass) is replaced by a copy with ``requires_finalizer=False``.
    tests/controller/test_operator.py (no finalizer on a ticked rollout) fails if a kopf
    upgrade changes this.
    """
    spawning = registry._spawning
    handlers = spawning._handlers
    for index, handler in enumerate(handlers):
        if handler.id == handler_id:
            handlers[index] = dataclasses.replace(handler, requires_finalizer=False)
            return
    raise LookupError(f"no kopf daemon {handler_id!r} to free from its finalizer")


def _wake(memo: Any) -> asyncio.Event:
    event = memo.get(WAKE)
    if not isinstance(event, asyncio.Event):
        event = asyncio.Event()
        memo[WAKE] = event
    return event


def _reverts(spec: Any, **_: Any) -> bool:
    return bool((spec or {}).get("revertOnDeletion"))


def make_registry(
    runtime: OperatorRuntime,
    *,
    tick_seconds: float = 2.0,
    retry_delay: float = 5.0,
    spec_retry_delay: float = 60.0,
    login: kopf.ConnectionInfo,
    executor: Executor | None = None,
    rbac_binding: str | None = None,
) -> kopf.OperatorRegistry:
    """A kopf registry whose handlers drive ``runtime`` (one per operator: tests run several).

    ``login``: the API connection (from :func:`connection_info`), the same the adapters use;
    ``executor``: where ticks run (None: the event loop's default executor);
    ``rbac_binding``: the operator's RoleBinding in each watched namespace, held while a
    rollout there needs it (None: ``$MODELCANARY_RBAC_BINDING``; unset or empty: none).
    """
    registry = kopf.OperatorRegistry()
    resource = (GROUP, VERSION, PLURAL)
    runtime.retry_delay = retry_delay
    runtime.spec_retry_delay = spec_retry_delay
    client = getattr(runtime.release, "client", None)
    env = None if rbac_binding is None else {BINDING_ENV: rbac_binding}
    hold = RbacHold.from_env(client, env)

    async def check_hold(namespace: str, name: str, body: Any, gone: bool) -> None:
        if hold is not None and hold.observe(namespace, name, body, gone):
            await asyncio.to_thread(hold.sync, namespace)

    @kopf.daemon(*resource, registry=registry, id=TICKER, cancellation_timeout=1.0)
    async def ticker(
        name: str,
        namespace: str | None,
        uid: str | None,
        stopped: Any,
        memo: Any,
        body: Any,
        **_: Any,
    ) -> None:
        ns = namespace or "default"
        wake = _wake(memo)
        loop = asyncio.get_running_loop()
        drive = functools.partial(runtime.drive, name, ns, uid)
        while not stopped:
            wake.clear()
            await check_hold(ns, name, body, False)
            wait = tick_seconds
            if runtime.owns(uid):  # sharded: only the owner ticks, the others check again
                if runtime.due(name, ns) and not await loop.run_in_executor(executor, drive):
                    return  # gone (its state forgotten by the tick), or replaced
                wait = min(tick_seconds, max(runtime.until_due(name, ns), MIN_WAIT))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), wait)

    without_finalizer(registry, TICKER)

    @kopf.on.event(*resource, registry=registry, id="wake")
    async def on_event(
        type: str | None, body: Any, memo: Any, name: str, namespace: str | None, **_: Any
    ) -> None:
        ns = namespace or "default"
        if type == "DELETED" or runtime.noticed(name, ns, body):
            _wake(memo).set()
        await check_hold(ns, name, body, type == "DELETED")

    @kopf.on.delete(*resource, registry=registry, id="revert-on-delete", when=_reverts)
    async def on_delete(name: str, namespace: str | None, uid: str | None, **_: Any) -> None:
        try:
            await revert(runtime, name, namespace or "default", uid=uid)
        except RevertRetry as exc:
            raise kopf.TemporaryError(str(exc), delay=retry_delay) from exc

    if hold is not None:
        _hold_handlers(registry, hold)

    @kopf.on.login(registry=registry)
    def on_login(**_: Any) -> kopf.ConnectionInfo:
        return login

    return registry


def _hold_handlers(registry: kopf.OperatorRegistry, hold: RbacHold) -> None:
    """A watched namespace terminating (also one found so at start) and the operator
    stopping: sync the RoleBinding there (released once no rollout needs it; at once when it
    is being deleted outside a namespace deletion, e.g. ``helm uninstall``)."""

    @kopf.on.event("", "v1", "namespaces", registry=registry, id="namespace-terminating")
    async def on_namespace(type: str | None, body: Any, name: str, **_: Any) -> None:
        if type == "DELETED":
            hold.forget(name)
        elif (body.get("metadata") or {}).get("deletionTimestamp"):
            await asyncio.to_thread(functools.partial(hold.sync, name, quiet=True))

    @kopf.on.cleanup(registry=registry, id="release-rbac")
    async def on_cleanup(**_: Any) -> None:
        for namespace in hold.namespaces():
            await asyncio.to_thread(hold.sync, namespace)


def connection_info(api: Any) -> kopf.ConnectionInfo:
    """kopf's connection from a ``kubernetes.client.ApiClient`` (as ``modelcanary.k8s``
    configures it from a kubeconfig, a context or the in-cluster service account)."""
    config = api.configuration
    header = ""
    for key in ("BearerToken", "authorization"):
        try:
            header = config.get_api_key_with_prefix(key) or ""
        except Exception:  # pragma: no cover - depends on the client's auth plugins
            header = ""
        if header:
            break
    parts = header.split(" ", 1) if header else []
    scheme, token = (
        (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    )
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        username=config.username or None,
        password=config.password or None,
        scheme=scheme,
        token=token,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )
