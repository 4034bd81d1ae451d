"""The providers' :class:`~modelcanary.providers._cluster.ClusterObjects` port on a KubeClient.

Keptn's resources and the aggregated External Metrics API are read with the operator's own
client and credentials (RBAC in ``operator/chart/files/rbac.yaml``): generic get/create/delete
by apiVersion/kind, and a plain GET of an API path. API failures become provider errors, so
the engine retries what is transient (5xx, 429, timeouts) and reports the rest (403, 404).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from typing import TypeVar

from ..errors import PermanentProviderError, TransientProviderError
from ..ports import KubeObject
from ._client import KubeApiError, KubeClient, Ref

T = TypeVar("T")


def _provider_errors(call: Callable[[], T]) -> T:
    try:
        return call()
    except KubeApiError as exc:
        kind = TransientProviderError if exc.transient else PermanentProviderError
        raise kind(str(exc)) from None


class KubeClusterObjects:
    """Cluster access for in-cluster metric providers (Keptn, External Metrics)."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    def get_object(
        self, api_version: str, kind: str, namespace: str, name: str
    ) -> KubeObject | None:
        return _provider_errors(lambda: self.client.get(Ref(api_version, kind, namespace, name)))

    def create_object(self, obj: KubeObject) -> KubeObject:
        return _provider_errors(lambda: self.client.create(obj))

    def delete_object(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        ref = Ref(api_version, kind, namespace, name)
        return _provider_errors(lambda: self.client.delete(ref))

    def get_path(self, path: str, params: Mapping[str, str]) -> KubeObject:
        query = f"?{urllib.parse.urlencode(dict(params))}" if params else ""
        return _provider_errors(lambda: self.client.get_path(path + query))
