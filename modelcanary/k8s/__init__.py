"""Kubernetes adapters (the only package importing ``kubernetes``): objects, workloads,
services, status store, events and secrets for the operator.

Build them on one client::

    from modelcanary.k8s import KubeClient, load_api_client
    client = KubeClient(load_api_client(kubeconfig=None, context=None))
    store, objects = KubeStatusStore(client), KubeObjectStore(client)
    workloads, events = KubeWorkloads(client, store=objects), KubeEvents(client)
    secret_reader = KubeSecretReader(client, default_namespace="ml")
    release = KubeRelease(workloads)       # what a deleted rollout leaves behind

Every write names the field manager ``modelcanary`` (``FIELD_MANAGER``);
``client.apply_server_side(obj, force=False)`` is a server-side apply.
"""

from ._client import (
    FIELD_MANAGER,
    KubeApiError,
    KubeClient,
    KubeNotFound,
    Ref,
    is_transient,
    load_api_client,
)
from ._cluster_objects import KubeClusterObjects
from ._events import KubeEvents
from ._objects import KubeObjectStore, owner_reference
from ._release import KubeRelease
from ._secret_reader import KubeSecretReader
from ._services import KubeServices
from ._status import KubeStatusStore, rollout_from_object
from ._workloads import KubeWorkloads

__all__ = [
    "FIELD_MANAGER",
    "KubeApiError",
    "KubeClient",
    "KubeClusterObjects",
    "KubeEvents",
    "KubeNotFound",
    "KubeObjectStore",
    "KubeRelease",
    "KubeSecretReader",
    "KubeServices",
    "KubeStatusStore",
    "KubeWorkloads",
    "Ref",
    "is_transient",
    "load_api_client",
    "owner_reference",
    "rollout_from_object",
]
