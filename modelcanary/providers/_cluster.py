"""The cluster-object port of the providers that read Kubernetes APIs (Keptn, External Metrics).

These backends are not HTTP services of their own: they are APIs of the Kubernetes API server
(custom resources of Keptn's metrics operator; the aggregated ``external.metrics.k8s.io``).
Providers never import ``kubernetes``; the operator passes an implementation of
:class:`ClusterObjects` (``modelcanary.k8s.KubeClusterObjects``) in the provider options as
``cluster``. The local runtime has none: such a provider then says it needs the operator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..analysis._measurements import IntervalData, NoData, Scalar, Window
from ..errors import PermanentProviderError, SpecError, SpecIssue
from ..ports import MetricProvider
from ..spec import MetricSpec, ModelRollout
from ._context import ProviderContext

KubeObject = dict[str, Any]


class ClusterObjects(Protocol):
    """What these providers need of the Kubernetes API (errors: ``ModelCanaryError``)."""

    def get_object(
        self, api_version: str, kind: str, namespace: str, name: str
    ) -> KubeObject | None:
        """The object, or None when it does not exist."""
        ...

    def create_object(self, obj: KubeObject) -> KubeObject:
        """Create ``obj`` and return it as stored."""
        ...

    def delete_object(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete the object; False when it was already gone."""
        ...

    def get_path(self, path: str, params: Mapping[str, str]) -> KubeObject:
        """``GET path?params`` on the API server (an aggregated API such as external metrics)."""
        ...


def cluster_objects(ctx: ProviderContext, backend: str) -> ClusterObjects:
    """The operator's cluster access from the provider options, or a SpecError saying why not."""
    cluster = ctx.options.get("cluster")
    if cluster is None:
        raise SpecError(
            SpecIssue(
                f"{ctx.path}.type",
                f"the {backend} provider reads the Kubernetes API, which only the operator "
                "has (the local runtime runs no cluster)",
                "apply the rollout to a cluster with the operator, or use a provider with an "
                "address (e.g. prometheus)",
            )
        )
    return cluster  # type: ignore[no-any-return]


class ClusterProvider:
    """Base of the in-cluster backends: custom queries only, online when the API answers."""

    name = "cluster"
    no_builtin = ""
    """Why built-in SLIs cannot be read here, with the fix."""

    def __init__(self, cluster: ClusterObjects) -> None:
        self.cluster = cluster
        self.last_error = ""

    def probe(self) -> str:
        """Empty when the backend answers, else why not."""
        return ""

    def is_online(self) -> bool:
        try:
            self.last_error = self.probe()
        except Exception as exc:  # any failure means offline; the reason is kept
            self.last_error = str(exc)
        return not self.last_error

    def backends(self, rollout: ModelRollout) -> Sequence[MetricProvider]:
        return [self]

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        raise PermanentProviderError(self.no_builtin)

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        raise NotImplementedError  # each backend reads its own resources
