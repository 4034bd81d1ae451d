"""A Kubernetes API for tests: kmock's emulator on 127.0.0.1, run in a background thread.

The real ``kubernetes`` client (sync) and kopf (asyncio, its own loop) talk to it over HTTP.
``KubeMock`` fixes what kmock 0.8 lacks for them:

- create answers **201** (the kubernetes client expects it), fills ``metadata.namespace``,
  ``uid``, ``creationTimestamp``, ``generation``, and ``name`` from ``generateName`` (kopf's
  Events use it);
- every write sets a new ``metadata.resourceVersion``; a PATCH carrying a stale
  ``metadata.resourceVersion`` (merge patch, or a JSON patch ``replace``/``test`` of
  ``/metadata/resourceVersion``) answers **409 Conflict** (as the API server; a failed
  JSON-patch ``test`` of it answers 422, as kopf expects);
  a spec change bumps ``metadata.generation``;
- ``/api/v1/namespaces`` is served (kmock 0.8's path parser fails on it: patched here);
- list honours ``labelSelector`` (``a=b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``,
  ``a notin (x)``; comma = and); ``fieldSelector`` is still ignored.

- field managers: ``metadata.managedFields`` per manager and operation, server-side apply
  (``application/apply-patch+yaml``: create-or-merge, conflicts, ``force``), a write without
  ``?fieldManager=`` filed under its User-Agent (kube_managed_fields.py);
- the garbage collector (cascading deletion by ownerReferences) and the namespace controller
  (a deleted Namespace terminates: RBAC objects first, finalizers honoured, creates refused
  with 403) of kube_controllers.py; the RBAC kinds are served (rbac_authz.Guard can enforce
  what is stored, so removing a RoleBinding gives 403 as on a real server).

Still missing (kmock): PUT (404: use PATCH), strategic merge (every PATCH is a JSON merge
patch), server-side validation/defaulting.

Usage (a pytest fixture per module, or the context manager anywhere)::

    from kube_fixtures import KubeApi, kube_api

    @pytest.fixture(scope="module")
    def kube() -> Iterator[KubeApi]:
        with kube_api() as api:          # ModelRollout + shared CRDs + core kinds declared
            yield api

    # or, in a directory's conftest.py, the same fixture: from kube_fixtures import kube

    def test_x(kube: KubeApi) -> None:
        client = kube.api_client         # a configured kubernetes.client.ApiClient
        kube.create({...})               # seed objects (any declared kind)
        kube.get("apps/v1", "Deployment", "default", "podinfo")   # dict or None
        kube.names("apps/v1", "Deployment", "default")            # sorted names
        kube.patch("apps/v1", "Deployment", "default", "podinfo", {"status": {...}})
        kube.declare("split.smi-spec.io/v1alpha2", "TrafficSplit")  # an extra resource
        kube.url                          # http://127.0.0.1:PORT for kopf / kubeconfig
        kube.kubeconfig(tmp_path)         # a kubeconfig file pointing at it
        kube.reset()                      # forget all objects but CRDs and namespaces
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import datetime
import functools
import itertools
import json
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
import kmock
import kube_controllers as controllers
import kube_managed_fields as managed_fields
import kubernetes.client
import pytest
import yaml
from kmock._internal import dicts, enums, parsing
from kmock._internal.k8s import KubernetesError

REPO = Path(__file__).resolve().parents[1]
SHARED_CRDS = REPO / "tests" / "data" / "crds"
MODELROLLOUT_CRD = REPO / "operator" / "crds" / "modelrollouts.yaml"

T = TypeVar("T")

CORE_RESOURCES: list[tuple[str, str, str, bool, tuple[str, ...]]] = [
    # apiVersion, kind, plural, namespaced, subresources
    ("v1", "Namespace", "namespaces", False, ("status",)),
    ("v1", "Service", "services", True, ("status",)),
    ("v1", "ConfigMap", "configmaps", True, ()),
    ("v1", "Secret", "secrets", True, ()),
    ("v1", "Event", "events", True, ()),
    ("v1", "Pod", "pods", True, ("status",)),
    ("v1", "ServiceAccount", "serviceaccounts", True, ()),
    ("apps/v1", "Deployment", "deployments", True, ("status", "scale")),
    ("apps/v1", "DaemonSet", "daemonsets", True, ("status",)),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ("status",)),
    ("events.k8s.io/v1", "Event", "events", True, ()),
    ("networking.k8s.io/v1", "Ingress", "ingresses", True, ("status",)),
    ("coordination.k8s.io/v1", "Lease", "leases", True, ()),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False, ()),
    ("kopf.dev/v1", "KopfPeering", "kopfpeerings", True, ()),
    ("kopf.dev/v1", "ClusterKopfPeering", "clusterkopfpeerings", False, ()),
    ("rbac.authorization.k8s.io/v1", "Role", "roles", True, ()),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True, ()),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False, ()),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False, ()),
]
VERBS = ("get", "list", "watch", "create", "patch", "delete")


_kmock_parse_path = parsing.parse_path


def _parse_path(path: str) -> parsing.ParsedPath:
    """kmock 0.8 reads ``/api/v1/namespaces[/NAME[/status]]`` as a namespace prefix (and
    fails); serve it as the cluster-scoped ``namespaces`` resource, as the API server does."""
    parts = [p for p in path.strip("/").split("/") if p]
    if parts[:3] == ["api", "v1", "namespaces"] and (
        len(parts) <= 4 or (len(parts) == 5 and parts[4] in ("status", "finalize"))
    ):
        return parsing.ParsedPath(
            "",
            "v1",
            "namespaces",
            None,
            parts[3] if len(parts) > 3 else None,
            parts[4] if len(parts) > 4 else None,
        )
    return _kmock_parse_path(path)


parsing.parse_path = _parse_path  # rendering.Request._parse looks it up on the module


@functools.cache
def _parsed_crds(path: Path) -> tuple[dict[str, Any], ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster
    docs = yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader)
    return tuple(
        d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
    )


def load_crds(path: Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition of a (multi-document) YAML file (copies)."""
    return copy.deepcopy(list(_parsed_crds(Path(path).resolve())))


def _is_apply(request: kmock.Request) -> bool:
    kind = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    return request.method == enums.method.PATCH and kind.startswith("application/apply-patch")


def _may_orphan(request: kmock.Request) -> bool:
    """A request after which the garbage collector may have work: a DELETE, or a write of
    ownerReferences or finalizers (an owner released, a dependent re-parented)."""
    if request.action == enums.action.DELETE:
        return True
    if request.action != enums.action.UPDATE:
        return False
    data = request.data
    if isinstance(data, list):
        return any(
            str(op.get("path", "")).startswith(
                ("/metadata/ownerReferences", "/metadata/finalizers")
            )
            for op in data
            if isinstance(op, dict)
        )
    meta = data.get("metadata") if isinstance(data, dict) else None
    return isinstance(meta, dict) and ("ownerReferences" in meta or "finalizers" in meta)


def _manager(request: kmock.Request) -> str:
    """``?fieldManager=``, else the start of the User-Agent (as the API server files it)."""
    return request.params.get("fieldManager") or managed_fields.default_manager(request.headers)


def _api_version(request: kmock.Request) -> str:
    res = request.resource
    assert res is not None
    return f"{res.group}/{res.version}" if res.group else str(res.version)


_SET_TERM = re.compile(r"^(\S+)\s+(in|notin)\s+\((.*)\)$")


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics (equality- and set-based), terms and-ed."""
    for term in (t.strip() for t in re.split(r",(?![^()]*\))", selector)):
        if not term:
            continue
        found = _SET_TERM.match(term)
        if found:
            key, op, values = found.groups()
            members = {v.strip() for v in values.split(",")}
            if (labels.get(key) in members) != (op == "in") or (op == "in" and key not in labels):
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


class KubeMock(kmock.KubernetesEmulator):
    """kmock's emulator with 201 on create, resourceVersion/generation and label selectors."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._versions = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self.failures: list[tuple[str, str, KubernetesError]] = []
        """(METHOD, path, error): the next such request answers the error (``fail_next``)."""
        self.journal: collections.deque[tuple[str, str, Any]] = collections.deque(maxlen=20000)
        """(METHOD, path, body) of the latest writes, in order (kept when tests clear kmock's
        request log, which it scans on every request)."""
        self.namespace_deletion_first: tuple[str, ...] = controllers.DEFAULT_FIRST
        """Plurals the namespace controller deletes first (the losing race by default)."""
        self.namespace_journal: list[tuple[str, str, str, str]] = []
        """(plural, namespace, name, "marked"/"removed") of each deletion the namespace
        controller made, in order."""

    async def _handle(self, request: kmock.Request) -> Any:
        for index, (method, path, error) in enumerate(self.failures):
            if request.method.value == method and request.url.path == path:
                del self.failures[index]
                raise error
        data = request.data if isinstance(request.data, dict | list) else None
        if request.method != enums.method.GET:
            self.journal.append((str(request.method.value), request.url.path, copy.deepcopy(data)))
        if (
            request.resource is not None
            and request.resource.plural == "namespaces"
            and request.action == enums.action.DELETE
            and request.name is not None
        ):
            request = self._replace(request, self._namespace_delete(request))
            data = request.data
        if request.resource is not None and request.action == enums.action.CREATE:
            meta = data.get("metadata") if isinstance(data, dict) else None
            controllers.refuse_in_terminating(
                self, request.namespace or (meta or {}).get("namespace")
            )
        if request.resource is not None and _is_apply(request):
            request = self._replace(request, self._apply(request))
            data = request.data
        elif request.resource is not None and data is not None:
            if request.action == enums.action.CREATE and isinstance(data, dict):
                self._fill_create(request, data)
                data["metadata"]["managedFields"] = managed_fields.after_update(
                    None,
                    manager=_manager(request),
                    api_version=_api_version(request),
                    subresource="",
                    old=None,
                    new=data,
                )
            elif request.action == enums.action.UPDATE and request.name is not None:
                self._precondition(request, data)
                self._record_update(request, data)
        response = await super()._handle(request)
        if request.action == enums.action.CREATE and response.status == 200:
            response.set_status(201)
        if request.resource is not None and _may_orphan(request):
            await controllers.collect_garbage(self)
        return response

    def _namespace_delete(self, request: kmock.Request) -> kmock.Request:
        """DELETE of a Namespace: Terminating, emptied by the namespace controller."""
        current = self._stored(request)
        if current is None or current.get("metadata", {}).get("deletionTimestamp"):
            return request  # 404, or already terminating: kmock answers as for any object
        name = str(request.name)
        task = asyncio.get_running_loop().create_task(controllers.terminate_namespace(self, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return attrs.evolve(
            request, action=enums.action.UPDATE, data=controllers.terminating_patch()
        )

    def _replace(self, old: kmock.Request, new: kmock.Request) -> kmock.Request:
        """Put ``new`` where kmock logged ``old`` (its reactions match requests by identity)."""
        for index, logged in enumerate(self._requests):
            if logged is old:
                self._requests[index] = new
        return new

    def _fill_create(self, request: kmock.Request, data: dict[str, Any]) -> None:
        """What the API server fills on create: name from generateName, namespace, uid,
        resourceVersion, generation, creationTimestamp."""
        meta = data.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if request.namespace and not meta.get("namespace"):
            meta["namespace"] = request.namespace
        meta["resourceVersion"] = str(next(self._versions))
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("generation", 1)
        meta.setdefault(
            "creationTimestamp",
            datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    def _stored(self, request: kmock.Request) -> dict[str, Any] | None:
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return copy.deepcopy(dict(self.objects[key].raw))

    def _record_update(self, request: kmock.Request, data: Any) -> None:
        """managedFields after a merge patch or JSON patch (an Update operation)."""
        current = self._stored(request)
        if current is None:
            return  # kmock answers 404
        try:
            new = dicts.patch_dict(current, data)
        except Exception:  # an invalid patch: kmock answers the error itself
            return
        entries = managed_fields.after_update(
            current.get("metadata", {}).get("managedFields"),
            manager=_manager(request),
            api_version=_api_version(request),
            subresource=request.subresource or "",
            old=current,
            new=new,
        )
        if isinstance(data, list):
            data.append({"op": "add", "path": "/metadata/managedFields", "value": entries})
        else:
            data.setdefault("metadata", {})["managedFields"] = entries

    def _apply(self, request: kmock.Request) -> kmock.Request:
        """Server-side apply (``application/apply-patch+yaml``): 422 without a fieldManager,
        409 on a field another manager owns with another value (unless ``force=true``), a
        create when the object is missing, else a merge of the configuration."""
        data = request.data
        if not isinstance(data, dict):
            data = yaml.safe_load(request.text or "{}")
        if not isinstance(data, dict):
            raise KubernetesError(status=400, reason="BadRequest", message="apply: not an object")
        manager = request.params.get("fieldManager")
        if not manager:
            raise KubernetesError(
                status=422,
                reason="Invalid",
                message='PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                "is required for apply patch",
            )
        force = request.params.get("force") == "true"
        applied = copy.deepcopy(data)
        meta = data.setdefault("metadata", {})
        meta.setdefault("name", request.name)
        current = self._stored(request)
        api_version = _api_version(request)
        if current is None:
            self._fill_create(request, data)
            meta["managedFields"] = managed_fields.after_apply(
                None,
                manager=manager,
                api_version=api_version,
                current={},
                applied=applied,
                new=data,
            )
            return attrs.evolve(request, data=data, action=enums.action.CREATE)
        old_managed = current.get("metadata", {}).get("managedFields")
        conflicts = managed_fields.apply_conflicts(
            old_managed, manager=manager, current=current, applied=applied
        )
        if conflicts and not force:
            raise KubernetesError(
                status=409,
                reason="Conflict",
                message=managed_fields.conflict_message(conflicts),
                details={
                    "causes": [
                        {
                            "reason": "FieldManagerConflict",
                            "message": f'conflict with "{m}" using {v}',
                            "field": managed_fields.dotted(p),
                        }
                        for p, m, v in conflicts
                    ]
                },
            )
        self._precondition(request, data)
        new = dicts.merge_patch_dict(current, data)
        meta["managedFields"] = managed_fields.after_apply(
            old_managed,
            manager=manager,
            api_version=api_version,
            current=current,
            applied=applied,
            new=new,
        )
        return attrs.evolve(request, data=data)

    def _precondition(self, request: kmock.Request, data: Any) -> None:
        """409 on a stale resourceVersion; new resourceVersion; generation on spec change.

        ``data`` is a merge patch (dict) or a JSON patch (list of operations), changed in place.
        """
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            return  # kmock answers 404
        current = self.objects[key].raw
        old_meta = current.get("metadata", {})
        new_version = str(next(self._versions))
        tested = False  # a failed JSON-patch ``test`` is 422, as the API server answers
        if isinstance(data, list):
            version_ops = [
                op
                for op in data
                if isinstance(op, dict)
                and op.get("op") in ("replace", "test")
                and op.get("path") == "/metadata/resourceVersion"
            ]
            sent = version_ops[0].get("value") if version_ops else None
            tested = bool(version_ops) and version_ops[0].get("op") == "test"
            data.append({"op": "add", "path": "/metadata/resourceVersion", "value": new_version})
            spec_changed = any(
                isinstance(op, dict) and str(op.get("path", "")).startswith("/spec") for op in data
            )
        else:
            meta = data.setdefault("metadata", {})
            sent = meta.get("resourceVersion") if isinstance(meta, dict) else None
            if isinstance(meta, dict):
                meta["resourceVersion"] = new_version
            spec_changed = False
            if "spec" in data:
                merged = dicts.merge_patch_dict(current, {"spec": data["spec"]})
                spec_changed = merged.get("spec") != current.get("spec")
        if sent and sent != old_meta.get("resourceVersion") and tested:
            raise KubernetesError(
                status=422,
                reason="Invalid",
                message=f"the server rejected our request due to an error in our request: "
                f"testing value /metadata/resourceVersion failed for {request.name}",
                details={"name": request.name, "kind": request.resource.plural},
            )
        if sent and sent != old_meta.get("resourceVersion"):
            raise KubernetesError(
                status=409,
                reason="Conflict",
                message=(
                    f'Operation cannot be fulfilled on {request.resource.plural} "{request.name}": '
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again"
                ),
                details={"name": request.name, "kind": request.resource.plural},
            )
        if spec_changed and request.subresource is None:
            generation = int(old_meta.get("generation") or 1) + 1
            if isinstance(data, list):
                data.append({"op": "add", "path": "/metadata/generation", "value": generation})
            else:
                data["metadata"]["generation"] = generation

    async def _serve_list(self, request: kmock.Request) -> Any:
        result = await super()._serve_list(request)
        selector = request.params.get("labelSelector")
        if selector and isinstance(result, dict):
            result["items"] = [
                item
                for item in result["items"]
                if _selector_matches(selector, item.get("metadata", {}).get("labels") or {})
            ]
        return result


class KubeApi:
    """A running :class:`KubeMock` and a kubernetes client configured for it."""

    def __init__(self, handler: KubeMock, server: kmock.Server, loop: asyncio.AbstractEventLoop):
        self.handler = handler
        self.server = server
        self.loop = loop
        self.url = str(server.url).rstrip("/")
        self.kinds: dict[tuple[str, str], str] = {}
        """(apiVersion, kind) -> plural of every declared resource."""
        config = kubernetes.client.Configuration()
        config.host = self.url
        config.verify_ssl = False
        self.configuration = config
        self.api_client = kubernetes.client.ApiClient(config)

    # -- running code in the server's loop ---------------------------------------------
    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the server's event loop thread (safe access to kmock's state)."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    # -- declarations --------------------------------------------------------------------
    def declare(
        self,
        api_version: str,
        kind: str,
        plural: str | None = None,
        *,
        namespaced: bool = True,
        subresources: Iterable[str] = ("status",),
        shortnames: Iterable[str] = (),
        categories: Iterable[str] = (),
    ) -> None:
        """Serve one more resource (discovery + CRUD)."""
        plural = plural or kind.lower() + "s"
        group, _, version = api_version.rpartition("/")
        info = kmock.ResourceInfo(
            kind=kind,
            singular=kind.lower(),
            namespaced=namespaced,
            verbs=set(VERBS) | {"update"},
            subresources=set(subresources),
            shortnames=set(shortnames),
            categories=set(categories),
        )

        def add() -> None:
            self.handler.resources[kmock.resource(group, version, plural)] = info

        self.call(add)
        self.kinds[(api_version, kind)] = plural

    def declare_crd(self, crd: dict[str, Any], *, store: bool = True) -> None:
        """Serve every version of a CRD (and store the CRD object itself for discovery)."""
        spec = crd["spec"]
        names = spec["names"]
        for version in spec["versions"]:
            self.declare(
                f"{spec['group']}/{version['name']}",
                names["kind"],
                names["plural"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                subresources=tuple((version.get("subresources") or {}).keys()),
                shortnames=names.get("shortNames", ()),
                categories=names.get("categories", ()),
            )
        if store:  # stored directly: a POST of ~1 MB of schemas is slow through kmock
            key = (
                kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
                None,
                crd["metadata"]["name"],
            )
            stored = copy.deepcopy(crd)
            stored["metadata"].setdefault("uid", str(uuid.uuid4()))
            stored["metadata"]["resourceVersion"] = "1"

            def put() -> None:
                if key not in self.handler.objects or self.handler.objects[key].deleted:
                    self.handler.objects[key] = stored

            self.call(put)

    def declare_crd_file(self, path: Path) -> None:
        """Serve every CRD of a YAML file."""
        for crd in load_crds(path):
            self.declare_crd(crd)

    # -- objects -------------------------------------------------------------------------
    def _resource(self, api_version: str, kind: str) -> kmock.resource:
        plural = self.kinds.get((api_version, kind))
        if plural is None:
            raise KeyError(f"{kind} ({api_version}) is not declared: call kube.declare() first")
        group, _, version = api_version.rpartition("/")
        return kmock.resource(group, version, plural)

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """A copy of the stored object, or None."""
        key = (self._resource(api_version, kind), namespace, name)

        def read() -> dict[str, Any] | None:
            if key not in self.handler.objects or self.handler.objects[key].deleted:
                return None
            return copy.deepcopy(self.handler.objects[key].raw)

        return self.call(read)

    def list(self, api_version: str, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        """Copies of the stored objects of a kind (one namespace, or all for None)."""
        res = self._resource(api_version, kind)

        def read() -> list[dict[str, Any]]:
            return [
                copy.deepcopy(obj.raw)
                for (r, ns, _), obj in self.handler.objects.items()
                if r == res and not obj.deleted and (namespace is None or ns == namespace)
            ]

        return sorted(self.call(read), key=lambda o: str(o["metadata"]["name"]))

    def names(self, api_version: str, kind: str, namespace: str | None) -> list[str]:
        """Sorted names of the stored objects of a kind."""
        return [o["metadata"]["name"] for o in self.list(api_version, kind, namespace)]

    def create(self, obj: dict[str, Any], *, manager: str | None = None) -> dict[str, Any]:
        """Create an object through the HTTP API (as a user would); returns it as stored.
        ``manager``: the ``fieldManager`` (None: filed under the client's User-Agent)."""
        meta = obj["metadata"]
        path = self._path(obj["apiVersion"], obj["kind"], meta.get("namespace"))
        return self._request("POST", path, obj, manager=manager)

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        changes: Any,
        *,
        manager: str | None = None,
    ) -> dict[str, Any]:
        """JSON-merge-patch an object through the HTTP API (e.g. a Deployment's status)."""
        path = f"{self._path(api_version, kind, namespace)}/{name}"
        return self._request("PATCH", path, changes, manager=manager)

    def apply(self, obj: dict[str, Any], *, manager: str, force: bool = False) -> dict[str, Any]:
        """Server-side apply ``obj`` as ``manager`` (a GitOps tool, ``kubectl apply
        --server-side``); ApiException 409 on a conflict unless ``force``."""
        meta = obj["metadata"]
        path = f"{self._path(obj['apiVersion'], obj['kind'], meta.get('namespace'))}/{meta['name']}"
        return self._request(
            "PATCH",
            path,
            json.dumps(obj),
            manager=manager,
            content_type="application/apply-patch+yaml",
            extra={"force": "true" if force else "false"},
        )

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        """Delete an object through the HTTP API (finalizers honoured)."""
        self._request("DELETE", f"{self._path(api_version, kind, namespace)}/{name}", None)

    def reset(self) -> None:
        """Forget every object except CRDs and namespaces (declarations stay)."""

        def clear() -> None:
            for key in list(self.handler.objects):
                if key[0].plural not in ("customresourcedefinitions", "namespaces"):
                    del self.handler.objects[key]
            self.handler._requests.clear()  # kmock slows down as its request log grows
            self.handler.journal.clear()

        self.call(clear)

    def requests(self) -> list[tuple[str, str]]:
        """(METHOD, path) of every request served so far."""
        return self.call(
            lambda: [(str(r.method.value), r.url.path) for r in self.handler._requests]
        )

    def fail_next(self, method: str, path: str, status: int = 409, message: str = "") -> None:
        """The next ``METHOD path`` request answers ``status`` (once), e.g. the 409 a write
        racing another writer gets: a test makes a race happen instead of hoping for it."""
        reason = {403: "Forbidden", 404: "NotFound", 409: "Conflict", 500: "InternalError"}
        error = KubernetesError(
            status=status,
            reason=reason.get(status, "Failure"),
            message=message or f"injected {status} for {method} {path}",
        )
        self.call(lambda: self.handler.failures.append((method.upper(), path, error)))

    def namespace_deletions(self) -> list[tuple[str, str, str, str]]:
        """(plural, namespace, name, "marked" or "removed") of each deletion the namespace
        controller made (kube_controllers.py), in order."""
        return self.call(lambda: list(self.handler.namespace_journal))

    def writes(self) -> list[tuple[str, str, Any]]:
        """(METHOD, path, body) of the latest writes (up to 20,000), oldest first."""
        return self.call(lambda: list(self.handler.journal))

    def queries(self) -> list[tuple[str, str, dict[str, str]]]:
        """(METHOD, path, query parameters) of every request served so far."""
        return self.call(
            lambda: [
                (str(r.method.value), r.url.path, dict(r.params)) for r in self.handler._requests
            ]
        )

    def kubeconfig(self, directory: Path) -> Path:
        """Write a kubeconfig pointing at the mock (context ``kmock``); returns its path."""
        path = Path(directory) / "kubeconfig"
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "users": [{"name": "kmock", "user": {"token": "kmock"}}],
            "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
            "current-context": "kmock",
        }
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        return path

    # -- raw HTTP through the kubernetes client -----------------------------------------
    def _path(self, api_version: str, kind: str, namespace: str | None) -> str:
        plural = self._resource(api_version, kind).plural
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        return f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"

    def _request(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        manager: str | None = None,
        content_type: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {**self.api_client.default_headers, "Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        elif method == "PATCH":
            headers["Content-Type"] = "application/merge-patch+json"
        elif body is not None:
            headers["Content-Type"] = "application/json"
        query = {**({"fieldManager": manager} if manager else {}), **(extra or {})}
        if query:
            path += "?" + urllib.parse.urlencode(query)
        response = self.api_client.call_api(
            method, self.url + path, header_params=headers, body=body, _request_timeout=10
        )
        response.read()
        if response.status >= 400:
            raise kubernetes.client.ApiException(http_resp=response)
        result: dict[str, Any] = json.loads(response.data or b"{}")
        return result


@contextlib.contextmanager
def kube_api(
    *,
    crds: Iterable[Path] | None = None,
    namespaces: Iterable[str] = ("default",),
) -> Iterator[KubeApi]:
    """A running mock API with core kinds, the ModelRollout CRD and ``crds`` declared.

    ``crds`` default: every file of ``tests/data/crds`` (Istio, Gateway API, Flagger).
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="kmock", daemon=True)
    thread.start()

    async def start() -> tuple[KubeMock, kmock.Server]:
        handler = KubeMock()
        await handler.__aenter__()
        server = kmock.Server(handler)
        await server.__aenter__()
        return handler, server

    handler, server = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    api = KubeApi(handler, server, loop)
    try:
        for api_version, kind, plural, namespaced, subresources in CORE_RESOURCES:
            api.declare(api_version, kind, plural, namespaced=namespaced, subresources=subresources)
        api.declare_crd_file(MODELROLLOUT_CRD)
        for path in sorted(SHARED_CRDS.glob("*.yaml")) if crds is None else crds:
            api.declare_crd_file(path)
        for namespace in namespaces:
            api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        yield api
    finally:
        api.api_client.close()

        async def stop() -> None:
            for task in list(handler._tasks):
                task.cancel()
            await server.__aexit__(None, None, None)
            await handler.__aexit__(None, None, None)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeApi]:
    """The mock API of ``kube_api()``, one per test module: re-export it from a directory's
    ``conftest.py`` (``from kube_fixtures import kube``) rather than redefining it."""
    with kube_api() as api:
        yield api
