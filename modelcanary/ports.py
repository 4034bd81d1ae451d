"""Ports: the typing.Protocol interfaces the engine drives (and nothing else).

Adapters live in their own packages, one per file, each behind one of these Protocols:
metric providers (``providers/``), traffic routers (``routers/``, ``local/``), workloads
(``local/``, ``k8s/``), notifiers (``notify/``), webhook runners (``hooks/``), status stores and
clocks (runtimes). Every call is synchronous and may raise the port's error from
``modelcanary.errors``; missing metric data is returned as ``NoData``, never raised.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from .analysis._measurements import IntervalData, NoData, Scalar, Window
from .rollout._commands import Routes, Severity
from .rollout._observations import Readiness
from .spec import MetricSpec, ModelRollout, RolloutStatus, Webhook


@runtime_checkable
class Clock(Protocol):
    """Time, injectable so tests run a rollout in milliseconds."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait (a fake clock advances instead)."""
        ...


@dataclass(frozen=True)
class Stored:
    """A rollout as stored: resource and an opaque version for optimistic concurrency."""

    rollout: ModelRollout
    version: str | None = None
    deleted: bool = False
    """Deletion requested (e.g. a Kubernetes deletionTimestamp): the rollout terminates."""


@runtime_checkable
class StatusStore(Protocol):
    """Where rollouts and their status live (memory, a file, the Kubernetes API)."""

    def get(self, name: str, namespace: str) -> Stored | None:
        """The stored rollout, or None when it does not exist (any more)."""
        ...

    def save_status(
        self, name: str, namespace: str, status: RolloutStatus, expected_version: str | None
    ) -> str | None:
        """Write the status; raise ``ConflictError`` if the version moved. Returns the new one."""
        ...

    def stamp(self, name: str, namespace: str) -> Hashable | None:
        """A cheap fingerprint of the stored rollout that moves on every write (None when it
        does not exist): the runner polls it while waiting for the next analysis, so a manual
        action written by another process is applied at once. The version where reading it
        is cheap (memory, the API server); the file store's inode, mtime and size."""
        ...


@runtime_checkable
class MetricProvider(Protocol):
    """A metrics backend answering built-in SLIs and custom queries for a window.

    The engine holds exactly one: a single backend (the fakes of the tests, a Prometheus), or
    a dispatcher (``providers.dispatch.MetricDispatch``) that sends each rollout, and each
    custom metric, to the backend it names. Both answer the same calls, so the engine has one
    seam and never asks which kind it holds.
    """

    name: str
    last_error: str
    """Why the last ``is_online()`` check failed (empty when it passed, or was never made)."""

    def is_online(self) -> bool:
        """True when the backend answers (a dispatcher: always True, its backends are checked
        one by one through :meth:`backends`)."""
        ...

    def backends(self, rollout: ModelRollout) -> Sequence[MetricProvider]:
        """The backends measuring ``rollout``, each once: the built-in SLIs' first, then the
        custom metrics' own. A single backend returns itself; a dispatcher builds the ones the
        rollout names (raising the ``SpecError`` of a spec that cannot be built). The engine
        checks each with ``is_online()`` while the rollout initialises."""
        ...

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """Measurements of both versions in ``window`` for the built-in SLIs."""
        ...

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """One custom query's value in ``window`` (templated with the rollout's variables)."""
        ...


@runtime_checkable
class TrafficRouter(Protocol):
    """Splits, matches and mirrors traffic between champion and challenger."""

    def reconcile(self, rollout: ModelRollout) -> None:
        """Create the routing objects if missing and correct drift."""
        ...

    def set_routes(self, rollout: ModelRollout, routes: Routes) -> None:
        """Apply ``routes`` atomically."""
        ...

    def get_routes(self, rollout: ModelRollout) -> Routes:
        """The routes in force."""
        ...

    def finalize(self, rollout: ModelRollout) -> None:
        """Send all traffic to the champion and remove what reconcile created."""
        ...


KubeObject = dict[str, Any]
"""A Kubernetes-style object as plain data: apiVersion, kind, metadata, spec..."""


@runtime_checkable
class ObjectStore(Protocol):
    """Kubernetes objects by apiVersion/kind/namespace/name.

    Routers render their objects purely and apply them through this port (the operator's
    ``modelcanary.k8s`` adapter; an in-memory dict in unit tests), so ``routers/`` never
    imports ``kubernetes``.
    """

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> KubeObject | None:
        """The object, or None when it does not exist."""
        ...

    def apply(self, obj: KubeObject) -> KubeObject:
        """Create ``obj``, or patch the existing one so its labels, annotations and spec match
        (drift correction); returns the object as stored.

        The patch is a JSON merge patch (RFC 7386) with ``kubectl apply``'s three-way
        removals (:func:`removals` of the content last applied): fields ``obj`` does not name
        are left as they are, so a router that writes one field of a user's object (KServe's
        ``canaryTrafficPercent``, Knative's ``traffic``) never writes back the rest of it."""
        ...

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete the object; an object already gone is not an error."""
        ...


def removals(previous: Any, desired: Any) -> dict[str, Any]:
    """A merge patch of ``None`` for every key of ``previous`` no longer in ``desired``."""
    if not isinstance(previous, dict) or not isinstance(desired, dict):
        return {}
    out: dict[str, Any] = {}
    for key, old in previous.items():
        if key not in desired:
            out[key] = None
        else:
            nested = removals(old, desired[key])
            if nested:
                out[key] = nested
    return out


def merge_patched(target: Any, patch: Any) -> Any:
    """``target`` with the JSON merge patch ``patch`` applied (RFC 7386; neither is changed):
    dicts merge key by key, ``None`` removes a key, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patched(out.get(key), value)
    return out


@runtime_checkable
class Workloads(Protocol):
    """Champion and challenger model servers (processes, Deployments...)."""

    def ensure(self, rollout: ModelRollout) -> None:
        """Create or update both workloads to match the spec."""
        ...

    def readiness(self, rollout: ModelRollout) -> Readiness:
        """Are both versions ready (per the ready thresholds), and which challenger is it."""
        ...

    def scale_challenger(self, rollout: ModelRollout, replicas: int) -> None:
        """Scale the challenger (0 after promotion or rollback)."""
        ...

    def promote(self, rollout: ModelRollout) -> None:
        """Make the challenger the champion."""
        ...


@dataclass(frozen=True)
class WebhookPayload:
    """Flagger's webhook payload: ``name, namespace, phase, checksum, metadata``.

    ``type`` is for the engine only: Flagger's payload has no type key, so it is not sent.
    """

    name: str
    namespace: str
    phase: str
    checksum: str
    type: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookResult:
    """Outcome of one webhook call: passed (HTTP status <= 202) or why not."""

    name: str
    type: str
    passed: bool
    status_code: int | None = None
    message: str = ""


@runtime_checkable
class WebhookRunner(Protocol):
    """Calls webhooks with timeout and retries."""

    def run(self, hook: Webhook, payload: WebhookPayload) -> WebhookResult:
        """Call ``hook`` with ``payload``; never raises for HTTP failures (passed=False)."""
        ...


@dataclass(frozen=True)
class Notification:
    """An event for people: rollout started, promoted, failed, waiting for approval..."""

    rollout: str
    namespace: str
    event: str
    severity: Severity
    message: str
    phase: str = ""
    fields: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Notifier(Protocol):
    """Delivers notifications to one service (Slack, Teams, ...)."""

    name: str

    def notify(self, notification: Notification) -> None:
        """Send it; raise ``NotifyError`` (a ModelCanaryError) when the service refuses."""
        ...
