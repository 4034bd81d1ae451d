"""``mc.cluster()``: submit a rollout to the operator from a notebook and follow it live.

:class:`Cluster` is one connection (kubeconfig context, or the pod's service account) and a
namespace; :meth:`Cluster.submit` writes the ModelRollout custom resource and returns a
:class:`ClusterRun`, which has the face of the local :class:`~modelcanary.notebook.NotebookRun`
(``status``, ``wait``, ``history``, ``report``, the manual actions, the same live widget) plus
:meth:`ClusterRun.metrics`, the SLI series from the rollout's Prometheus.

Everything goes through the resource: the operator reconciles it, the widget follows a
Kubernetes **watch** on it (no polling), buttons write the ``modelcanary.io/action``
annotation. A re-submitted rollout that the operator decided before is not "done" again until
the operator has looked at the new spec (``status.observedGeneration``, or a status that
differs from the one it had when submitted).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ..controller._cluster import ClusterRollouts, StatusWatch, resource, stored_from
from ..errors import ModelCanaryError, SpecError, SpecIssue
from ..ports import Stored
from ..spec import ModelRollout, RolloutStatus
from ._source import LiveDisplay

LIST_COLUMNS = ["name", "namespace", "phase", "weight", "mirror", "last_verdict", "age"]
"""Columns of :meth:`Cluster.list`."""
PICKUP_SECONDS = 30.0
"""How long an action waits for the operator to pick up a re-submitted spec first."""


def _status(stored: Stored | None) -> RolloutStatus:
    return (stored.rollout.status if stored is not None else None) or RolloutStatus()


def _mark(status: RolloutStatus) -> tuple[Any, ...]:
    """What changes when the operator restarts a decided rollout on a new spec."""
    return (
        status.phase,
        status.outcome,
        status.last_transition_time,
        status.last_applied_spec,
        len(status.history),
    )


class ClusterRun(LiveDisplay):
    """A rollout in a cluster: live widget when displayed, status, wait, history, actions."""

    def __init__(
        self,
        rollouts: ClusterRollouts,
        stored: Stored,
        namespace: str,
        *,
        generation: int | None = None,
        stale: RolloutStatus | None = None,
        poll_hz: float = 4.0,
    ) -> None:
        self.rollouts = rollouts
        self.name = stored.rollout.name
        self.namespace = namespace
        self.poll_hz = min(poll_hz, 4.0)
        self.generation = generation
        """The spec generation this handle submitted (None when attached with ``get``)."""
        self._stale = _mark(stale) if stale is not None else None
        self._stored = stored
        self._following = 0  # feeds keeping ``_stored`` current (then ``done`` reads no API)
        self._lock = threading.Lock()

    # -- state ------------------------------------------------------------------------
    @property
    def rollout(self) -> ModelRollout:
        """The rollout as last read from the cluster (spec as the operator reads it)."""
        return self._stored.rollout

    def _seen(self, stored: Stored) -> None:
        with self._lock:
            self._stored = stored
            if self._stale is not None and not _status(stored).phase.traits.decided:
                self._stale = None  # the operator took up the submitted spec

    def _follows(self, change: int) -> None:
        with self._lock:
            self._following += change

    def status(self) -> RolloutStatus:
        """The status as stored now (read from the API server)."""
        self._seen(self.rollouts.require(self.name, self.namespace))
        return _status(self._stored)

    def decided(self, status: RolloutStatus) -> bool:
        """True when ``status`` is a decision about the spec this handle submitted."""
        if not status.phase.traits.decided:
            return False
        if self._stale is None:
            return True
        seen = status.observed_generation
        if seen is not None and self.generation is not None and seen >= self.generation:
            return True
        return _mark(status) != self._stale

    @property
    def done(self) -> bool:
        """True once the rollout is decided (promoted, rolled back, aborted, failed)."""
        if self._following:  # a watch keeps the cached copy current
            return self.decided(_status(self._stored))
        return self.decided(self.status())

    def wait(self, timeout: float | None = None) -> RolloutStatus:
        """Block until decided, following a watch on the resource (or ``timeout`` seconds; then
        the status as it is). The widget shows the final state, and every output that
        displayed this run is updated in place to the final static HTML (outcome, checks,
        charts), so a reloaded notebook, nbviewer or an HTML export shows the result."""
        watch = self.rollouts.watch(self.name, self.namespace, timeout)
        try:
            for stored in watch:
                self._seen(stored)
                if self.decided(_status(stored)):
                    break
        finally:
            watch.close()
        if getattr(watch, "deleted", False):
            raise ModelCanaryError(
                f"ModelRollout {self.namespace}/{self.name} was deleted while waiting for it"
            )
        status = _status(self._stored)
        if self._widget is not None:
            if self.decided(status):
                self._widget.stop()
            self._widget.refresh(force=True, status=status)
        if self.decided(status):  # as the local run: every output of it shows the final state
            self._publish_final(by="wait")
        return status

    def metrics(self, sli: Any, window: str | float = "30m", **options: Any) -> Any:
        """The champion/challenger time series behind ``sli`` over the last ``window``, as a
        pandas DataFrame, from the rollout's Prometheus (prometheus-api-client).

        ``sli``: a built-in name (``error-rate``, ``latency-p99``...), an ``mc.sli`` object or
        one of the rollout's custom metrics. Options: ``step=`` (default window/60, >= 15 s),
        ``prometheus=`` (another address, e.g. a port-forward), ``headers=``, ``raw=True``
        (the Prometheus series themselves). See :mod:`modelcanary.notebook._metrics`.
        """
        from ._metrics import sli_frame

        return sli_frame(self.rollout, sli, window=window, **options)

    # -- manual control ---------------------------------------------------------------
    def act(self, kind: str, reason: str = "") -> None:
        """approve, pause, resume, abort, retry or promote: the ``modelcanary.io/action``
        annotation, applied by the operator at its next tick."""
        if self._stale is not None:
            self._picked_up()  # bounded: the action is written either way
        self.rollouts.act(self.name, self.namespace, kind, reason or f"{kind} from the notebook")

    def _picked_up(self) -> bool:
        """Wait (up to :data:`PICKUP_SECONDS`) until the operator has looked at the submitted
        spec, so an action is not consumed by the decision of the previous one."""
        status = self.status()
        if not status.phase.traits.decided or self.decided(status):
            return True
        watch = self.rollouts.watch(self.name, self.namespace, PICKUP_SECONDS)
        try:
            for stored in watch:
                self._seen(stored)
                now = _status(stored)
                if not now.phase.traits.decided or self.decided(now):
                    return True
        finally:
            watch.close()
        return False

    def close(self) -> None:
        """Stop the widget's watch (the rollout goes on in the cluster)."""
        if self._widget is not None:
            self._widget.stop()

    # -- the widget's feed --------------------------------------------------------------
    def follow(self) -> WatchFeed:
        """The widget's feed: a watch on the resource, one status per version written."""
        return WatchFeed(self, self.rollouts.watch(self.name, self.namespace))

    def __repr__(self) -> str:
        s = _status(self._stored)
        return f"<ClusterRun {self.namespace}/{self.name} {s.phase} weight={s.canary_weight}%>"


class WatchFeed:
    """Statuses from a watch on the resource, until the run is decided or the resource gone."""

    def __init__(self, run: ClusterRun, watch: StatusWatch) -> None:
        self.run = run
        self.watch = watch

    def __iter__(self) -> Iterator[RolloutStatus]:
        self.run._follows(+1)
        try:
            for stored in self.watch:
                self.run._seen(stored)
                status = _status(stored)
                yield status
                if self.run.decided(status):
                    return
        finally:
            self.run._follows(-1)

    def close(self) -> None:
        """Stop the watch (thread-safe: a thread blocked on the stream returns)."""
        self.watch.close()


class Cluster:
    """A Kubernetes cluster with the modelcanary operator, and a namespace to work in."""

    def __init__(self, rollouts: ClusterRollouts, namespace: str) -> None:
        self.rollouts = rollouts
        self.namespace = namespace

    def submit(self, rollout: Any) -> ClusterRun:
        """Write ``rollout`` (an ``mc.Rollout`` builder or a ModelRollout) as a ModelRollout
        resource in this cluster (server-side apply, field manager ``modelcanary``) and return
        its live handle at once; the operator runs it."""
        spec: ModelRollout = rollout.build() if hasattr(rollout, "build") else rollout
        if not isinstance(spec, ModelRollout):
            raise SpecError(
                SpecIssue(
                    "rollout",
                    f"expected an mc.Rollout or a ModelRollout, got {type(rollout).__name__}",
                    "build one with mc.Rollout(name)... or load one with mc.load(file)",
                )
            )
        if spec.spec.router.provider == "local":
            raise SpecError(
                SpecIssue(
                    "spec.router.provider",
                    "'local' runs on this machine, not in a cluster",
                    "set a mesh or ingress router for the operator, e.g. .router('istio'), or "
                    "run it here with mc.run_local(rollout)",
                ),
                source=f"rollout {spec.name}",
            )
        namespace = spec.metadata.namespace or self.namespace
        before = self.rollouts.get(spec.name, namespace)
        _, outcome, stored = self.rollouts.write(spec, namespace, server_side=True)
        generation = (stored.get("metadata") or {}).get("generation")
        previous = _status(before)
        changed = outcome == "configured" and previous.phase.traits.decided
        return ClusterRun(
            self.rollouts,
            stored_from(stored),
            namespace,
            generation=int(generation) if generation is not None else None,
            stale=previous if changed else None,
        )

    def get(self, name: str, namespace: str | None = None) -> ClusterRun:
        """Attach to a rollout already in the cluster (error naming the namespace if none)."""
        namespace = namespace or self.namespace
        return ClusterRun(self.rollouts, self.rollouts.require(name, namespace), namespace)

    def list(self, all_namespaces: bool = False) -> Any:
        """The rollouts of this namespace (or of all) as a DataFrame: :data:`LIST_COLUMNS`."""
        import pandas as pd

        now = datetime.now(UTC)
        rows = []
        for obj in self.rollouts.resources(None if all_namespaces else self.namespace):
            meta = obj.get("metadata") or {}
            status = _listed_status(obj)
            last = status.history[-1].verdict if status.history else None
            created = meta.get("creationTimestamp")
            rows.append(
                {
                    "name": meta.get("name"),
                    "namespace": meta.get("namespace"),
                    "phase": str(status.phase),
                    "weight": status.canary_weight,
                    "mirror": status.mirror_weight,
                    "last_verdict": last,
                    "age": now - pd.Timestamp(created) if created else pd.NaT,
                }
            )
        frame = pd.DataFrame(rows, columns=LIST_COLUMNS)
        return frame.sort_values(["namespace", "name"], ignore_index=True)

    def resource(self, rollout: Any) -> dict[str, Any]:
        """The custom resource :meth:`submit` writes (for review, or ``kubectl apply``)."""
        spec = rollout.build() if hasattr(rollout, "build") else rollout
        return resource(spec, spec.metadata.namespace or self.namespace)

    def __repr__(self) -> str:
        return f"<Cluster namespace={self.namespace!r}>"


def _listed_status(obj: dict[str, Any]) -> RolloutStatus:
    """A listed resource's status (an unreadable one shows as a fresh status, not an error)."""
    raw = obj.get("status")
    if not isinstance(raw, dict):
        return RolloutStatus()
    try:
        return RolloutStatus.model_validate({k: v for k, v in raw.items() if k != "kopf"})
    except ValueError:
        return RolloutStatus()


def cluster(
    context: str | None = None, kubeconfig: str | None = None, namespace: str | None = None
) -> Cluster:
    """Connect to a cluster: the pod's service account when running in one, else the
    kubeconfig's current context (or ``context``); ``namespace`` defaults to the context's."""
    try:
        rollouts = ClusterRollouts.connect(kubeconfig=kubeconfig, context=context)
    except ImportError:
        raise SpecError(
            SpecIssue("cluster", "needs the kubernetes client", "pip install 'modelcanary[k8s]'")
        ) from None
    return Cluster(rollouts, namespace or rollouts.namespace)


__all__ = ["LIST_COLUMNS", "Cluster", "ClusterRun", "WatchFeed", "cluster"]
