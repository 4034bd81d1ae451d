"""The engine: one tick = observe through the ports, ``step``, execute the commands, save status.

All state is in the stored status, written once per tick after every command succeeded, so a
killed engine (or a second one, given the same store) continues exactly where it stopped.
Commands are idempotent (routes, ensure, scale, promote), so a tick that dies half-way is
simply done again: at-least-once execution, exactly-once status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from ..analysis.measurements import IntervalData, Window
from ..errors import ProviderError, WorkloadError
from ..notify import NotificationRouter
from ..ports import (
    Clock,
    MetricProvider,
    Notification,
    ProviderDispatch,
    StatusStore,
    TrafficRouter,
    WebhookPayload,
    WebhookResult,
    WebhookRunner,
    Workloads,
)
from ..rollout import (
    Command,
    EnsureChallenger,
    Finalize,
    Notify,
    Observations,
    PromoteChallenger,
    Readiness,
    RecordAnalysis,
    RunWebhooks,
    ScaleChallenger,
    SetRoutes,
    analysis_due,
    gates_needed,
    step,
)
from ..rollout.times import parse_time
from ..spec import MetricSpec, ModelRollout, RolloutStatus
from .actions import action_from
from .metrics import EngineMetrics

log = logging.getLogger("modelcanary.engine")

ProviderFor = Callable[[MetricSpec], MetricProvider]


@dataclass
class TickResult:
    """What one tick did."""

    name: str
    namespace: str
    phase_before: str = ""
    phase: str = ""
    commands: list[Command] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Non-fatal failures: notifications or fire-and-forget webhooks that did not go through."""
    missing: bool = False
    """The rollout does not exist (any more)."""

    @property
    def changed(self) -> bool:
        return self.phase != self.phase_before


@dataclass
class Engine:
    """Drives rollouts through the ports; one instance may drive many rollouts."""

    store: StatusStore
    workloads: Workloads
    router: TrafficRouter
    metrics: MetricProvider
    webhooks: WebhookRunner
    clock: Clock
    notify_options: dict[str, Any] = field(default_factory=dict)
    """Options of each rollout's NotificationRouter (providers lookup, secret_reader, env)."""
    provider_for: ProviderFor | None = None
    """Provider of a custom-query metric (default: ``metrics`` for everything)."""
    self_metrics: EngineMetrics = field(default_factory=EngineMetrics)
    _routers: dict[tuple[str, str, str], NotificationRouter] = field(default_factory=dict)

    def notifications(self, rollout: ModelRollout) -> NotificationRouter:
        """The rollout's notification router (rebuilt when its alerts change)."""
        alerts = rollout.spec.analysis.alerts
        key = (_ns(rollout), rollout.name, repr(alerts))
        if key not in self._routers:
            self._routers[key] = NotificationRouter(
                alerts, namespace=_ns(rollout), **self.notify_options
            )
        return self._routers[key]

    # -- one tick -------------------------------------------------------------------------
    def tick(self, name: str, namespace: str = "default") -> TickResult:
        """Run one tick of a rollout; raises RouterError/WorkloadError/ConflictError on failure
        (nothing is saved then: the next tick starts again from the stored status)."""
        started = time.perf_counter()
        stored = self.store.get(name, namespace)
        result = TickResult(name, namespace)
        if stored is None:
            result.missing = True
            return result
        rollout = stored.rollout
        status = rollout.status or RolloutStatus()
        now = self.clock.now()
        obs = self.observe(rollout, status, now, stored.deleted)
        new_status, commands = step(rollout, status, obs, now)
        result.phase_before, result.phase, result.commands = (
            status.phase,
            new_status.phase,
            commands,
        )
        result.problems = self.execute(rollout, new_status, commands)
        self.store.save_status(name, namespace, new_status, stored.version)
        self.self_metrics.observe(rollout, new_status, commands, time.perf_counter() - started)
        return result

    # -- observe --------------------------------------------------------------------------
    def observe(
        self, rollout: ModelRollout, status: RolloutStatus, now: datetime, deleted: bool = False
    ) -> Observations:
        """Gather readiness, gates, measurements and manual actions for this tick."""
        if deleted:
            return Observations(deleted=True)
        try:
            readiness: Readiness | None = self.workloads.readiness(rollout)
        except WorkloadError as exc:
            readiness = Readiness(False, False, None, str(exc))
        gates, messages = self._gates(rollout, status)
        offline = self._offline(rollout) if status.phase == "Initializing" else None
        data, error = None, None
        if analysis_due(rollout, status, now):
            data, error = self._collect(rollout, status, now)
        return Observations(
            readiness=readiness,
            data=data,
            gates=gates,
            gate_messages=messages,
            action=action_from(rollout),
            provider_error=error,
            providers_offline=offline,
        )

    def _offline(self, rollout: ModelRollout) -> str | None:
        """Initialisation check: the providers of this rollout that fail ``is_online()``.

        A provider spec that cannot be built raises its SpecError here, before any traffic.
        """
        custom = [m for m in rollout.spec.analysis.metrics if not m.is_builtin]
        if isinstance(self.metrics, ProviderDispatch):
            chosen = [self.metrics.for_rollout(rollout)]
            chosen += [self.metrics.for_metric(m, rollout) for m in custom]
        else:
            chosen = [self.metrics]
            if self.provider_for is not None:
                chosen += [self.provider_for(m) for m in custom]
        providers = {id(p): p for p in chosen}
        down = [p for p in providers.values() if not p.is_online()]
        if not down:
            return None
        reasons = [str(getattr(p, "last_error", "") or "") for p in down]
        return "; ".join(
            f"{p.name} is offline" + (f" ({why})" if why else "")
            for p, why in zip(down, reasons, strict=True)
        )

    def _gates(
        self, rollout: ModelRollout, status: RolloutStatus
    ) -> tuple[dict[str, bool], dict[str, str]]:
        gates: dict[str, bool] = {}
        messages: dict[str, str] = {}
        for kind in sorted(gates_needed(rollout, status)):
            # Flagger calls gate hooks until the first failure, rollback hooks until a pass
            first: Literal["failure", "pass"] = "pass" if kind == "rollback" else "failure"
            results = self.run_webhooks(rollout, status, kind, stop_at_first=first)
            # a rollback hook that answers 2xx asks for a rollback; every other gate must pass
            passed = [r.passed for r in results]
            gates[kind] = any(passed) if kind == "rollback" else all(passed)
            failing = [f"{r.name}: {r.message}" for r in results if not r.passed]
            if failing:
                messages[kind] = "; ".join(failing)
        return gates, messages

    def _collect(
        self, rollout: ModelRollout, status: RolloutStatus, now: datetime
    ) -> tuple[IntervalData | None, str | None]:
        start = parse_time(status.last_analysis_time) if status.last_analysis_time else now
        window = Window(start.timestamp(), now.timestamp())
        try:
            data = self.metrics.collect(rollout, window)
            custom: dict[str, object] = {}
            for metric in rollout.spec.analysis.metrics:
                if not metric.is_builtin:
                    provider = self.provider_for(metric) if self.provider_for else self.metrics
                    custom[metric.name] = provider.query(metric, rollout, window)
        except ProviderError as exc:
            return None, str(exc)
        if custom:
            values = {**data.challenger.values, **custom}
            data = replace(data, challenger=replace(data.challenger, values=values))  # type: ignore[arg-type]
        return data, None

    # -- execute --------------------------------------------------------------------------
    def execute(
        self, rollout: ModelRollout, status: RolloutStatus, commands: list[Command]
    ) -> list[str]:
        """Carry out the commands in order; routing/workload errors propagate."""
        problems: list[str] = []
        for command in commands:
            if isinstance(command, SetRoutes):
                self.router.set_routes(rollout, command.routes)
            elif isinstance(command, EnsureChallenger):
                self.workloads.ensure(rollout)
                self.router.reconcile(rollout)
            elif isinstance(command, ScaleChallenger):
                self.workloads.scale_challenger(rollout, command.replicas)
            elif isinstance(command, PromoteChallenger):
                self.workloads.promote(rollout)
            elif isinstance(command, Finalize):
                self.router.finalize(rollout)
            elif isinstance(command, RunWebhooks):
                results = self.run_webhooks(rollout, status, command.type)
                problems += [
                    f"{r.type} webhook {r.name}: {r.message}" for r in results if not r.passed
                ]
            elif isinstance(command, Notify):
                problems += self._notify(rollout, status, command)
            elif isinstance(command, RecordAnalysis):
                log.info(
                    "%s/%s analysis %s: %s",
                    _ns(rollout),
                    rollout.name,
                    command.verdict,
                    command.message,
                )
        for problem in problems:
            log.warning("%s/%s: %s", _ns(rollout), rollout.name, problem)
        return problems

    def run_webhooks(
        self,
        rollout: ModelRollout,
        status: RolloutStatus,
        kind: str,
        extra: Mapping[str, str] | None = None,
        stop_at_first: Literal["failure", "pass"] | None = None,
    ) -> list[WebhookResult]:
        """Call the webhooks of ``kind`` in order with Flagger's payload, optionally stopping
        at the first failure or the first pass."""
        results = []
        for hook in rollout.spec.analysis.webhooks:
            if hook.type != kind:
                continue
            payload = WebhookPayload(
                name=rollout.name,
                namespace=_ns(rollout),
                phase=status.phase,
                checksum=status.last_applied_spec or rollout.spec_hash(),
                type=kind,
                metadata={**(hook.metadata or {}), **(extra or {})},
            )
            result = self.webhooks.run(hook, payload)
            results.append(result)
            if stop_at_first == ("pass" if result.passed else "failure"):
                break
        return results

    def _notify(self, rollout: ModelRollout, status: RolloutStatus, command: Notify) -> list[str]:
        problems: list[str] = []
        stamp = str(int(self.clock.now().timestamp() * 1000))
        event = {"eventMessage": command.message, "eventType": command.event, "timestamp": stamp}
        for result in self.run_webhooks(rollout, status, "event", event):
            if not result.passed:
                problems.append(f"event webhook {result.name}: {result.message}")
        if rollout.spec.analysis.alerts:
            note = Notification(
                rollout=rollout.name,
                namespace=_ns(rollout),
                event=command.event,
                severity=command.severity,
                message=command.message,
                phase=status.phase,
                fields=dict(command.fields),
            )
            for delivery in self.notifications(rollout).send(note):
                if not delivery.ok:
                    problems.append(f"alert {delivery.alert} ({delivery.type}): {delivery.error}")
        return problems


def _ns(rollout: ModelRollout) -> str:
    return rollout.metadata.namespace or "default"
