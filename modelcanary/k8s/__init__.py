"""Kubernetes adapters (the only package importing ``kubernetes``): objects, workloads,
services, status store, events and secrets for the operator.

Build them on one client::

    from modelcanary.k8s import KubeClient, load_api_client
    client = KubeClient(load_api_client(kubeconfig=None, context=None))
    store, objects = KubeStatusStore(client), KubeObjectStore(client)
    workloads, events = KubeWorkloads(client, store=objects), KubeEvents(client)
    secret_reader = KubeSecretReader(client, default_namespace="ml")
"""

from .client import KubeApiError, KubeClient, KubeNotFound, Ref, is_transient, load_api_client
from .events import KubeEvents
from .objects import KubeObjectStore, owner_reference
from .secrets import KubeSecretReader
from .services import KubeServices
from .status import KubeStatusStore, rollout_from_object
from .workloads import KubeWorkloads

__all__ = [
    "KubeApiError",
    "KubeClient",
    "KubeEvents",
    "KubeNotFound",
    "KubeObjectStore",
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
