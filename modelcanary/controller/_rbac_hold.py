"""The operator keeps its own RoleBinding in a watched namespace while it still needs it.

A namespaced install (Helm ``scope: namespace``, the kustomize ``namespaced`` overlay) grants
the operator its rights in a watched namespace by one RoleBinding there, to a ClusterRole
(cluster-scoped: a namespace's deletion never removes it). When that namespace is deleted, the
namespace controller deletes its contents in no fixed order; had the RoleBinding gone before a
rollout with ``revertOnDeletion`` (which carries the finalizer ``modelcanary.io/finalizer``),
the operator could never remove that finalizer (403) and the namespace would stay Terminating.

So while such a rollout is in the namespace, the RoleBinding carries the finalizer
:data:`HOLD` (``modelcanary.io/rbac-in-use``). A RoleBinding marked for deletion still
authorizes until it is really gone (the API server's RBAC authorizer lists the bindings from
its informer cache, which holds it until then), and the patch passes the RoleBinding
escalation check (a change of finalizers only is not checked, ``IsOnlyMutatingGCFields``; and
the operator holds every rule of the role its binding binds anyway), so the operator can
release its rollouts and then the binding (removing :data:`HOLD`, its last request there).

:meth:`RbacHold.sync` decides, from what the API says now:

- the binding held while a rollout of the namespace carries ``modelcanary.io/finalizer``;
- released once none does, also when the binding or the namespace is being deleted;
- released at once when the binding is being deleted and its namespace is not (``helm
  uninstall``, ``kubectl delete -k``, an administrator revoking it): a hold would only keep a
  binding nobody may use, and an operator that is going away must not leave it Terminating
  (an uninstall that removes the rules' ClusterRole first leaves it no right to: documented).

Only one object is held: a Role in the namespace could not be, as releasing either of a
Role and its RoleBinding takes away the right to release the other.

Names: :data:`BINDING_ENV` (``MODELCANARY_RBAC_BINDING``, set by the chart and the overlay);
unset (``scope: cluster``, RBAC managed elsewhere) nothing is held.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from ..errors import ConflictError, ModelCanaryError

log = logging.getLogger("modelcanary.controller")

HOLD = "modelcanary.io/rbac-in-use"
"""Finalizer the operator puts on its own RoleBinding while a rollout there needs it."""
ROLLOUT_FINALIZER = "modelcanary.io/finalizer"
"""The finalizer of a rollout with ``revertOnDeletion`` (kopf's, named in ``_handlers``)."""
BINDING_ENV = "MODELCANARY_RBAC_BINDING"
"""Name of the operator's RoleBinding in each watched namespace (unset: nothing is held)."""
RBAC_API = "rbac.authorization.k8s.io/v1"
ROLLOUT_API, ROLLOUT_KIND = "modelcanary.io/v1alpha1", "ModelRollout"
RECHECK_SECONDS = 30.0
"""Least seconds between two periodic checks of one namespace (events check at once)."""
ATTEMPTS = 3
"""Writes tried when the binding changed under a patch (409)."""


def finalizers_of(obj: Mapping[str, Any] | None) -> list[str]:
    """``metadata.finalizers`` of an object (empty when none)."""
    meta = (obj or {}).get("metadata") or {}
    return [str(f) for f in meta.get("finalizers") or []]


def deleting(obj: Mapping[str, Any] | None) -> bool:
    """True when the object is marked for deletion (or Terminating, for a Namespace)."""
    meta = (obj or {}).get("metadata") or {}
    phase = ((obj or {}).get("status") or {}).get("phase")
    return bool(meta.get("deletionTimestamp")) or phase == "Terminating"


def namespace_terminating(client: Any, namespace: str) -> bool:
    """True when ``namespace`` is being deleted or is gone (False when it cannot be read:
    then the caller does what it would do in a live namespace)."""
    from ..k8s._client import Ref

    try:
        found = client.get(Ref("v1", "Namespace", "", namespace))
    except ModelCanaryError as exc:
        log.debug("namespace %s unreadable: %s", namespace, exc)
        return False
    return found is None or deleting(found)


class RbacHold:
    """Holds the RoleBinding ``binding`` in the namespaces where a rollout needs it."""

    def __init__(self, client: Any, binding: str, *, recheck: float = RECHECK_SECONDS) -> None:
        self.client = client
        self.binding = binding
        self.recheck = recheck
        self._carriers: dict[str, set[str]] = {}
        self._checked: dict[str, float] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @classmethod
    def from_env(cls, client: Any, env: Mapping[str, str] | None = None) -> RbacHold | None:
        """The hold of ``$MODELCANARY_RBAC_BINDING``, or None when it is unset."""
        name = (os.environ if env is None else env).get(BINDING_ENV, "").strip()
        return cls(client, name) if name and client is not None else None

    # -- what the handlers tell it ----------------------------------------------------------
    def observe(self, namespace: str, name: str, body: Mapping[str, Any] | None, gone: bool) -> str:
        """A watch event of rollout ``namespace/name``: ``"now"`` when the namespace must be
        synced at once (the rollout released or gone), ``"due"`` when a periodic check is due,
        else ``""``."""
        carries = not gone and ROLLOUT_FINALIZER in finalizers_of(body)
        with self._guard:
            carriers = self._carriers.setdefault(namespace, set())
            had = name in carriers
            if carries:
                carriers.add(name)
            else:
                carriers.discard(name)
        if had and not carries:
            return "now"
        if carries and self.due(namespace):
            return "due"
        return ""

    def due(self, namespace: str) -> bool:
        """True when ``namespace`` was not checked for :attr:`recheck` seconds."""
        with self._guard:
            return time.monotonic() - self._checked.get(namespace, -1e9) >= self.recheck

    def namespaces(self) -> list[str]:
        """The namespaces this process has seen rollouts in (synced again at shutdown)."""
        with self._guard:
            return sorted(self._carriers)

    def forget(self, namespace: str) -> None:
        """The namespace is gone."""
        with self._guard:
            self._carriers.pop(namespace, None)
            self._checked.pop(namespace, None)

    def _lock(self, namespace: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(namespace, threading.Lock())

    # -- the decision ----------------------------------------------------------------------
    def needed(self, namespace: str) -> bool:
        """True when a rollout of ``namespace`` carries the rollout finalizer (from the API)."""
        from ..k8s._client import Ref

        rollouts = self.client.list(Ref(ROLLOUT_API, ROLLOUT_KIND, namespace, ""))
        return any(ROLLOUT_FINALIZER in finalizers_of(r) for r in rollouts)

    def sync(self, namespace: str, *, quiet: bool = False) -> str:
        """Hold or release the binding of ``namespace`` as the API says now; returns what
        was done (``held``, ``released``, ``kept``, ``absent`` or ``failed: ...``). Never
        raises: a failure is logged and retried by the next event or check. ``quiet``: a
        namespace that may not be watched at all (a 403 there is expected, not a warning)."""
        with self._guard:
            self._checked[namespace] = time.monotonic()
        try:
            with self._lock(namespace):
                return self._sync(namespace)
        except ModelCanaryError as exc:
            expected = quiet and getattr(exc, "status", None) == 403
            level = logging.DEBUG if expected else logging.WARNING
            log.log(level, "%s: RoleBinding %s not synced: %s", namespace, self.binding, exc)
            return f"failed: {exc}"

    def _sync(self, namespace: str) -> str:
        from ..k8s._client import Ref

        ref = Ref(RBAC_API, "RoleBinding", namespace, self.binding)
        for _attempt in range(ATTEMPTS):
            binding = self.client.get(ref)
            if binding is None:
                return "absent"
            held = HOLD in finalizers_of(binding)
            marked = deleting(binding)
            want = self.needed(namespace)
            reason = "a rollout with revertOnDeletion needs it" if want else "no rollout needs it"
            if want and marked and not namespace_terminating(self.client, namespace):
                want = False  # uninstalled or revoked: nothing left to protect
                reason = "it is being deleted outside a namespace deletion"
            if want == held or (want and marked):
                return "kept"  # (no finalizer may be added to an object being deleted)
            others = [f for f in finalizers_of(binding) if f != HOLD]
            meta = binding.get("metadata") or {}
            body = {
                "metadata": {
                    "resourceVersion": meta.get("resourceVersion"),
                    "finalizers": [*others, HOLD] if want else (others or None),
                }
            }
            try:
                self.client.patch(ref, body)
            except ConflictError:
                continue  # changed meanwhile: read it again
            what = "held" if want else "released"
            log.info("%s: RoleBinding %s %s: %s", namespace, self.binding, what, reason)
            return what
        return "failed: the RoleBinding kept changing"
