"""``QuietStatusStore``: the operator's StatusStore wrapper that spares the API server.

It writes no status equal to the one read, and reads no rollout the operator's watch says is
unchanged (see the class). ``controller._runtime`` wraps ``KubeStatusStore`` in it.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from ..errors import ConflictError
from ..ports import StatusStore, Stored
from ..spec import ModelRollout, RolloutStatus


class QuietStatusStore:
    """A StatusStore that does not write a status equal to the one it just read, and does
    not read again a rollout the watch says is unchanged.

    Most ticks change nothing (waiting for readiness, holding a weight until the next
    interval); skipping those writes spares the API server, the watch streams of every
    operator replica, and keeps kopf's own patches (finalizer removal) from racing a status
    write that changed nothing.

    The operator's watch reports each rollout's ``resourceVersion`` (:meth:`watched`); when
    it is the version this store last read or wrote, nothing changed since, and ``get``
    answers the remembered rollout without a request. Anything else (an edit, an action
    annotation, kopf's own patch, a version the watch has not delivered yet) is read from
    the API. A write after a stale answer is still refused by the API server (the status is
    written with the version read as precondition), and a refused write forgets the memory.
    """

    def __init__(self, inner: StatusStore) -> None:
        self.inner = inner
        self._read: dict[tuple[str, str], tuple[str | None, ModelRollout]] = {}
        self._exact: set[tuple[str, str]] = set()
        """Rollouts whose remembered copy is exactly what the API server stores (read, or
        returned by the write): only those are answered from memory."""
        self._watched: dict[tuple[str, str], str] = {}
        """The latest resourceVersion the watch delivered per rollout."""
        self._lock = threading.Lock()

    def get(self, name: str, namespace: str) -> Stored | None:
        """The stored rollout (remembered to compare the next save with): the remembered one
        when the watch confirms it is current, else read from the API."""
        key = (namespace, name)
        with self._lock:
            read = self._read.get(key)
            if (
                read is not None
                and key in self._exact
                and read[0] is not None
                and self._watched.get(key) == read[0]
            ):
                return Stored(read[1], read[0], False)
        stored = self.inner.get(name, namespace)
        with self._lock:
            if stored is None:
                self._read.pop(key, None)
                self._exact.discard(key)
            else:
                self._read[key] = (stored.version, stored.rollout)
                if stored.deleted:
                    self._exact.discard(key)  # a deleted rollout is always read
                else:
                    self._exact.add(key)
        return stored

    def watched(self, name: str, namespace: str, version: str | None) -> None:
        """The watch delivered the rollout at ``version`` (None: forget what it delivered)."""
        with self._lock:
            if version:
                self._watched[(namespace, name)] = str(version)
            else:
                self._watched.pop((namespace, name), None)

    def forget(self, name: str, namespace: str) -> None:
        """Drop what is remembered of a rollout that is gone."""
        with self._lock:
            self._read.pop((namespace, name), None)
            self._exact.discard((namespace, name))
            self._watched.pop((namespace, name), None)

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
        if (
            read is not None
            and read[0] == expected_version
            and read[1].status == status
            and status.observed_generation == read[1].metadata.generation
        ):
            return expected_version
        key = (namespace, name)
        try:
            version = self.inner.save_status(name, namespace, status, expected_version)
        except ConflictError:
            with self._lock:  # stale or gone: the next get reads the API
                self._read.pop(key, None)
                self._exact.discard(key)
            raise
        saved = getattr(self.inner, "saved", None)
        exact = saved(name, namespace) if callable(saved) else None
        with self._lock:
            if isinstance(exact, Stored) and exact.version == version and not exact.deleted:
                self._read[key] = (version, exact.rollout)  # as the API server stored it
                self._exact.add(key)
            elif read is not None:
                self._read[key] = (version, read[1].model_copy(update={"status": status}))
                self._exact.discard(key)
        return version
