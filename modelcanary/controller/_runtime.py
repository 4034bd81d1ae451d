"""The operator's runtime: one Engine for every ModelRollout of the cluster, ticked by kopf.

:func:`build_runtime` wires the engine to the cluster: ``KubeStatusStore`` (status subresource),
``KubeWorkloads`` (Deployments, Services, HPAs), ``RouterSet(KubeObjectStore)`` (the mesh or
ingress each rollout names), :class:`~modelcanary.controller._metric_backends.RolloutMetrics` (the
metrics backend each rollout names, Secrets read from its namespace), ``HttpWebhookRunner`` and
``SystemClock``. :class:`OperatorRuntime` adds what a cluster needs around ``Engine.tick``: one
tick at a time per rollout, the next tick's due time (each rollout keeps its own analysis
interval although kopf's timer is short and fixed), Kubernetes Events for every phase
transition and every notification, and a status condition for a spec the operator cannot use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ..engine import Engine, SystemClock, TickResult
from ..errors import ConflictError, SpecError
from ..ports import StatusStore, Stored
from ..rollout import Notify
from ..rollout._observations import next_delay
from ..spec import Condition, MetricProviderSpec, ModelRollout, RolloutStatus
from ..spec._phases import Phase
from ._metric_backends import RolloutMetrics

log = logging.getLogger("modelcanary.controller")

SPEC_CONDITION = "SpecValid"
"""Condition type saying whether the operator can use the spec (False: what to fix)."""
WARNING_SEVERITIES = ("warn", "warning", "error")
SPEC_ERROR_ATTEMPTS = 5
"""Reads and conditional writes ``report_spec_error`` tries before giving up (conflicts)."""


class EventSink(Protocol):
    """Kubernetes Events about a rollout (``modelcanary.k8s.KubeEvents``)."""

    def emit(self, rollout: ModelRollout, reason: str, message: str, warning: bool = False) -> Any:
        """Record one event on the rollout."""
        ...


StatusPatcher = Callable[[str, str, dict[str, Any]], None]
"""``patch(name, namespace, status_fields)``: a raw merge patch of the status subresource, for
a resource too broken to parse into a ModelRollout."""


@dataclass
class OperatorRuntime:
    """An Engine plus per-rollout scheduling, locking and Events."""

    engine: Engine
    events: EventSink | None = None
    patch_status: StatusPatcher | None = None
    _due: dict[tuple[str, str], float] = field(default_factory=dict)
    _locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def _lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def due(self, name: str, namespace: str) -> bool:
        """True when the rollout's next tick is due (always, for one this process never ticked:
        after an operator restart the stored status says where to continue)."""
        return time.monotonic() >= self._due.get((namespace, name), 0.0)

    def postpone(self, name: str, namespace: str, seconds: float) -> None:
        """Let the timer leave the rollout alone for ``seconds`` (after an error)."""
        self._due[(namespace, name)] = time.monotonic() + seconds

    def forget(self, name: str, namespace: str) -> None:
        """Drop the scheduling state of a rollout that is gone."""
        with self._guard:
            self._due.pop((namespace, name), None)
            self._locks.pop((namespace, name), None)
        if isinstance(self.engine.store, QuietStatusStore):
            self.engine.store.forget(name, namespace)

    def tick(self, name: str, namespace: str) -> TickResult:
        """One engine tick (never two at once for a rollout), then Events and the next due time.

        Errors propagate (nothing was saved): the kopf handlers turn them into retries or, for
        a SpecError, a permanent error plus the ``SpecValid=False`` condition.
        """
        key = (namespace, name)
        with self._lock(key):
            result = self.engine.tick(name, namespace)
            if result.missing:
                self.forget(name, namespace)
                return result
            current = self._current(name, namespace)
            status = current.status if current is not None else None
            if status is not None and any(c.type == SPEC_CONDITION for c in status.conditions):
                self.clear_spec_error(name, namespace)
            self._emit(name, namespace, result)
            self._due[key] = time.monotonic() + self._next_delay(name, namespace, result)
        return result

    def _next_delay(self, name: str, namespace: str, result: TickResult) -> float:
        if result.changed:
            return 0.0  # promotion and finalisation go on at once
        rollout = self._current(name, namespace)
        if rollout is None or rollout.status is None:
            return 0.0
        return next_delay(rollout, rollout.status, self.engine.clock.now())

    def _current(self, name: str, namespace: str) -> ModelRollout | None:
        """The rollout with the status the last tick saved (no API call when the store is a
        QuietStatusStore, which remembers it)."""
        store = self.engine.store
        if isinstance(store, QuietStatusStore):
            known = store.last(name, namespace)
            if known is not None:
                return known
        stored = store.get(name, namespace)
        return stored.rollout if stored is not None else None

    def _emit(self, name: str, namespace: str, result: TickResult) -> None:
        if self.events is None:
            return
        notes = [c for c in result.commands if isinstance(c, Notify)]
        if not result.changed and not notes and not result.problems:
            return
        rollout = self._current(name, namespace)
        if rollout is None:
            return
        status = rollout.status or RolloutStatus()
        try:
            if result.changed and result.phase is not None:
                failed = result.phase == Phase.FAILED
                self.events.emit(
                    rollout,
                    result.phase.value,
                    f"phase {result.phase_before or '-'} -> {result.phase}: {status.message}",
                    warning=failed,
                )
            for note in notes:
                warning = note.severity in WARNING_SEVERITIES
                self.events.emit(rollout, note.event, note.message, warning=warning)
            for problem in result.problems:
                self.events.emit(rollout, "Problem", problem, warning=True)
        except Exception as exc:  # events are for people: never fail a tick for one
            log.warning("%s/%s: could not record an event: %s", namespace, name, exc)

    # -- a spec the operator cannot use -------------------------------------------------
    def report_spec_error(self, name: str, namespace: str, error: SpecError) -> None:
        """Set the ``SpecValid=False`` condition (reason InvalidSpec, message = what to fix) and
        a Warning event; best effort, never raises.

        The status is written with the version it was read at (as the engine writes it): a
        concurrent writer makes it re-read and apply the condition on top, never overwrite.
        """
        message = spec_message(error)
        condition = Condition(
            type=SPEC_CONDITION,
            status="False",
            reason="InvalidSpec",
            message=message,
            last_transition_time=_stamp(),
            last_update_time=_stamp(),
        )
        for _attempt in range(SPEC_ERROR_ATTEMPTS):
            try:
                stored = self.engine.store.get(name, namespace)
            except SpecError:
                stored = None
            except Exception as exc:
                log.warning(
                    "%s/%s: cannot read the rollout to report %s: %s", namespace, name, message, exc
                )
                return
            try:
                if stored is not None:
                    status = stored.rollout.status or RolloutStatus()
                    others = [c for c in status.conditions if c.type != SPEC_CONDITION]
                    new = status.updated(conditions=[*others, condition], message=message)
                    self.engine.store.save_status(name, namespace, new, stored.version)
                    if self.events is not None:
                        self.events.emit(stored.rollout, "InvalidSpec", message, warning=True)
                elif self.patch_status is not None:
                    self.patch_status(
                        name,
                        namespace,
                        {"conditions": [condition.to_dict()], "message": message},
                    )
                return
            except ConflictError as exc:
                log.info(
                    "%s/%s: status changed while reporting, re-reading: %s", namespace, name, exc
                )
            except Exception as exc:
                log.warning("%s/%s: could not record the spec error: %s", namespace, name, exc)
                return
        log.warning("%s/%s: could not record the spec error: %s", namespace, name, message)

    def clear_spec_error(self, name: str, namespace: str) -> None:
        """Drop a ``SpecValid=False`` condition once the spec works again (best effort)."""
        try:
            stored = self.engine.store.get(name, namespace)
            if stored is None or stored.rollout.status is None:
                return
            status = stored.rollout.status
            if not any(c.type == SPEC_CONDITION for c in status.conditions):
                return
            kept = [c for c in status.conditions if c.type != SPEC_CONDITION]
            self.engine.store.save_status(
                name, namespace, status.updated(conditions=kept), stored.version
            )
        except Exception as exc:
            log.debug("%s/%s: could not clear the spec condition: %s", namespace, name, exc)


class QuietStatusStore:
    """A StatusStore that does not write a status equal to the one it just read.

    Most ticks change nothing (waiting for readiness, holding a weight until the next
    interval); skipping those writes spares the API server, the watch streams of every
    operator replica, and keeps kopf's own patches (finalizer removal) from racing a status
    write that changed nothing.
    """

    def __init__(self, inner: StatusStore) -> None:
        self.inner = inner
        self._read: dict[tuple[str, str], tuple[str | None, ModelRollout]] = {}
        self._lock = threading.Lock()

    def get(self, name: str, namespace: str) -> Stored | None:
        """The stored rollout (remembered to compare the next save with)."""
        stored = self.inner.get(name, namespace)
        with self._lock:
            if stored is None:
                self._read.pop((namespace, name), None)
            else:
                self._read[(namespace, name)] = (stored.version, stored.rollout)
        return stored

    def forget(self, name: str, namespace: str) -> None:
        """Drop what is remembered of a rollout that is gone."""
        with self._lock:
            self._read.pop((namespace, name), None)

    def last(self, name: str, namespace: str) -> ModelRollout | None:
        """The rollout as last read, with the status last saved (None if unknown)."""
        with self._lock:
            read = self._read.get((namespace, name))
        return read[1] if read is not None else None

    def stamp(self, name: str, namespace: str) -> Hashable | None:
        """The inner store's fingerprint (nothing to remember: a read-only look)."""
        return self.inner.stamp(name, namespace)

    def save_status(
        self, name: str, namespace: str, status: RolloutStatus, expected_version: str | None
    ) -> str | None:
        """Write ``status`` unless it equals the status read at ``expected_version``."""
        with self._lock:
            read = self._read.get((namespace, name))
        if read is not None and read[0] == expected_version and read[1].status == status:
            return expected_version
        version = self.inner.save_status(name, namespace, status, expected_version)
        if read is not None:
            with self._lock:
                self._read[(namespace, name)] = (
                    version,
                    read[1].model_copy(update={"status": status}),
                )
        return version


def spec_message(error: SpecError) -> str:
    """One line per issue: ``path: message (fix: hint)``."""
    parts = []
    for issue in error.issues:
        text = f"{issue.path}: {issue.message}" if issue.path else issue.message
        if issue.hint:
            text += f" (fix: {issue.hint})"
        parts.append(text)
    return "; ".join(parts) or str(error)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_runtime(
    api: Any,
    *,
    metrics_server: str | None = None,
    clock: Any = None,
    webhooks: Any = None,
    metrics_options: dict[str, Any] | None = None,
) -> OperatorRuntime:
    """The operator's runtime on ``api`` (a ``kubernetes.client.ApiClient`` from
    ``modelcanary.k8s``); ``metrics_server`` is the Prometheus address of rollouts that name
    no ``spec.metricsProvider`` (Flagger's ``-metrics-server``)."""
    from ..hooks import HttpWebhookRunner
    from ..k8s._client import KubeClient, Ref
    from ..k8s._events import KubeEvents
    from ..k8s._objects import KubeObjectStore
    from ..k8s._secret_reader import KubeSecretReader
    from ..k8s._status import API_VERSION, KIND, KubeStatusStore
    from ..k8s._workloads import KubeWorkloads
    from ..routers._registry import RouterSet
    from ._templates import TEMPLATE_API, TEMPLATE_KIND

    client = KubeClient(api)
    objects = KubeObjectStore(client)
    default = (
        MetricProviderSpec(type="prometheus", address=metrics_server) if metrics_server else None
    )

    def template(namespace: str, name: str) -> dict[str, Any] | None:
        return objects.get(TEMPLATE_API, TEMPLATE_KIND, namespace, name)

    secrets = KubeSecretReader(client)  # metric credentials and webhook tokens (secretRef)
    metrics = RolloutMetrics(
        default=default,
        secret_reader=secrets,
        templates=template,
        **(metrics_options or {}),
    )
    engine = Engine(
        store=QuietStatusStore(KubeStatusStore(client)),
        workloads=KubeWorkloads(client, store=objects),
        router=RouterSet(objects),
        metrics=metrics,
        webhooks=webhooks if webhooks is not None else HttpWebhookRunner(secret_reader=secrets),
        clock=clock if clock is not None else SystemClock(),
    )

    def patch_status(name: str, namespace: str, fields: dict[str, Any]) -> None:
        client.patch(Ref(API_VERSION, KIND, namespace, name), {"status": fields}, "status")

    return OperatorRuntime(engine, events=KubeEvents(client), patch_status=patch_status)
