"""Local workloads: champion and challenger model servers as child processes (or given URLs).

``modelUri`` versions are served by ``modelcanary serve`` child processes on free loopback
ports; ``url`` versions are used as given. Promotion swaps the roles: the challenger's server
becomes the champion's and the old champion's server is the one scaled down afterwards, so no
request is dropped. Every child dies with the runtime (``close()``, ``atexit``, and the
parent-death signal of :func:`modelcanary.serving.start_server_process`).

Readiness tells starting from dying. A version that never answered ``/ping`` is starting (the
machine waits, up to ``progressDeadlineSeconds``); a challenger that answered once and now
refuses connections (the process is gone: nothing listens on its port) or whose child process
exited has *failed*: ``Readiness.challenger_failed`` says so and the machine rolls back at
once instead of waiting for a deadline meant for start-up.

A challenger that answered once and now *hangs* (accepts connections, answers nothing) has
failed too, once its ``/ping`` timed out on :data:`HUNG_PROBES` probes in a row spanning at
least one analysis interval: one timed-out ping is only "not ready" (a busy server may answer
late, a pause may pass), and a server that answers a ping now and then starts the count again.
A version that never answered keeps the start-up deadline however long it stays silent.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import WorkloadError
from ..rollout._observations import Readiness
from ..spec import ModelRollout, ModelVersion, parse_duration

HUNG_PROBES = 3
"""Timed-out ``/ping`` probes in a row (and at least one analysis interval of them) after
which a challenger that answered before counts as hung: with the default 2 s probe timeout,
6 s of silence, longer than a GC pause or a burst of load, and short of an interval of
traffic lost at the usual intervals."""


class ServerHandle(Protocol):
    """What the runtime needs of a served model process."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


StartServer = Callable[..., ServerHandle]
"""``start(model_uri, *, env=..., tracking_uri=...) -> handle`` (blocks until ready)."""


@dataclass
class _Side:
    """One role (champion or challenger): what it serves and where."""

    source: str
    url: str
    handle: ServerHandle | None = None
    answered_at: float | None = None
    """Wall time it last answered ``/ping`` (None: never, it is still starting)."""
    silent_since: float | None = None
    """Wall time the first of the ``/ping`` probes that timed out in a row was sent."""
    timeouts: int = 0
    """``/ping`` probes that timed out in a row (0 once one answers or fails otherwise)."""

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()
            self.handle = None


def _default_start(model_uri: str, **kwargs: Any) -> ServerHandle:
    from ..serving import start_server_process  # lazy: serving loads mlflow in the child

    handle: ServerHandle = start_server_process(model_uri, **kwargs)
    return handle


class LocalWorkloads:
    """The Workloads port for the local runtime."""

    def __init__(
        self,
        *,
        tracking_uri: str | None = None,
        start: StartServer | None = None,
        on_backends: Callable[[str, str | None], None] | None = None,
        probe_timeout: float = 2.0,
    ) -> None:
        self.tracking_uri = tracking_uri
        self._start = start or _default_start
        self.on_backends = on_backends
        self.probe_timeout = probe_timeout
        self.champion: _Side | None = None
        self.challenger: _Side | None = None
        self._lock = threading.RLock()

    # -- port ---------------------------------------------------------------------------
    def ensure(self, rollout: ModelRollout) -> None:
        """Start whatever is not serving what the spec says (champion first)."""
        spec = rollout.spec
        if spec.champion is None or spec.challenger is None:
            raise WorkloadError("the local runtime needs spec.champion and spec.challenger")
        with self._lock:
            if self.champion is None:
                self.champion = self._serve(spec.champion)
            if self.challenger is None or self.challenger.source != spec.challenger.source:
                if self.challenger is not None:
                    self.challenger.stop()
                self.challenger = self._serve(spec.challenger)
            self._publish()

    def readiness(self, rollout: ModelRollout) -> Readiness:
        with self._lock:
            champion, challenger = self.champion, self.challenger
        champion_ok = champion is not None and self._probe(champion) == ""
        challenger_why = "not started" if challenger is None else self._probe(challenger)
        challenger_ok = challenger_why == ""
        source = rollout.spec.challenger.source if rollout.spec.challenger else None
        missing = [
            n for n, ok in (("champion", champion_ok), ("challenger", challenger_ok)) if not ok
        ]
        message = f"{' and '.join(missing)} not answering /ping" if missing else ""
        failed = ""
        if challenger is not None and challenger.answered_at is not None and not challenger_ok:
            interval = parse_duration(rollout.spec.analysis.interval)
            failed = _failure(challenger, challenger_why, interval)
        return Readiness(champion_ok, challenger_ok, source, message, challenger_failed=failed)

    def scale_challenger(self, rollout: ModelRollout, replicas: int) -> None:
        with self._lock:
            if replicas > 0:
                self.ensure(rollout)
            elif self.challenger is not None:
                self.challenger.stop()
                self.challenger = None
                self._publish()

    def promote(self, rollout: ModelRollout) -> None:
        """The challenger's server becomes the champion's (the old one is scaled down later)."""
        with self._lock:
            if self.challenger is None:
                raise WorkloadError("no challenger to promote")
            if self.champion is not None and self.champion.source == self.challenger.source:
                return  # already promoted (a repeated command after a crash)
            self.champion, self.challenger = self.challenger, self.champion
            self._publish()

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> None:
        """Stop every server this runtime started."""
        with self._lock:
            for side in (self.champion, self.challenger):
                if side is not None:
                    side.stop()
            self.champion = self.challenger = None

    def urls(self) -> tuple[str | None, str | None]:
        """Current champion and challenger base URLs."""
        with self._lock:
            return (
                self.champion.url if self.champion else None,
                self.challenger.url if self.challenger else None,
            )

    # -- helpers ------------------------------------------------------------------------
    def _serve(self, version: ModelVersion) -> _Side:
        if version.url is not None:
            return _Side(version.url, version.url.rstrip("/"))
        if version.model_uri is None:
            raise WorkloadError(f"{version.source!r}: images need a cluster; use modelUri or url")
        try:
            handle = self._start(version.model_uri, env=version.env, tracking_uri=self.tracking_uri)
        except Exception as exc:  # a model that does not load is a workload error
            raise WorkloadError(f"cannot serve {version.model_uri}: {exc}") from exc
        return _Side(version.model_uri, handle.url.rstrip("/"), handle)

    def _publish(self) -> None:
        if self.on_backends is not None and self.champion is not None:
            self.on_backends(self.champion.url, self.challenger.url if self.challenger else None)

    def _probe(self, side: _Side) -> str:
        """ "" when ``side`` answers ``/ping`` with 200, else why not: ``gone`` (its process
        exited, or it refuses connections), ``timeout`` (counted in ``side.timeouts``), or
        another reason (an error status, a bad answer)."""
        sent = time.time()
        why = self._ping(side)
        if why.startswith("timeout: "):
            if side.timeouts == 0:
                side.silent_since = sent
            side.timeouts += 1
        else:
            side.timeouts, side.silent_since = 0, None
        return why

    def _ping(self, side: _Side) -> str:
        """One probe; a timed-out one says ``timeout: ...`` (it answers nothing, or too late)."""
        alive = getattr(side.handle, "alive", None)
        if callable(alive) and not alive():
            return "gone: its process exited"
        try:
            with urllib.request.urlopen(f"{side.url}/ping", timeout=self.probe_timeout) as reply:
                if reply.status == 200:
                    side.answered_at = time.time()
                    return ""
                return f"/ping answered {reply.status}"
        except urllib.error.HTTPError as exc:
            return f"/ping answered {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, (TimeoutError, socket.timeout)):
                return f"timeout: /ping timed out after {self.probe_timeout:g} s"
            if isinstance(reason, OSError) and reason.errno in _GONE:
                return f"gone: {reason.strerror or reason} ({side.url})"
            return f"/ping failed: {reason}"


_GONE = {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH}
"""Connect errors that mean nothing serves the port any more (not a slow server)."""


def _failure(side: _Side, why: str, interval: float) -> str:
    """The ``challenger_failed`` text for a challenger that answered before and is gone or
    hung now ("" when it is only slow or erroring: not ready, not dead)."""
    since = time.strftime("%H:%M:%S", time.localtime(side.answered_at or 0))
    if why.startswith("gone: "):
        return f"it stopped answering while taking traffic ({why[6:]}; last answer at {since})"
    if not why.startswith("timeout: ") or side.silent_since is None:
        return ""
    silent = time.time() - side.silent_since
    if side.timeouts < HUNG_PROBES or silent < interval:
        return ""  # a pause, or a busy server that may still answer: wait
    return (
        f"it stopped answering while taking traffic (/ping timed out for {silent:.1f} s, "
        f"{side.timeouts} probes in a row; last answer at {since})"
    )
