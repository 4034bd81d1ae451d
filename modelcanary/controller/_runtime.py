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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ..engine import Engine, SystemClock, TickResult
from ..errors import ConflictError, ModelCanaryError, SpecError, TransientProviderError
from ..rollout import Notify, SetRoutes
from ..rollout._observations import next_delay
from ..spec import Condition, MetricProviderSpec, ModelRollout, RolloutStatus
from ..spec._phases import Phase
from ._metric_backends import RolloutMetrics
from ._quiet_store import QuietStatusStore

log = logging.getLogger("modelcanary.controller")

SPEC_CONDITION = "SpecValid"
"""Condition type saying whether the operator can use the spec (False: what to fix)."""
RECONCILED_CONDITION = "Reconciled"
"""Condition type saying that the last tick failed for a reason retrying will not fix (a
missing target, a 403 from RBAC, an invalid object): False with the error; removed once a tick
succeeds again."""
ACTION_PREFIX = "modelcanary.io/action"
"""Annotations of a manual action (``modelcanary.io/action``, ``-id``, ``-reason``)."""
CONFLICT_ATTEMPTS = 3
"""Ticks tried at once when the status write loses a race (kopf's own patch, a user's edit)."""
WARNING_SEVERITIES = ("warn", "warning", "error")
WAITING_DELAY = 1.0
"""Seconds between ticks of a rollout waiting for its champion or challenger to be ready
(``status.waitingSince``), whatever its analysis interval."""
SPEC_ERROR_ATTEMPTS = 5
"""Reads and conditional writes ``report_spec_error`` tries before giving up (conflicts)."""
LOOK_INTERVAL_S = 15.0
"""Seconds between a rollout's looks between intervals (``Engine.look_interval``; a typical
scrape interval: looking faster at Prometheus data sees nothing new). A look reads the
remembered status (no API call) and writes nothing unless it rolls back."""
LOOK_BUDGET = 20.0
"""Looks per second this process makes at most over all its rollouts: with many rollouts each
looks less often (1,000 rollouts: every 50 s), so metric queries stay bounded."""


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
    retry_delay: float = 5.0
    """Seconds before retrying a rollout whose tick failed."""
    spec_retry_delay: float = 60.0
    """Seconds before retrying a rollout whose spec cannot be used (a fix wakes it at once)."""
    keep_idle: Callable[[ModelRollout], bool] | None = None
    """Scales an idle rollout's target back to 0 (True when it did): a GitOps re-apply that
    set its replicas again is undone between rollouts (``KubeWorkloads.keep_idle``)."""
    release: Any = None
    """What a deleted rollout leaves behind (``modelcanary.k8s.KubeRelease``; None: the engine
    alone reverts routing, e.g. in tests without a cluster)."""
    shards: Any = None
    """``controller._sharding.Shards`` when rollouts are sharded over replicas (None: this
    process ticks every rollout it watches)."""
    _due: dict[tuple[str, str], float] = field(default_factory=dict)
    _seen: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    _locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    look_budget: float = LOOK_BUDGET
    """Looks per second over all rollouts (see :data:`LOOK_BUDGET`)."""
    _looking: set[tuple[str, str]] = field(default_factory=set)
    """Rollouts whose next due time is a look between intervals, not a tick."""
    _reverting: set[tuple[str, str]] = field(default_factory=set)
    """Deleted rollouts whose revert has begun: never ticked again (a tick in flight could
    otherwise undo the revert, e.g. scale the target it just scaled up back to idle)."""

    def _lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def begin_revert(self, name: str, namespace: str) -> None:
        """The revert-on-delete handler starts: wait for a tick in flight, then stop ticking."""
        key = (namespace, name)
        with self._lock(key), self._guard:
            self._reverting.add(key)
        if isinstance(self.engine.store, QuietStatusStore):  # read the deletion, not a copy
            self.engine.store.forget(name, namespace)

    def due(self, name: str, namespace: str) -> bool:
        """True when the rollout's next tick is due (always, for one this process never ticked:
        after an operator restart the stored status says where to continue)."""
        return time.monotonic() >= self._due.get((namespace, name), 0.0)

    def until_due(self, name: str, namespace: str) -> float:
        """Seconds until the rollout's next tick is due (0 or less: due now)."""
        return self._due.get((namespace, name), 0.0) - time.monotonic()

    def owns(self, uid: str | None) -> bool:
        """True when this replica ticks the rollout ``uid`` (always, unless sharded)."""
        return self.shards is None or bool(self.shards.owns(uid))

    def postpone(self, name: str, namespace: str, seconds: float) -> None:
        """Let the timer leave the rollout alone for ``seconds`` (after an error)."""
        self._due[(namespace, name)] = time.monotonic() + seconds

    def noticed(self, name: str, namespace: str, body: Any) -> bool:
        """True when a watch event shows a new spec generation or manual action (then the
        rollout is due at once): a spec edit or ``modelcanary.io/action`` is acted on within a
        tick, whatever the rollout's interval."""
        meta = body.get("metadata") or {}
        actions = tuple(
            sorted(
                (k, v)
                for k, v in (meta.get("annotations") or {}).items()
                if k.startswith(ACTION_PREFIX)
            )
        )
        seen = (meta.get("generation"), actions)
        key = (namespace, name)
        if isinstance(self.engine.store, QuietStatusStore):
            self.engine.store.watched(name, namespace, meta.get("resourceVersion"))
        with self._guard:
            changed = self._seen.get(key) != seen
            self._seen[key] = seen
        if changed:
            self._due[key] = 0.0
            self._looking.discard(key)  # an edit or action: a full tick, not a look
        return changed

    def drive(self, name: str, namespace: str, uid: str | None = None) -> bool:
        """One tick with its errors turned into conditions, Events and retry delays; never
        raises. False when the rollout is gone (or replaced by a new one of the same name,
        ``uid`` being the one the caller serves): the caller stops ticking it.

        A lost status write (409: kopf's own patch, a user's edit) is retried at once and
        logged at debug level; a spec error sets ``SpecValid=False``; an error retrying will
        not fix (a missing target, 403, 422) sets ``Reconciled=False`` and a Warning Event;
        a transient one (API or backend unavailable) is only retried.
        """
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                result = self.tick(name, namespace)
            except ConflictError as exc:
                log.debug("%s/%s: status write lost (%d): %s", namespace, name, attempt, exc)
                continue
            except SpecError as exc:
                self.report_spec_error(name, namespace, exc)
                self.postpone(name, namespace, self.spec_retry_delay)
                return True
            except ModelCanaryError as exc:
                self.postpone(name, namespace, self.retry_delay)
                if transient(exc):
                    log.warning("%s/%s: %s (retrying)", namespace, name, exc)
                else:
                    self.report_problem(name, namespace, exc)
                return True
            if result.missing:
                return False
            current = self._current(name, namespace)
            return not (uid and current is not None and current.metadata.uid not in (None, uid))
        self.postpone(name, namespace, 0.0)
        return True

    def forget(self, name: str, namespace: str) -> None:
        """Drop the scheduling state of a rollout that is gone."""
        with self._guard:
            self._due.pop((namespace, name), None)
            self._locks.pop((namespace, name), None)
            self._seen.pop((namespace, name), None)
            self._looking.discard((namespace, name))
        if isinstance(self.engine.store, QuietStatusStore):
            self.engine.store.forget(name, namespace)

    def tick(self, name: str, namespace: str, *, by_revert: bool = False) -> TickResult:
        """One engine tick (never two at once for a rollout), then Events and the next due time.

        Errors propagate (nothing was saved): the kopf handlers turn them into retries or, for
        a SpecError, a permanent error plus the ``SpecValid=False`` condition.
        """
        key = (namespace, name)
        with self._lock(key):
            handed_off = key in self._reverting and not by_revert  # the delete handler's
            looking = key in self._looking and not handed_off and not by_revert
            self._looking.discard(key)
            if handed_off:
                result = TickResult(
                    name, namespace, missing=self.engine.store.get(name, namespace) is None
                )
            elif looking:  # between intervals: no readiness, gates or workloads, no write
                result = self.engine.look(name, namespace)
            else:
                result = self.engine.tick(name, namespace)
            if result.missing:
                self.forget(name, namespace)
                with self._guard:
                    self._reverting.discard(key)
                return result
            if handed_off:
                return result
            current = self._current(name, namespace)
            status = current.status if current is not None else None
            cleared = status is not None and any(c.type in CLEARED for c in status.conditions)
            if cleared and not looking:  # only a tick shows the problem is gone
                self.clear_conditions(name, namespace)
            self._emit(name, namespace, result)
            idle = result.phase is not None and Phase(result.phase).traits.idle_target
            if current is not None and self.keep_idle is not None and idle and not by_revert:
                self._keep_idle(current)
            self._due[key] = time.monotonic() + self._next_delay(name, namespace, result)
        return result

    def _keep_idle(self, rollout: ModelRollout) -> None:
        assert self.keep_idle is not None
        try:
            if self.keep_idle(rollout):
                name, namespace = rollout.name, rollout.metadata.namespace or "default"
                log.info("%s/%s: idle target scaled back to 0", namespace, name)
                if self.events is not None:
                    self.events.emit(
                        rollout,
                        "TargetScaledDown",
                        "the target's replicas were set between rollouts (a re-apply?): scaled "
                        "back to 0, the champion serves (leave spec.replicas out of the "
                        "target's manifest, or let the autoscaler own it)",
                    )
        except ModelCanaryError as exc:
            log.warning("%s: could not keep the idle target at 0: %s", rollout.name, exc)

    def _next_delay(self, name: str, namespace: str, result: TickResult) -> float:
        if result.changed:
            return 0.0  # promotion and finalisation go on at once
        rollout = self._current(name, namespace)
        if rollout is None or rollout.status is None:
            return 0.0
        delay = next_delay(rollout, rollout.status, self.engine.clock.now())
        if rollout.status.waiting_since:  # waiting for a workload: look again in a second
            return min(WAITING_DELAY, delay)
        look = self.engine.look_delay(rollout, rollout.status)
        key = (namespace, name)
        if look is not None:
            look = max(look, len(self._due) / self.look_budget)  # bounded over all rollouts
            if look < delay:
                self._looking.add(key)
                return look
        self._looking.discard(key)
        return delay

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
        routed = any(isinstance(c, SetRoutes) for c in result.commands)
        if not result.changed and not notes and not result.problems and not routed:
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
            first = _first_step(result, notes)
            if first is not None:
                self.events.emit(rollout, "WeightChanged", f"{first}: {status.message}")
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

    def report_problem(self, name: str, namespace: str, error: ModelCanaryError) -> None:
        """Set ``Reconciled=False`` (reason from the error, message = the error and its fix)
        and, when the message is new, a Warning Event; best effort, never raises."""
        message = str(error)
        reason = problem_reason(error)
        log.warning("%s/%s: %s", namespace, name, message)
        for _attempt in range(SPEC_ERROR_ATTEMPTS):
            try:
                stored = self.engine.store.get(name, namespace)
                if stored is None:
                    return
                status = stored.rollout.status or RolloutStatus()
                old = next((c for c in status.conditions if c.type == RECONCILED_CONDITION), None)
                if old is not None and old.message == message and old.reason == reason:
                    return  # already reported: no new write, no repeated Event
                condition = Condition(
                    type=RECONCILED_CONDITION,
                    status="False",
                    reason=reason,
                    message=message,
                    last_transition_time=old.last_transition_time if old else _stamp(),
                    last_update_time=_stamp(),
                )
                others = [c for c in status.conditions if c.type != RECONCILED_CONDITION]
                new = status.updated(conditions=[*others, condition])
                self.engine.store.save_status(name, namespace, new, stored.version)
                if self.events is not None:
                    self.events.emit(stored.rollout, reason, message, warning=True)
                return
            except ConflictError as exc:
                log.debug("%s/%s: status changed while reporting: %s", namespace, name, exc)
            except Exception as exc:
                log.warning("%s/%s: could not record the problem: %s", namespace, name, exc)
                return

    def clear_spec_error(self, name: str, namespace: str) -> None:
        """Drop a ``SpecValid=False`` condition once the spec works again (best effort)."""
        self.clear_conditions(name, namespace)

    def clear_conditions(self, name: str, namespace: str) -> None:
        """Drop the ``SpecValid=False`` and ``Reconciled=False`` conditions once a tick
        succeeds again, and a ``status.message`` that still repeats the spec error (best
        effort): a fixed rollout shows no stale error."""
        try:
            stored = self.engine.store.get(name, namespace)
            if stored is None or stored.rollout.status is None:
                return
            status = stored.rollout.status
            gone = [c for c in status.conditions if c.type in CLEARED]
            if not gone:
                return
            kept = [c for c in status.conditions if c.type not in CLEARED]
            fields: dict[str, Any] = {"conditions": kept}
            if any(c.message and c.message == status.message for c in gone):
                fields["message"] = "the spec error is resolved"
            self.engine.store.save_status(name, namespace, status.updated(**fields), stored.version)
            if self.events is not None:
                self.events.emit(
                    stored.rollout, "Resolved", "resolved: " + "; ".join(c.message for c in gone)
                )
        except Exception as exc:
            log.debug("%s/%s: could not clear the conditions: %s", namespace, name, exc)


CLEARED = (SPEC_CONDITION, RECONCILED_CONDITION)
"""Conditions a successful tick removes."""


def transient(error: BaseException) -> bool:
    """True for an error a retry may fix: an API or backend unavailable (5xx, 429, timeout,
    refused connection), a transient provider error; False for a missing object, 403, 422."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, TransientProviderError):
            return True
        flag = getattr(seen, "transient", None)  # modelcanary.k8s.KubeApiError
        if isinstance(flag, bool):
            return flag
        seen = seen.__cause__ or seen.__context__
    return False


def problem_reason(error: BaseException) -> str:
    """The condition reason (and Event reason) of an error: Forbidden for 403, Invalid for
    422, NotFound for a missing API resource, else the error's class name."""
    seen: BaseException | None = error
    while seen is not None:
        status = getattr(seen, "status", None)
        if isinstance(status, int):
            return {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 422: "Invalid"}.get(
                status, type(error).__name__
            )
        seen = seen.__cause__ or seen.__context__
    return type(error).__name__


def _first_step(result: TickResult, notes: list[Notify]) -> str | None:
    """``weight N%`` when a Progressing tick routed traffic to the challenger without a
    WeightChanged note: the first step (``enter_stage(0)``), which the machine does not
    announce; the later steps are (shifting back during a promotion is Promoting)."""
    if any(note.event == "WeightChanged" for note in notes):
        return None
    if result.phase != Phase.PROGRESSING:
        return None
    for command in result.commands:
        if isinstance(command, SetRoutes):
            routes = command.routes
            if routes.challenger_weight or routes.mirror_weight or routes.match:
                parts = [f"weight {routes.challenger_weight}%"]
                if routes.mirror_weight:
                    parts.append(f"mirror {routes.mirror_weight}%")
                return ", ".join(parts)
    return None


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
    from ..k8s._cluster_objects import KubeClusterObjects
    from ..k8s._events import KubeEvents
    from ..k8s._objects import KubeObjectStore
    from ..k8s._release import KubeRelease
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
        **{"cluster": KubeClusterObjects(client), **(metrics_options or {})},
    )
    engine = Engine(
        store=QuietStatusStore(KubeStatusStore(client)),
        workloads=KubeWorkloads(client, store=objects),
        router=RouterSet(objects),
        metrics=metrics,
        webhooks=webhooks if webhooks is not None else HttpWebhookRunner(secret_reader=secrets),
        clock=clock if clock is not None else SystemClock(),
        look_interval=LOOK_INTERVAL_S,
        save_looks=False,  # a look writes only when it rolls back: the API budget holds
    )

    def patch_status(name: str, namespace: str, fields: dict[str, Any]) -> None:
        client.patch(Ref(API_VERSION, KIND, namespace, name), {"status": fields}, "status")

    workloads = engine.workloads
    assert isinstance(workloads, KubeWorkloads)
    runtime = OperatorRuntime(
        engine, events=KubeEvents(client), patch_status=patch_status, keep_idle=workloads.keep_idle
    )
    runtime.release = KubeRelease(workloads)
    return runtime
