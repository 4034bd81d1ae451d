"""The MLflow registry hook: a challenger alias set in the registry starts a rollout.

``RegistryHook`` listens for MLflow registry webhooks (signed, see ``mlflow_hook_receiver``)
AND polls the registry every ``poll_interval`` seconds: MLflow delivers webhooks fire-and-forget,
so a receiver that was down, or a webhook never registered, must not lose an alias change.
Events only say "look at this model"; the registry is re-read before acting (events can be
stale or replayed). One rollout per model at a time: a newer challenger aborts the running one;
a deleted challenger alias aborts it too. The policy itself lives in ``mlflow_policy``.

Two places to run a rollout: the embedded local runtime (default; closing the hook aborts the
rollouts in flight), or a cluster (``cluster=ClusterRollouts``): the model's ModelRollout is
created or patched and the operator runs it; the hook follows it (``mlflow_cluster``), and
closing the hook leaves it running. On start, a cluster hook first re-attaches to the
undecided rollouts it manages, so a restart loses nothing and repeats no verdict.
mlflow is imported lazily (importing this module does not import it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..spec import ModelRollout
from ._mlflow_cluster import ClusterTarget
from ._mlflow_follow import Follower
from ._mlflow_hook_receiver import DeliveryVerifier, RegistryEvent, WebhookReceiver
from ._mlflow_policy import (
    EXPERIMENT,
    REASON_TAG,
    VERDICT_TAG,
    Outcome,
    OwnChanges,
    alias_version,
    client_for,
    decide,
    set_tag,
    version_tags,
)
from ._mlflow_progress import ProgressLog, stage_of
from ._mlflow_register import WEBHOOK_EVENTS, register_webhook

__all__ = ["WEBHOOK_EVENTS", "RegistryHook", "register_webhook"]

if TYPE_CHECKING:
    from ..controller._cluster import ClusterRollouts

log = logging.getLogger("modelcanary.mlflow")

RECENT_OUTCOMES = 20
"""Verdicts kept for ``status()`` (the receiver's ``GET /status``)."""


@dataclass
class _Active:
    """A rollout in flight for one model."""

    version: str
    run: Any = None
    since: float = field(default_factory=time.time)
    cancelled: str | None = None
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    progress: ProgressLog | None = None
    """Logs the rollout's changes (stage, intervals, waits, verdict) as they happen."""

    def abort(self, reason: str) -> None:
        with self.lock:
            self.cancelled = reason
            if self.run is not None:
                self.run.act("abort", reason)

    def started(self, run: Any) -> None:
        """A local run started: follow its ticks (progress lines), abort it if cancelled."""
        if self.progress is not None:
            self.progress.follow(run)
        with self.lock:
            self.run = run
            if self.cancelled is not None:
                run.act("abort", self.cancelled)


class RegistryHook:
    """Webhook receiver + registry poller that turns challenger aliases into rollouts."""

    def __init__(
        self,
        tracking_uri: str | None,
        *,
        secret: str | None = None,
        template: ModelRollout | str | Path | None = None,
        models: Sequence[str] = (),
        challenger_alias: str = "challenger",
        champion_alias: str = "champion",
        poll_interval: float = 10.0,
        payloads: list[bytes] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        experiment: str = EXPERIMENT,
        on_outcome: Callable[[Outcome], None] | None = None,
        cluster: ClusterRollouts | None = None,
        namespace: str | None = None,
        status_hosts: Sequence[str] = (),
    ) -> None:
        self.tracking_uri = tracking_uri
        self.template = template
        self.models = list(models)
        self.challenger_alias = challenger_alias
        self.champion_alias = champion_alias
        self.poll_interval = poll_interval
        self.payloads = payloads
        self.experiment = experiment
        self.on_outcome = on_outcome
        self.outcomes: list[Outcome] = []
        self.own = OwnChanges()
        self.client = client_for(tracking_uri)
        self.cluster: ClusterTarget | None = None
        """Cluster mode: where the model's ModelRollout goes (None: the local runtime)."""
        if cluster is not None:
            self.cluster = ClusterTarget(
                cluster,
                namespace or cluster.namespace,  # default: the connection's namespace
                template,
                tracking_uri,
                champion_alias=champion_alias,
                challenger_alias=challenger_alias,
                experiment=experiment,
            )
        self.receiver: WebhookReceiver | None = None
        if secret:
            verifier = DeliveryVerifier(secret)
            self.receiver = WebhookReceiver(
                verifier,
                self.handle,
                host=host,
                port=port,
                status=self.status,
                status_hosts=status_hosts,  # Host names GET /status answers besides IPs
            )
        self._active: dict[str, _Active] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The webhook receiver's address ("" without a secret: polling only)."""
        return self.receiver.url if self.receiver is not None else ""

    def start(self) -> RegistryHook:
        """Start the receiver and the poller (the first poll runs at once). In cluster mode
        the rollouts the hook manages are re-attached first (errors reaching the cluster or
        the registry are raised here)."""
        if self.cluster is not None:
            self.reconcile()
        if self.receiver is not None:
            self.receiver.start()
        self._poller = threading.Thread(
            target=self._poll_loop, name="modelcanary-poll", daemon=True
        )
        self._poller.start()
        return self

    def close(self) -> None:
        """Stop receiving and polling and wait for the rollouts in flight: local ones are
        aborted; cluster ones go on in the operator (only the following stops)."""
        self._stop.set()
        if self.receiver is not None:
            self.receiver.close()
        with self._lock:
            active = list(self._active.values())
        for item in active:
            if isinstance(item.run, Follower):
                item.run.stop()
            else:
                item.abort("modelcanary mlflow hook stopped")
        for item in active:
            if item.thread is not None:
                item.thread.join(timeout=60)
        if self._poller is not None:
            self._poller.join(timeout=10)

    def __enter__(self) -> RegistryHook:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no rollout is in flight; False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                threads = [a.thread for a in self._active.values() if a.thread is not None]
            if not threads:
                return True
            for thread in threads:
                left = None if end is None else max(0.0, end - time.monotonic())
                thread.join(left)
            if end is not None and time.monotonic() >= end:
                with self._lock:
                    return not self._active

    def status(self) -> dict[str, Any]:
        """What the hook is doing, as JSON data (``GET /status`` on the receiver): the
        rollouts in flight (model, version, since, and where each is: phase, challenger and
        mirror weight, message, last interval; in cluster mode as the operator last wrote it)
        and the last verdicts."""
        with self._lock:
            active = sorted(self._active.items())
        rollouts = []
        for name, item in active:
            entry: dict[str, Any] = {
                "model": name,
                "version": item.version,
                "since": _stamp(item.since),
                "cancelled": item.cancelled,
            }
            current = getattr(item.run, "status", None)
            if callable(current):  # a local run: its live status
                entry |= stage_of(current())
            elif item.progress is not None:  # cluster: the last status the operator wrote
                entry |= item.progress.summary()
            rollouts.append(entry)
        outcomes = [
            {"model": o.name, "version": o.version, "outcome": o.outcome, "message": o.message}
            for o in self.outcomes[-RECENT_OUTCOMES:]
        ]
        return {
            "runtime": "cluster" if self.cluster is not None else "local",
            "pollInterval": self.poll_interval,
            "rollouts": rollouts,
            "outcomes": outcomes,
        }

    # -- events -------------------------------------------------------------------------
    def handle(self, event: RegistryEvent) -> None:
        """React to one registry event (from the receiver, or injected by a caller)."""
        if self.own.consume(event.entity, event.action, event.name, event.alias or event.key or ""):
            log.debug("ignoring our own change %s", event)
            return
        if self.models and event.name not in self.models:
            return
        relevant = (
            event.entity == "model_version_alias" and event.alias == self.challenger_alias
        ) or (
            event.entity == "model_version_tag"
            and event.action == "deleted"
            and event.key == VERDICT_TAG
        )
        if relevant:
            self.sync(event.name)

    def poll_once(self) -> None:
        """Look at every watched model's challenger alias (catches missed webhooks)."""
        names = self.models or self._models_with_challenger()
        for name in names:
            try:
                self.sync(name)
            except Exception:  # one broken model must not stop the others
                log.exception("polling %s failed", name)

    def sync(self, name: str) -> None:
        """Bring model ``name`` in line with its challenger alias as the registry has it now."""
        with self._lock:
            current = alias_version(self.client, name, self.challenger_alias)
            active = self._active.get(name)
            if current is None:
                if active is not None and active.cancelled is None:
                    active.abort(f"{self.challenger_alias!r} alias deleted")
                return
            if active is not None and active.version == current:
                return
            if active is None and VERDICT_TAG in version_tags(self.client, name, current):
                return  # already decided; delete the verdict tag to try again
            if active is not None:
                why = f"superseded by v{current}"
                if isinstance(active.run, Follower):  # the new spec restarts the analysis
                    active.cancelled = why
                    active.run.supersede(why)
                else:
                    active.abort(why)
            self._launch(name, current, active)

    def reconcile(self) -> None:
        """Cluster mode: follow again every undecided rollout the hook manages (a rollout
        decided while the hook was down gets its verdict now, once)."""
        if self.cluster is None:
            return
        for name, version in self.cluster.managed():
            if self.models and name not in self.models:
                continue
            with self._lock:
                if name in self._active:
                    continue
                if VERDICT_TAG in version_tags(self.client, name, version):
                    continue
                self._launch(name, version, None, attach_only=True)

    def _launch(
        self, name: str, version: str, previous: _Active | None, *, attach_only: bool = False
    ) -> None:
        """Start the rollout of ``name`` v``version`` in a thread (after ``previous`` ends)."""
        item = _Active(version, progress=ProgressLog(name, version))
        target = self._work
        if self.cluster is not None:
            item.run = Follower(
                self.cluster,
                self.client,
                name,
                version,
                self.own,
                attach_only=attach_only,
                progress=item.progress,
            )
            target = self._follow
        item.thread = threading.Thread(
            target=target,
            args=(name, item, previous),
            name=f"modelcanary-{name}-v{version}",
            daemon=True,
        )
        self._active[name] = item
        item.thread.start()

    # -- helpers ------------------------------------------------------------------------
    def _work(self, name: str, item: _Active, previous: _Active | None) -> None:
        try:
            if previous is not None and previous.thread is not None:
                previous.thread.join()
            if item.cancelled is not None:
                set_tag(self.client, name, item.version, VERDICT_TAG, "aborted", self.own)
                set_tag(self.client, name, item.version, REASON_TAG, item.cancelled, self.own)
                result = Outcome(name, item.version, "aborted", item.cancelled)
            else:
                result = decide(
                    self.client,
                    name,
                    item.version,
                    self.template,
                    tracking_uri=self.tracking_uri,
                    champion_alias=self.champion_alias,
                    challenger_alias=self.challenger_alias,
                    payloads=self.payloads,
                    own=self.own,
                    on_start=item.started,
                    experiment=self.experiment,
                )
            self.outcomes.append(result)
            if self.on_outcome is not None:
                self.on_outcome(result)
        except Exception:
            log.exception("rollout of %s v%s failed", name, item.version)
        finally:
            with self._lock:
                if self._active.get(name) is item:
                    del self._active[name]

    def _follow(self, name: str, item: _Active, previous: _Active | None) -> None:
        """Cluster mode: apply or attach to the model's ModelRollout and follow it."""
        try:
            if previous is not None and previous.thread is not None:
                previous.thread.join()
            if item.cancelled is not None:
                set_tag(self.client, name, item.version, VERDICT_TAG, "aborted", self.own)
                set_tag(self.client, name, item.version, REASON_TAG, item.cancelled, self.own)
                result: Outcome | None = Outcome(name, item.version, "aborted", item.cancelled)
            else:
                result = item.run.run()
            if result is not None:
                self.outcomes.append(result)
                if self.on_outcome is not None:
                    self.on_outcome(result)
        except Exception:
            log.exception("following the rollout of %s v%s failed", name, item.version)
        finally:
            with self._lock:
                if self._active.get(name) is item:
                    del self._active[name]

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("registry poll failed")
            self._stop.wait(self.poll_interval)

    def _models_with_challenger(self) -> list[str]:
        names, token = [], None
        while True:
            page = self.client.search_registered_models(max_results=200, page_token=token)
            names += [m.name for m in page if self.challenger_alias in (m.aliases or {})]
            token = page.token
            if not token:
                return names


def _stamp(seconds: float) -> str:
    """RFC 3339 UTC time of an epoch second count."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
