"""The engine: one tick = observe through the ports, ``step``, save status, execute the commands.

All state is in the stored status. A tick records its intent first: the new status is written
with the version precondition, *then* the commands run, so a writer that loses the race (a
``ConflictError``) has changed nothing and fired nothing: no webhook, notification or promotion
runs twice for one transition. The one-shot effects of the tick (webhooks, notifications) ride
in that write as pending effects (:mod:`.effects`) and are cleared once delivered; the
idempotent ones (routes, workloads) are re-derived from the status by
:func:`~modelcanary.rollout._converge.converge` on the first tick an engine runs for a rollout and
after a failed execution. So a killed engine (or a second one, given the same store) continues
exactly where it stopped, and a crash between the write and the effects loses none of them.

Between ticks, :meth:`Engine.look` feeds the traffic since the last look to the sequential
tests through the same ``step`` (:mod:`._look`; rollback only, never a promotion).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConflictError, ModelCanaryError
from ..notify import NotificationDelivery
from ..ports import (
    Clock,
    MetricProvider,
    StatusStore,
    Stored,
    TrafficRouter,
    WebhookRunner,
    Workloads,
)
from ..rollout import Command, SetRoutes, step
from ..rollout._converge import converge
from ..rollout._looks import can_look
from ..spec import ModelRollout, RolloutStatus
from ..spec._phases import Phase
from . import _effects as effects
from ._execute import Executing
from ._observe import Observing
from ._self_metrics import EngineMetrics
from ._webhooks import Gates

log = logging.getLogger("modelcanary.engine")

Key = tuple[str, str]


@dataclass
class TickResult:
    """What one tick did."""

    name: str
    namespace: str
    phase_before: Phase | None = None
    """Phase of the stored status before the tick (None: no tick ran)."""
    phase: Phase | None = None
    """Phase after the tick (None: no tick ran, e.g. the rollout is missing)."""
    commands: list[Command] = field(default_factory=list)
    """Commands executed: pending effects of an earlier tick delivered first, then this one's."""
    problems: list[str] = field(default_factory=list)
    """Non-fatal failures: notifications or fire-and-forget webhooks that did not go through."""
    missing: bool = False
    """The rollout does not exist (any more)."""
    version: str | None = None
    """Version of the stored rollout after this tick's last status write."""

    @property
    def changed(self) -> bool:
        return self.phase != self.phase_before


@dataclass
class Engine(Observing, Executing):
    """Drives rollouts through the ports; one instance may drive many rollouts.

    What a tick observes is gathered by :class:`~._observe.Observing`, its commands are carried
    out by :class:`~._execute.Executing` (both call webhooks through
    :class:`~._webhooks.WebhookCalls`); this class holds the ports and runs the tick.
    """

    store: StatusStore
    workloads: Workloads
    router: TrafficRouter
    metrics: MetricProvider
    """The one metrics port: a backend, or a dispatcher picking one per rollout and metric."""
    webhooks: WebhookRunner
    clock: Clock
    notify_options: dict[str, Any] = field(default_factory=dict)
    """Options of each rollout's NotificationDelivery (providers lookup, secret_reader, env)."""
    self_metrics: EngineMetrics = field(default_factory=EngineMetrics)
    _routers: dict[tuple[str, str, str], NotificationDelivery] = field(default_factory=dict)
    _settled: set[Key] = field(default_factory=set)
    """Rollouts whose routes and workloads this engine knows to match their stored status."""
    _delivered: set[str] = field(default_factory=set)
    """Ids of pending effects this engine delivered whose status is not yet cleared."""
    _conflicted: dict[Key, tuple[ModelRollout, RolloutStatus, Gates]] = field(default_factory=dict)
    """Gate answers of a tick that lost the status write (reused, not asked again)."""
    look_interval: float = 0.0
    """Seconds between two looks between intervals (:meth:`look`); 0: no looks."""
    save_looks: bool = True
    """Write the status after every look (the tests' state and the watermark). False: a look
    writes only when it rolls back; its state is kept in memory until the interval tick writes
    it (a restarted engine feeds the traffic since the stored watermark in one batch)."""
    _looks: dict[Key, tuple[str | None, RolloutStatus]] = field(default_factory=dict)
    """Unsaved look results (``save_looks=False``): the stored version they build on, and the
    status with the tests' state after the looks."""

    # -- one tick -------------------------------------------------------------------------
    def tick(self, name: str, namespace: str = "default") -> TickResult:
        """Run one tick of a rollout; raises RouterError/WorkloadError/ConflictError on failure.

        A ConflictError on the status write means nothing was executed: the next tick starts
        again from the stored status. An error while executing leaves the written status
        ahead of the world: the next tick converges routes and workloads to it first.
        """
        started = time.perf_counter()
        key = (namespace, name)
        stored = self.store.get(name, namespace)
        result = TickResult(name, namespace)
        if stored is None:
            result.missing = True
            self._settled.discard(key)
            self._conflicted.pop(key, None)
            return result
        rollout = stored.rollout
        status = rollout.status or RolloutStatus()
        if key not in self._settled:
            self._converge(rollout, status)
            self._settled.add(key)
        stored, status = self._deliver_pending(stored, result)
        status = self._unsaved_looks(key, stored, status)
        now = self.clock.now()
        reuse = self._reuse(key, rollout, status)
        obs = self.observe(rollout, status, now, stored.deleted, reuse)
        new_status, commands = step(rollout, status, obs, now)
        result.phase_before, result.phase = status.phase, new_status.phase
        self._looks.pop(key, None)  # the tick writes what the looks fed (or re-reads it)
        try:
            self._commit(stored, new_status, commands, result)
        except ConflictError:
            self._conflicted[key] = (rollout, status, (obs.gates, obs.gate_messages))
            raise
        self.self_metrics.observe(
            rollout, new_status, result.commands, time.perf_counter() - started
        )
        return result

    def _commit(
        self, stored: Stored, new_status: RolloutStatus, commands: list[Command], result: TickResult
    ) -> None:
        """Write ``new_status`` with its one-shot effects pending (version precondition:
        ConflictError when it lost), execute ``commands``, then clear the delivered effects."""
        rollout = stored.rollout
        name, namespace = rollout.name, rollout.metadata.namespace or "default"
        tick_id = uuid.uuid4().hex[:16]
        intent = effects.with_pending(new_status, tick_id, commands)
        version = self.store.save_status(name, namespace, intent, stored.version)
        result.commands += commands
        try:
            result.problems += self.execute(rollout, new_status, commands, tick_id)
        except BaseException:
            self._settled.discard((namespace, name))  # the world is behind: converge next tick
            raise
        result.version = version
        if intent is not new_status:
            owed = effects.pending_of(intent)
            result.version = self._clear(name, namespace, new_status, version, owed)

    # -- looks between intervals ------------------------------------------------------------
    def look(self, name: str, namespace: str = "default") -> TickResult:
        """Feed the traffic since the last look to the sequential tests (:mod:`._look`)."""
        from ._look import look_once

        return look_once(self, name, namespace)

    def look_delay(self, rollout: ModelRollout, status: RolloutStatus) -> float | None:
        """Seconds until the rollout's next look, or None when it makes none now."""
        if self.look_interval <= 0 or not can_look(rollout, status):
            return None
        return self.look_interval

    def _unsaved_looks(self, key: Key, stored: Stored, status: RolloutStatus) -> RolloutStatus:
        """The status after this engine's unsaved looks, when they build on the stored version
        (else the stored status: another writer came between, its watermark is the truth)."""
        kept = self._looks.get(key)
        if kept is None or kept[0] != stored.version:
            self._looks.pop(key, None)
            return status
        return kept[1]

    def _converge(self, rollout: ModelRollout, status: RolloutStatus) -> None:
        """Bring routes and workloads to what ``status`` says (routes only when they differ)."""
        for command in converge(rollout, status):
            if isinstance(command, SetRoutes):
                try:
                    if self.router.get_routes(rollout) == command.routes:
                        continue
                except ModelCanaryError:  # e.g. no routing objects yet: apply them
                    pass
            self.execute(rollout, status, [command])

    def _deliver_pending(self, stored: Stored, result: TickResult) -> tuple[Stored, RolloutStatus]:
        """Deliver the effects an earlier tick recorded but did not clear, then clear them."""
        rollout = stored.rollout
        status = rollout.status or RolloutStatus()
        pending = effects.pending_of(status)
        if pending is None:
            return stored, status
        status = effects.without_pending(status)
        shots: list[Command] = list(pending.effects)
        ids = pending.ids()
        result.commands += [c for c, i in zip(shots, ids, strict=True) if i not in self._delivered]
        result.problems += self.execute(rollout, status, shots, pending.tick)
        name, namespace = rollout.name, rollout.metadata.namespace or "default"
        version = self.store.save_status(name, namespace, status, stored.version)
        self._delivered.difference_update(ids)
        cleared = rollout.model_copy(update={"status": status})
        return Stored(cleared, version, stored.deleted), status

    def _clear(
        self,
        name: str,
        namespace: str,
        status: RolloutStatus,
        version: str | None,
        delivered: effects.Pending | None,
    ) -> str | None:
        """Write ``status`` without its delivered effects; on a conflict (an annotation written
        meanwhile) re-read and clear them from what is stored, if it still owes them. Returns
        the version now stored, as far as this engine knows."""
        for _attempt in range(3):
            try:
                version = self.store.save_status(name, namespace, status, version)
            except ConflictError as exc:
                log.info("%s/%s: clearing delivered effects again: %s", namespace, name, exc)
                stored = self.store.get(name, namespace)
                current = (stored.rollout.status if stored else None) or RolloutStatus()
                owed = effects.pending_of(current)
                if stored is None or owed is None or delivered is None or owed != delivered:
                    return version  # nothing owed any more, or another engine's effects
                status, version = effects.without_pending(current), stored.version
                continue
            self._delivered.difference_update(delivered.ids() if delivered else [])
            return version
        return version  # still owed: the next tick clears it (skipping what was delivered)

    def _reuse(self, key: Key, rollout: ModelRollout, status: RolloutStatus) -> Gates | None:
        """Gate answers of the tick that lost its write just before, when spec and status are
        still the ones they were asked for (so ``pre-rollout`` hooks are not called twice)."""
        kept = self._conflicted.pop(key, None)
        if kept is None or kept[0].spec != rollout.spec or kept[1] != status:
            return None
        return kept[2]
