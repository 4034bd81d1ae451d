"""A small generic REST layer over the ``kubernetes`` client: objects by apiVersion/kind.

No discovery: a plural table for the kinds modelcanary touches, else the lowercase kind + ``s``
(``+es`` after s/x/ch/sh, ``y`` -> ``ies``). Every write is a POST (create), a JSON merge patch
(or a JSON patch when the body is a list) or a server-side apply; PUT is never used. Every write
names the field manager ``modelcanary`` (``?fieldManager=``), so ``metadata.managedFields`` says
which fields the operator owns (without it the API server files them under the client's
User-Agent, ``OpenAPI-Generator``) and a GitOps tool's server-side apply conflicts only on fields
the operator really sets. API errors are mapped:

- 404 -> ``None`` from :meth:`KubeClient.get`, :class:`KubeNotFound` elsewhere;
- 409 -> :class:`~modelcanary.errors.ConflictError` (stale resourceVersion, already exists);
- 5xx, 429, timeouts, refused connections -> :class:`KubeApiError` with ``transient=True``;
- other 4xx (403 RBAC, 422 invalid) -> :class:`KubeApiError` with ``transient=False``,
  naming the object and, for 403, the verb and resource a Role must grant.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import dataclass
from typing import Any

import kubernetes.client
import kubernetes.config
import urllib3

from ..errors import ConflictError, ModelCanaryError, SpecError, SpecIssue
from ..ports import KubeObject

PLURALS: dict[tuple[str, str], str] = {
    ("", "Namespace"): "namespaces",
    ("", "Service"): "services",
    ("", "ConfigMap"): "configmaps",
    ("", "Secret"): "secrets",
    ("", "Event"): "events",
    ("", "Pod"): "pods",
    ("", "Endpoints"): "endpoints",
    ("", "ServiceAccount"): "serviceaccounts",
    ("apps", "Deployment"): "deployments",
    ("apps", "DaemonSet"): "daemonsets",
    ("apps", "StatefulSet"): "statefulsets",
    ("autoscaling", "HorizontalPodAutoscaler"): "horizontalpodautoscalers",
    ("events.k8s.io", "Event"): "events",
    ("networking.k8s.io", "Ingress"): "ingresses",
    ("coordination.k8s.io", "Lease"): "leases",
    ("modelcanary.io", "ModelRollout"): "modelrollouts",
    ("flagger.app", "Canary"): "canaries",
    ("metrics.keptn.sh", "Analysis"): "analyses",
    ("networking.istio.io", "VirtualService"): "virtualservices",
    ("networking.istio.io", "DestinationRule"): "destinationrules",
    ("gateway.networking.k8s.io", "HTTPRoute"): "httproutes",
    ("gateway.networking.k8s.io", "Gateway"): "gateways",
    ("split.smi-spec.io", "TrafficSplit"): "trafficsplits",
    ("policy.linkerd.io", "HTTPRoute"): "httproutes",
    ("serving.kserve.io", "InferenceService"): "inferenceservices",
    ("keda.sh", "ScaledObject"): "scaledobjects",
    ("appmesh.k8s.aws", "VirtualNode"): "virtualnodes",
    ("appmesh.k8s.aws", "VirtualService"): "virtualservices",
    ("appmesh.k8s.aws", "VirtualRouter"): "virtualrouters",
    ("apisix.apache.org", "ApisixRoute"): "apisixroutes",
    ("kuma.io", "TrafficRoute"): "trafficroutes",
    ("kuma.io", "MeshHTTPRoute"): "meshhttproutes",
    ("gateway.solo.io", "RouteTable"): "routetables",
    ("gloo.solo.io", "Upstream"): "upstreams",
    ("projectcontour.io", "HTTPProxy"): "httpproxies",
    ("traefik.io", "TraefikService"): "traefikservices",
    ("traefik.containo.us", "TraefikService"): "traefikservices",
}
"""(API group, kind) -> plural resource name of the kinds modelcanary touches."""

FIELD_MANAGER = "modelcanary"
"""The field manager of every write (``metadata.managedFields[].manager``)."""
APPLY_PATCH = "application/apply-patch+yaml"
"""Content type of a server-side apply (the JSON body is valid YAML)."""

CLUSTER_SCOPED = {("", "Namespace"), ("apiextensions.k8s.io", "CustomResourceDefinition")}


class KubeApiError(ModelCanaryError):
    """The Kubernetes API refused or could not be reached.

    ``transient`` is True for 5xx, 429, timeouts and connection errors (retry later), False
    for other 4xx (RBAC, invalid object: retrying will not help).
    """

    def __init__(self, message: str, *, status: int | None = None, transient: bool) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient


class KubeNotFound(KubeApiError):
    """404 on a write (patch of an object that does not exist)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=404, transient=False)


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) is a transient API failure."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KubeApiError):
            return seen.transient
        seen = seen.__cause__ or seen.__context__
    return False


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> (``apps``, ``v1``); ``v1`` -> (``""``, ``v1``)."""
    group, _, version = api_version.rpartition("/")
    return group, version


def plural_of(api_version: str, kind: str) -> str:
    """The resource name of ``kind``: the table, else a lowercase English plural."""
    group, _ = split_api_version(api_version)
    known = PLURALS.get((group, kind))
    if known is not None:
        return known
    lower = kind.lower()
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
        return lower[:-1] + "ies"
    return lower + "s"


def load_api_client(
    kubeconfig: str | None = None, context: str | None = None
) -> kubernetes.client.ApiClient:
    """An ApiClient from ``kubeconfig``/``context``, else in-cluster config (a pod's service
    account), else ``$KUBECONFIG`` / ``~/.kube/config``. SpecError when none is usable."""
    config = kubernetes.client.Configuration()
    try:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            kubernetes.config.load_incluster_config(client_configuration=config)  # type: ignore[no-untyped-call]
        else:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=config
            )
    except (kubernetes.config.ConfigException, OSError, TypeError, ValueError) as exc:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise SpecError(
            SpecIssue(
                "--kubeconfig",
                f"no usable Kubernetes configuration ({where}"
                + (f", context {context}" if context else "")
                + f"): {exc}",
                "pass --kubeconfig FILE [--context NAME], set KUBECONFIG, "
                "or run inside a cluster with a service account",
            )
        ) from None
    return kubernetes.client.ApiClient(config)


def fit_pool(api: kubernetes.client.ApiClient, size: int) -> None:
    """Let ``api`` keep ``size`` connections per API server open (never fewer than it has).

    The kubernetes client sizes its urllib3 pool ``cpu_count() * 5`` (10 on 2 cores) and
    does not block when it is empty: with more threads than that (the operator's tick pool,
    16 by default) every request beyond it opens a new connection (a TCP and TLS handshake
    with the API server) and drops it afterwards ("Connection pool is full, discarding
    connection"). The operator sizes the pool to its tick workers."""
    config = api.configuration
    if (config.connection_pool_maxsize or 0) >= size:
        return
    config.connection_pool_maxsize = size
    manager = api.rest_client.pool_manager
    manager.connection_pool_kw["maxsize"] = size
    manager.clear()  # pools are made again, with the new size, on the next request


@dataclass(frozen=True)
class Ref:
    """Where an object lives: apiVersion, kind, namespace ("" when cluster-scoped), name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where} ({self.api_version})"

    @classmethod
    def of(cls, obj: KubeObject) -> Ref:
        """The Ref of an object (its metadata.namespace, default ``default``)."""
        meta = obj.get("metadata") or {}
        group, _ = split_api_version(str(obj.get("apiVersion", "")))
        scoped = (group, str(obj.get("kind", ""))) not in CLUSTER_SCOPED
        return cls(
            str(obj.get("apiVersion", "")),
            str(obj.get("kind", "")),
            str(meta.get("namespace") or "default") if scoped else "",
            str(meta.get("name", "")),
        )


class KubeClient:
    """Generic get/list/create/patch/delete by apiVersion/kind through an ApiClient."""

    def __init__(self, api: kubernetes.client.ApiClient, *, timeout: float = 15.0) -> None:
        self.api = api
        self.timeout = timeout

    # -- paths -------------------------------------------------------------------------
    @staticmethod
    def path(api_version: str, kind: str, namespace: str, name: str = "") -> str:
        """The REST path of a collection (no name) or an object."""
        group, version = split_api_version(api_version)
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        plural = plural_of(api_version, kind)
        path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
        return f"{path}/{name}" if name else path

    # -- verbs -------------------------------------------------------------------------
    def get(self, ref: Ref) -> KubeObject | None:
        """The object, or None when it does not exist."""
        try:
            return self._call("GET", self.path(ref.api_version, ref.kind, ref.namespace, ref.name))
        except KubeNotFound:
            return None
        except _Refused as exc:
            raise exc.error(ref, "get") from None

    def get_path(self, path: str) -> KubeObject:
        """``GET path`` (with its query string) on the API server, e.g. an aggregated API such
        as ``/apis/external.metrics.k8s.io/v1beta1/namespaces/ml/queue_depth``."""
        try:
            return self._call("GET", path)
        except KubeNotFound:
            raise KubeApiError(f"GET {path}: not found", status=404, transient=False) from None
        except _Refused as exc:
            transient = exc.status is None or exc.status >= 500 or exc.status == 429
            raise KubeApiError(
                f"GET {path} refused ({exc.status or 'no answer'}): {exc}",
                status=exc.status,
                transient=transient,
            ) from None

    def list(self, ref: Ref, label_selector: str | None = None) -> list[KubeObject]:
        """Objects of ``ref``'s kind in its namespace (``ref.name`` ignored)."""
        path = self.path(ref.api_version, ref.kind, ref.namespace)
        if label_selector:
            path += "?" + urllib.parse.urlencode({"labelSelector": label_selector})
        try:
            result = self._call("GET", path)
        except (_Refused, KubeNotFound) as exc:
            raise _as_error(exc, ref, "list") from None
        items: list[KubeObject] = result.get("items") or []
        return items

    def create(self, obj: KubeObject) -> KubeObject:
        """Create ``obj``; ConflictError when it already exists."""
        ref = Ref.of(obj)
        path = self.path(ref.api_version, ref.kind, ref.namespace) + _manager()
        try:
            return self._call("POST", path, body=obj)
        except (_Refused, KubeNotFound) as exc:
            raise _as_error(exc, ref, "create") from None

    def apply_server_side(self, obj: KubeObject, *, force: bool = False) -> KubeObject:
        """Server-side apply of ``obj`` as field manager ``modelcanary`` (created when missing).

        The API server merges ``obj`` into the stored object and records the fields it sets as
        owned by ``modelcanary``; ``force=False`` answers a :class:`ConflictError` naming the
        fields another manager (a GitOps tool, a user's ``kubectl apply --server-side``) owns
        with a different value, ``force=True`` takes them over.
        """
        ref = Ref.of(obj)
        path = self.path(ref.api_version, ref.kind, ref.namespace, ref.name)
        path += _manager(force="true" if force else "false")
        body = json.dumps(obj, separators=(",", ":"))
        try:
            return self._call("PATCH", path, body=body, content_type=APPLY_PATCH)
        except KubeNotFound:
            raise _as_error(KubeNotFound(path), ref, "apply") from None
        except _Refused as exc:
            raise exc.error(ref, "patch") from None

    def patch(self, ref: Ref, body: Any, subresource: str = "") -> KubeObject:
        """JSON merge patch (a dict body) or JSON patch (a list body) of an object or its
        ``subresource`` (e.g. ``status``); KubeNotFound when it does not exist."""
        path = self.path(ref.api_version, ref.kind, ref.namespace, ref.name)
        path += (f"/{subresource}" if subresource else "") + _manager()
        kind = "json-patch+json" if isinstance(body, list) else "merge-patch+json"
        try:
            return self._call("PATCH", path, body=body, content_type=f"application/{kind}")
        except KubeNotFound:
            raise KubeNotFound(f"{ref} does not exist") from None
        except _Refused as exc:
            raise exc.error(ref, "patch", subresource) from None

    def delete(self, ref: Ref) -> bool:
        """Delete the object (background propagation); False when it was already gone."""
        path = self.path(ref.api_version, ref.kind, ref.namespace, ref.name)
        try:
            self._call("DELETE", path, body={"propagationPolicy": "Background"})
        except KubeNotFound:
            return False
        except _Refused as exc:
            raise exc.error(ref, "delete") from None
        return True

    # -- transport ---------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
    ) -> KubeObject:
        headers = {**self.api.default_headers, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        url = self.api.configuration.host.rstrip("/") + path
        try:
            self.api.update_params_for_auth(headers, [], ["BearerToken"], path, method, body)
            response = self.api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=self.timeout
            )
            response.read()  # type: ignore[no-untyped-call]
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _Refused(None, f"{type(exc).__name__}: {exc}") from None
        except kubernetes.client.ApiException as exc:
            raise _Refused(exc.status or None, str(exc.reason or exc)) from None
        status = int(response.status)
        if status == 404:
            raise KubeNotFound(path)
        if status >= 400:
            raise _Refused(status, _message(response.data))
        data: KubeObject = json.loads(response.data or b"{}")
        return data


class _Refused(Exception):
    """Internal: an HTTP failure before it is named after the object."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def error(self, ref: Ref, verb: str, subresource: str = "") -> ModelCanaryError:
        """The public error for ``verb`` on ``ref``."""
        resource = plural_of(ref.api_version, ref.kind) + (f"/{subresource}" if subresource else "")
        group, _ = split_api_version(ref.api_version)
        if self.status == 409:
            return ConflictError(f"{verb} {ref}: conflict: {self.message}")
        if self.status is None:
            return KubeApiError(
                f"cannot reach the Kubernetes API to {verb} {ref}: {self.message}",
                transient=True,
            )
        transient = self.status >= 500 or self.status == 429
        hint = ""
        if self.status in (401, 403):
            hint = (
                f" (fix: grant the operator's service account verb {verb!r} on "
                f"{resource!r} in apiGroup {group!r})"
            )
        elif self.status == 422:
            hint = " (fix: the object is invalid for this cluster's API version)"
        return KubeApiError(
            f"{verb} {ref}: HTTP {self.status}: {self.message}{hint}",
            status=self.status,
            transient=transient,
        )


def _as_error(exc: Exception, ref: Ref, verb: str) -> ModelCanaryError:
    if isinstance(exc, _Refused):
        return exc.error(ref, verb)
    return KubeApiError(
        f"{verb} {ref}: the API answers 404 (is the {ref.kind} resource installed? "
        "fix: install its CRD, or check the namespace)",
        status=404,
        transient=False,
    )


def _manager(**extra: str) -> str:
    """The query string naming the field manager (plus ``extra`` parameters)."""
    return "?" + urllib.parse.urlencode({"fieldManager": FIELD_MANAGER, **extra})


def _message(data: bytes | None) -> str:
    """The ``message`` of a Kubernetes Status body, else the start of the body."""
    text = (data or b"").decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(doc, dict) and doc.get("message"):
        return str(doc["message"])[:500]
    return text[:200]
