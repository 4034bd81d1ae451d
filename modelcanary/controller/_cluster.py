"""ModelRollouts in a cluster as the command line and the notebook see them: apply, read,
watch, steer.

``modelcanary apply|status|watch|history|promote|abort|...`` (cluster mode) and the notebook's
``mc.cluster()`` use :class:`ClusterRollouts`; it reads and writes the ModelRollout custom
resource through the ports (``ObjectStore`` for the resource, ``StatusStore`` for its parsed
status) and follows it with the Kubernetes watch API, implemented by ``modelcanary.k8s`` on a
kubeconfig / context / in-cluster connection. The operator applies what is written here (a
spec, or a manual-action annotation) at its next tick.

API refusals a person can fix are raised as errors naming the rollout, the namespace and the
fix: 401/403 (the user's RBAC), 404 on a listing (the CRD is not installed).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ..engine._actions import ACTION_REASON, action_annotations
from ..errors import AccessDenied, ModelCanaryError, SpecError, SpecIssue
from ..ports import ObjectStore, StatusStore, Stored
from ..spec import ModelRollout

API_VERSION, KIND = "modelcanary.io/v1alpha1", "ModelRollout"
RESOURCE = "modelrollouts.modelcanary.io"
INSTALL = (
    "install the operator and its CRD: `helm install modelcanary operator/chart -n "
    "modelcanary-system --create-namespace` (or `kubectl apply -k operator/kustomize`)"
)


class StatusWatch(Iterator[Stored], Protocol):
    """What :meth:`ClusterRollouts.watch` returns: an iterator of versions you can close."""

    def close(self) -> None:
        """Stop following; thread-safe (wakes a thread blocked on the stream)."""
        ...

    @property
    def deleted(self) -> bool:
        """True once the rollout was seen deleted (the iteration then ended)."""
        ...


@dataclass
class ClusterRollouts:
    """ModelRollout resources of one cluster."""

    objects: ObjectStore
    store: StatusStore
    patch_metadata: Callable[[str, str, dict[str, Any]], None]
    """JSON-merge-patch the resource's metadata (name, namespace, changes)."""
    list_objects: Callable[[str, str, str, str], list[dict[str, Any]]] | None = None
    """Objects of a kind by label selector (apiVersion, kind, namespace, selector); the
    ``kubectl modelcanary get`` tree finds what the operator labelled with it."""
    follow: Callable[[str, str, float | None], StatusWatch] | None = None
    """A watch on one rollout (name, namespace, timeout): the Kubernetes watch API."""
    namespace: str = "default"
    """The connection's namespace (kubeconfig context's, or the pod's): used when none is given."""
    server_apply: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Server-side apply of a whole object (field manager ``modelcanary``, forced)."""

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> ClusterRollouts:
        """Connect with a kubeconfig (``kubeconfig``/``$KUBECONFIG``/``~/.kube/config``, optional
        ``context``) or the in-cluster service account; SpecError saying how when neither works.
        """
        from ..k8s._client import KubeClient, Ref, load_api_client
        from ..k8s._namespace import default_namespace
        from ..k8s._objects import KubeObjectStore
        from ..k8s._status import KubeStatusStore
        from ..k8s._watch import watch_rollout

        # $KUBECONFIG as read now (the kubernetes client reads it once, at import)
        kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or None
        api = load_api_client(kubeconfig=kubeconfig, context=context)
        client = KubeClient(api)

        def patch_metadata(name: str, namespace: str, changes: dict[str, Any]) -> None:
            client.patch(Ref(API_VERSION, KIND, namespace, name), {"metadata": changes})

        def list_objects(
            api_version: str, kind: str, namespace: str, selector: str
        ) -> list[dict[str, Any]]:
            return client.list(Ref(api_version, kind, namespace, ""), label_selector=selector)

        def follow(name: str, namespace: str, timeout: float | None) -> StatusWatch:
            return watch_rollout(client, name, namespace, timeout=timeout)

        return cls(
            KubeObjectStore(client),
            KubeStatusStore(client),
            patch_metadata,
            list_objects,
            follow,
            default_namespace(kubeconfig, context),
            lambda obj: client.apply_server_side(obj, force=True),  # the rollout's fields are ours
        )

    # -- reading ----------------------------------------------------------------------------
    def get(self, name: str, namespace: str) -> Stored | None:
        """The rollout with its status (None when it does not exist)."""
        with access("get", name, namespace):
            return self.store.get(name, namespace)

    def require(self, name: str, namespace: str) -> Stored:
        """The rollout, or SpecError naming the namespace and how to create it."""
        stored = self.get(name, namespace)
        if stored is None:
            raise SpecError(
                SpecIssue(
                    "NAME",
                    f"no ModelRollout {namespace}/{name} in the cluster",
                    "check the name and the namespace (-n), or create it: `modelcanary apply "
                    "FILE`, or `mc.cluster().submit(rollout)` in a notebook",
                )
            )
        return stored

    def watch(self, name: str, namespace: str, timeout: float | None = None) -> StatusWatch:
        """Follow a rollout with the Kubernetes watch API: yields it as stored now, then each
        new version (a status the operator wrote, an annotation, a spec edit), and ends when it
        is deleted, after ``timeout`` seconds, or on ``close()``.

        Streams that expire (server timeout, 410 Gone) are resumed from the last version; a
        missing rollout or a forbidden watch raises a clear error before anything is yielded.
        """
        self.require(name, namespace)
        if self.follow is None:
            raise TypeError("ClusterRollouts.watch needs a connection: use ClusterRollouts.connect")
        with access("watch", name, namespace):
            return _Guarded(self.follow(name, namespace, timeout), name, namespace)

    def resources(self, namespace: str | None) -> list[dict[str, Any]]:
        """Every ModelRollout resource of ``namespace`` (None: all namespaces), as stored."""
        if self.list_objects is None:
            raise TypeError("ClusterRollouts.resources needs a connection: use connect()")
        with access("list", "", namespace or ""):
            return self.list_objects(API_VERSION, KIND, namespace or "", "")

    # -- writing ----------------------------------------------------------------------------
    def apply(self, rollout: ModelRollout, namespace: str | None = None) -> tuple[str, str]:
        """Create the resource or patch its spec, labels and annotations to match ``rollout``
        (``kubectl apply`` semantics: what an earlier apply set and this one drops is removed;
        annotations others set, such as a manual action, stay).

        Returns (namespace, ``created`` | ``configured`` | ``unchanged``). The status is never
        written here: it belongs to the operator.
        """
        ns, outcome, _ = self.write(rollout, namespace)
        return ns, outcome

    def write(
        self, rollout: ModelRollout, namespace: str | None = None, *, server_side: bool = False
    ) -> tuple[str, str, dict[str, Any]]:
        """:meth:`apply`, also returning the resource as stored. ``server_side``: a server-side
        apply with field manager ``modelcanary`` when the connection has it (the fields this
        manager set before and drops now are removed; others' fields stay)."""
        ns = namespace or rollout.metadata.namespace or self.namespace
        body = resource(rollout, ns)
        with access("create or patch", rollout.name, ns):
            before = self.objects.get(API_VERSION, KIND, ns, rollout.name)
            if server_side and self.server_apply is not None:
                after = self.server_apply(body)
            else:
                after = self.objects.apply(body)
        if before is None:
            return ns, "created", after
        same = _version(after) is not None and _version(after) == _version(before)
        return ns, "unchanged" if same else "configured", after

    def act(self, name: str, namespace: str, kind: str, reason: str = "") -> str:
        """Annotate a manual action (``approve``, ``abort``...) with a fresh id; returns the id."""
        self.require(name, namespace)
        stamp = f"{kind}-{time.time_ns()}"
        notes: dict[str, str | None] = {ACTION_REASON: None}  # no stale reason of an earlier one
        notes.update(action_annotations(kind, stamp, reason))
        with access("patch", name, namespace):
            self.patch_metadata(name, namespace, {"annotations": notes})
        return stamp


@contextlib.contextmanager
def access(verb: str, name: str, namespace: str) -> Iterator[None]:
    """Turn the API's 401/403 (and 404 of the resource type) into errors a person can act on."""
    from ..k8s._client import KubeApiError

    try:
        yield
    except AccessDenied:
        raise
    except KubeApiError as exc:
        raise denied(exc, verb, name, namespace) from None


def denied(exc: ModelCanaryError, verb: str, name: str, namespace: str) -> ModelCanaryError:
    """The person-facing error for an API refusal (``exc`` unchanged when it is another one)."""
    status = getattr(exc, "status", None)
    scope = namespace or "any namespace"
    what = f"ModelRollout {namespace}/{name}" if name else f"ModelRollouts in {scope}"
    where = f"-n {namespace}" if namespace else "-A"
    if status in (401, 403):
        return AccessDenied(
            f"the cluster refused to {verb} {what} (HTTP {status}): your Kubernetes user or "
            f"service account lacks access (fix: ask for a Role granting get, list, watch and "
            f"patch on {RESOURCE} in namespace {namespace or '<namespace>'}; check with "
            f"`kubectl auth can-i {verb.split()[-1]} {RESOURCE} {where}`)"
        )
    if status == 404 and not name:
        return SpecError(
            SpecIssue("ModelRollout", "the cluster has no ModelRollout resource type", INSTALL)
        )
    return exc


class _Guarded:
    """A :class:`StatusWatch` whose refusals are raised as :func:`denied` errors."""

    def __init__(self, inner: StatusWatch, name: str, namespace: str) -> None:
        self.inner, self.name, self.namespace = inner, name, namespace

    def __iter__(self) -> _Guarded:
        return self

    def __next__(self) -> Stored:
        with access("watch", self.name, self.namespace):
            return next(self.inner)

    def close(self) -> None:
        self.inner.close()

    @property
    def deleted(self) -> bool:
        """True once the rollout was seen deleted."""
        return bool(getattr(self.inner, "deleted", False))


def resource(rollout: ModelRollout, namespace: str) -> dict[str, Any]:
    """The custom resource for ``rollout``: the spec with every default filled in, as the
    operator reads it (so ``kubectl get -o yaml`` shows what runs)."""
    data = rollout.model_dump(mode="json", by_alias=True, exclude_none=True)
    meta = rollout.metadata.model_dump(mode="json", by_alias=True, exclude_none=True)
    meta["namespace"] = namespace
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": meta,
        "spec": data.get("spec") or {},
    }


def stored_from(obj: dict[str, Any]) -> Stored:
    """A stored ModelRollout object (as the API answers it) as :class:`Stored`."""
    from ..k8s._status import rollout_from_object

    meta = obj.get("metadata") or {}
    version = meta.get("resourceVersion")
    deleting = bool(meta.get("deletionTimestamp"))
    return Stored(rollout_from_object(obj), str(version) if version else None, deleting)


def _version(obj: dict[str, Any]) -> str | None:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return str(version) if version else None
