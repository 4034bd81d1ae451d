"""Kubernetes' RBAC authorizer, over the objects of a bundle: may this ServiceAccount do that?

The API server's rules (https://kubernetes.io/docs/reference/access-authn-authz/rbac/), as the
tests need them:

- a ClusterRoleBinding grants its ClusterRole's rules everywhere: every namespace and the
  cluster-scoped resources;
- a RoleBinding grants its Role's (same namespace) or ClusterRole's rules in its own namespace
  only, and never on a cluster-scoped resource;
- a rule allows a request when its apiGroups, resources (``plural`` or ``plural/subresource``)
  and verbs hold the request's (``*`` holds anything), and its resourceNames are empty or hold
  the request's name (a request without a name - create, list, watch - never matches a rule
  with resourceNames);
- non-resource URLs (``/api``, ``/apis``, ``/version``: discovery) are allowed to every
  authenticated user by the default ``system:discovery`` binding.

``call_of`` turns an HTTP request into the ``Call`` RBAC sees, and ``Guard`` puts the
authorizer in front of the kmock API, so a test authorizes what a real operator sent
(test_rbac_enforced.py, test_bundle_runs.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kmock._internal.k8s import KubernetesError

Obj = dict[str, Any]
Grant = tuple[str, str, str]
"""(apiGroup, resource, verb)."""

CLUSTER_SCOPED_RESOURCES = {
    ("", "namespaces"),
    ("", "nodes"),
    ("", "persistentvolumes"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("kopf.dev", "clusterkopfpeerings"),
}
"""The cluster-scoped resources the tests ask about (a RoleBinding never grants them)."""


@dataclass(frozen=True)
class Call:
    """One API request as RBAC sees it; ``namespace`` None: cluster scope (or all namespaces)."""

    verb: str
    group: str
    resource: str
    namespace: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        where = f"in {self.namespace}" if self.namespace else "cluster-wide"
        what = f"{self.group or 'core'}/{self.resource}" + (f" {self.name}" if self.name else "")
        return f"{self.verb} {what} {where}"


def call_of(
    method: str,
    group: str | None,
    plural: str | None,
    namespace: str | None,
    name: str | None,
    subresource: str | None,
    params: Mapping[str, str],
) -> Call | None:
    """The Call of an HTTP request (None for a non-resource URL such as ``/apis``)."""
    if plural is None or group is None:
        return None
    resource = f"{plural}/{subresource}" if subresource else plural
    method = method.upper()
    if method == "GET":
        watching = str(params.get("watch", "")).lower() in ("true", "1")
        verb = "watch" if watching else "get" if name else "list"
    else:
        verb = {
            "POST": "create",
            "PATCH": "patch",
            "PUT": "update",
            "DELETE": "delete" if name else "deletecollection",
        }.get(method, method.lower())
    return Call(verb, group, resource, namespace, name)


def _matches(rule: Obj, call: Call) -> bool:
    def holds(field: str, value: str) -> bool:
        items = rule.get(field) or []
        return "*" in items or value in items

    if not (holds("apiGroups", call.group) and holds("resources", call.resource)):
        return False
    if not holds("verbs", call.verb):
        return False
    names = rule.get("resourceNames") or []
    return not names or (call.name is not None and call.name in names)


@dataclass
class Authorizer:
    """What one ServiceAccount may do, from the RBAC objects of ``objects``."""

    objects: list[Obj]
    namespace: str
    name: str

    def _subject(self, binding: Obj) -> bool:
        return any(
            s.get("kind") == "ServiceAccount"
            and s.get("name") == self.name
            and s.get("namespace", binding["metadata"].get("namespace")) == self.namespace
            for s in binding.get("subjects") or []
        )

    def _role(self, ref: Obj, namespace: str | None) -> list[Obj]:
        for obj in self.objects:
            if obj.get("kind") != ref["kind"] or obj["metadata"]["name"] != ref["name"]:
                continue
            if ref["kind"] == "Role" and obj["metadata"].get("namespace") != namespace:
                continue
            rules: list[Obj] = obj.get("rules") or []
            return rules
        return []  # a binding to a missing role grants nothing

    def cluster_rules(self) -> list[Obj]:
        """The rules bound cluster-wide (ClusterRoleBindings of this ServiceAccount)."""
        return [
            rule
            for binding in self.objects
            if binding.get("kind") == "ClusterRoleBinding" and self._subject(binding)
            for rule in self._role(binding["roleRef"], None)
        ]

    def namespace_rules(self, namespace: str) -> list[Obj]:
        """The rules RoleBindings of ``namespace`` bind (namespaced resources there only)."""
        return [
            rule
            for binding in self.objects
            if binding.get("kind") == "RoleBinding"
            and binding["metadata"].get("namespace") == namespace
            and self._subject(binding)
            for rule in self._role(binding["roleRef"], namespace)
        ]

    def allows(self, call: Call) -> bool:
        """Would the API server authorize ``call`` for this ServiceAccount?"""
        if any(_matches(rule, call) for rule in self.cluster_rules()):
            return True
        base = call.resource.split("/", 1)[0]
        if call.namespace is None or (call.group, base) in CLUSTER_SCOPED_RESOURCES:
            return False
        return any(_matches(rule, call) for rule in self.namespace_rules(call.namespace))

    def grants(self, namespace: str | None) -> set[Grant]:
        """(group, resource, verb) allowed cluster-wide (None) or in ``namespace`` (where
        a RoleBinding grants no cluster-scoped resource); a wildcard shows as ``*``."""
        out = _expand(self.cluster_rules())
        if namespace is not None:
            out |= {
                grant
                for grant in _expand(self.namespace_rules(namespace))
                if (grant[0], grant[1].split("/")[0]) not in CLUSTER_SCOPED_RESOURCES
            }
        return out


def _expand(rules: list[Obj]) -> set[Grant]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def operator_identity(objects: Iterable[Obj]) -> tuple[str, str]:
    """(namespace, name) of the operator Deployment's ServiceAccount."""
    deployment = next(o for o in objects if o.get("kind") == "Deployment")
    name = deployment["spec"]["template"]["spec"].get("serviceAccountName", "default")
    return deployment["metadata"]["namespace"], name


def operator_authorizer(objects: list[Obj]) -> Authorizer:
    """The Authorizer of the bundle's operator ServiceAccount."""
    namespace, name = operator_identity(objects)
    return Authorizer(objects, namespace, name)


RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")


def stored_rbac(handler: Any) -> list[Obj]:
    """The RBAC objects stored in a kmock handler now (call in its event loop), those marked
    for deletion included (kmock's ``deleted``: really gone)."""
    return [
        dict(obj.raw)
        for (res, _ns, _name), obj in handler.objects.items()
        if res.group == "rbac.authorization.k8s.io" and not obj.deleted
    ]


class Guard:
    """RBAC in front of a kmock API (``kube_fixtures.KubeApi``): the requests carrying the
    bearer ``token`` are the operator's, authorized with the bundle's RBAC and refused with
    403 as the API server would; the others are the test's own (cluster admin). Records every
    authorized or refused call; ``close()`` takes the guard away.

    ``live=True``: the bundle's RBAC objects are created in the API (``install()``) and each
    request is authorized with the RBAC objects stored at that moment, as the API server's
    authorizer does: deleting a RoleBinding (or its namespace) takes the rights away once the
    binding is really gone; one held by a finalizer (marked with a ``deletionTimestamp``) still
    authorizes, as the API server's authorizer reads bindings from its informer cache, which
    keeps such an object (test_rbac_hold.py)."""

    def __init__(self, kube: Any, objects: list[Obj], token: str, *, live: bool = False) -> None:
        self.authorizer = operator_authorizer(objects)
        self.calls: list[tuple[Call, bool]] = []
        self.live = live
        if live:
            for obj in objects:
                if obj.get("kind") in RBAC_KINDS:
                    kube.create(obj)
        original = kube.handler._handle
        handler = kube.handler

        async def guarded(request: Any) -> Any:
            if self.live:
                self.authorizer.objects = stored_rbac(handler)
            if request.headers.get("Authorization") == f"Bearer {token}":
                res = request.resource
                call = call_of(
                    str(request.method.value),
                    None if res is None else res.group,
                    None if res is None else res.plural,
                    request.namespace,
                    request.name,
                    request.subresource,
                    request.params,
                )
                if call is not None:
                    allowed = self.authorizer.allows(call)
                    self.calls.append((call, allowed))
                    if not allowed:
                        raise KubernetesError(
                            status=403, reason="Forbidden", message=f"forbidden: {call}"
                        )
            return await original(request)

        kube.handler._handle = guarded
        self._handler, self._original = kube.handler, original

    def refused(self) -> list[Call]:
        """The calls refused so far (403)."""
        return [call for call, allowed in list(self.calls) if not allowed]

    def close(self) -> None:
        self._handler._handle = self._original
