"""Follow one custom resource with the Kubernetes watch API (``?watch=true``), not by polling.

:class:`ObjectWatch` yields the object as stored now, then every new version of it (one item
per new ``metadata.resourceVersion``), and ends when the object is deleted, at its deadline, or
when :meth:`ObjectWatch.close` is called (from any thread: it shuts the stream's socket, so a
thread blocked on a quiet stream wakes at once).

How it follows real API semantics:

- each stream starts from the last seen ``resourceVersion`` (only later changes are sent) and
  asks for bookmarks; ``fieldSelector=metadata.name=NAME`` narrows it to the one object (the
  name is checked again here, for servers that ignore field selectors);
- a stream the server ends (``timeoutSeconds``) or that stays silent past the read timeout is
  re-opened from the last version; versions are opaque strings, only compared for equality, so
  a server replaying the current object on reconnect yields nothing twice;
- ``410 Gone`` (the version left the server's watch cache: "too old resource version") re-reads
  the object and watches from its version, as a list-then-watch informer does;
- 5xx, 429 and unreachable servers are retried with a capped backoff until the deadline; 403,
  404 and other 4xx raise :class:`~modelcanary.k8s._client.KubeApiError` naming the object, the
  verb (``watch``) and the fix.

It goes through the ``kubernetes`` client's own watch (``kubernetes.watch.Watch`` over
``CustomObjectsApi.list_namespaced_custom_object``) on the :class:`KubeClient`'s ApiClient, so
auth and TLS are the connection's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import kubernetes.client
import kubernetes.watch
import urllib3

from ..ports import KubeObject, Stored
from ._client import KubeApiError, KubeClient, Ref, plural_of, split_api_version
from ._status import rollout_from_object

SERVER_TIMEOUT = 290
"""``timeoutSeconds`` of one stream: the server closes it and it is re-opened (as kubectl)."""
READ_TIMEOUT = 300.0
"""Seconds of silence after which a stream is presumed dead and re-opened."""
BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)
"""Waits between retries after a transient failure (the last one repeats)."""


class ObjectWatch(Iterator[KubeObject]):
    """Versions of one namespaced custom object: now, then each change, until it is deleted."""

    def __init__(
        self,
        client: KubeClient,
        ref: Ref,
        *,
        timeout: float | None = None,
        read_timeout: float = READ_TIMEOUT,
        server_timeout: int = SERVER_TIMEOUT,
    ) -> None:
        group, version = split_api_version(ref.api_version)
        if not group or not ref.namespace or not ref.name:
            raise ValueError(f"ObjectWatch follows a namespaced custom object, not {ref}")
        self.client = client
        self.ref = ref
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.read_timeout = read_timeout
        self.server_timeout = server_timeout
        self.deleted = False
        """True once the object was seen deleted (the iteration then ended)."""
        self.reconnects = 0
        """Streams re-opened after the first (server timeout, silence, 410, transient error)."""
        self._group, self._version = group, version
        self._plural = plural_of(ref.api_version, ref.kind)
        self._closed = threading.Event()
        self._current: kubernetes.watch.Watch | None = None
        self._items = self._run()

    # -- iteration ----------------------------------------------------------------------
    def __iter__(self) -> ObjectWatch:
        return self

    def __next__(self) -> KubeObject:
        return next(self._items)

    def close(self) -> None:
        """Stop following (thread-safe: wakes a thread blocked on the stream)."""
        self._closed.set()
        if self._current is not None:
            # a stream still opening has no socket to shut yet: try again for a moment
            threading.Thread(target=self._shut, name="watch-close", daemon=True).start()

    def _shut(self) -> None:
        for _ in range(40):
            current = self._current
            if current is None:
                return
            current.stop()  # type: ignore[no-untyped-call]
            time.sleep(0.05)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed.is_set()

    # -- the loop -----------------------------------------------------------------------
    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def _over(self) -> bool:
        left = self._remaining()
        return self._closed.is_set() or (left is not None and left <= 0)

    def _run(self) -> Iterator[KubeObject]:
        obj = self.client.get(self.ref)
        if obj is None:
            self.deleted = True
            return
        last = _version(obj)
        yield obj
        failures = 0
        while not self._over():
            try:
                for kind, item in self._stream(last):
                    failures = 0
                    if kind == "DELETED":
                        self.deleted = True
                        return
                    if kind == "BOOKMARK":
                        last = _version(item) or last
                        continue
                    version = _version(item)
                    if version != last:
                        last = version
                        yield item
                    if self._over():
                        return
            except _Gone:  # the version is too old for the watch cache: re-read, watch again
                obj = self.client.get(self.ref)
                if obj is None:
                    self.deleted = True
                    return
                if _version(obj) != last:
                    last = _version(obj)
                    yield obj
            except _Retry:
                if self._over():
                    return
                wait = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
                left = self._remaining()
                self._closed.wait(wait if left is None else max(0.0, min(wait, left)))
            self.reconnects += 1

    def _stream(self, version: str | None) -> Iterator[tuple[str, KubeObject]]:
        """One watch stream from ``version``: (event type, object) of this object's events."""
        left = self._remaining()
        read = self.read_timeout if left is None else max(0.05, min(self.read_timeout, left))
        server = self.server_timeout
        if left is not None:
            server = max(1, min(server, int(left) + 1))
        api = kubernetes.client.CustomObjectsApi(self.client.api)
        watch = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]
        self._current = watch
        if self._closed.is_set():  # closed between two streams
            return
        options: dict[str, Any] = {
            "field_selector": f"metadata.name={self.ref.name}",
            "allow_watch_bookmarks": True,
            "timeout_seconds": server,
            "_request_timeout": (min(10.0, read), read),
        }
        if version:
            options["resource_version"] = version
        try:
            events = watch.stream(  # type: ignore[no-untyped-call]
                api.list_namespaced_custom_object,
                self._group,
                self._version,
                self.ref.namespace,
                self._plural,
                **options,
            )
            for event in events:
                item = event.get("raw_object")
                kind = str(event.get("type", ""))
                if not isinstance(item, dict):
                    continue
                if kind != "BOOKMARK" and (item.get("metadata") or {}).get("name") != self.ref.name:
                    continue
                yield kind, item
        except kubernetes.client.ApiException as exc:
            status = int(exc.status or 0)
            if status == 410:
                raise _Gone from None
            if status >= 500 or status in (0, 429):
                raise _Retry from None
            raise self._refused(status, str(exc.reason or exc)) from None
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            # silence past the read timeout, a dropped connection, a closed socket (close()),
            # a refused connection: open a new stream (after a backoff unless it was silence)
            if self._closed.is_set():
                return
            raise _Retry from None
        finally:
            self._current = None

    def _refused(self, status: int, reason: str) -> KubeApiError:
        resource = f"{self._plural}.{self._group}"
        if status in (401, 403):
            hint = (
                f"fix: grant your user or service account verbs get, list and watch on "
                f"{resource!r} in namespace {self.ref.namespace!r} (check with `kubectl auth "
                f"can-i watch {resource} -n {self.ref.namespace}`)"
            )
        elif status == 404:
            hint = f"fix: install the {self.ref.kind} CRD, or check the namespace"
        else:
            hint = "fix: check the object and the API server's message"
        return KubeApiError(
            f"watch {self.ref}: HTTP {status}: {reason} ({hint})", status=status, transient=False
        )


class RolloutWatch(Iterator[Stored]):
    """A ModelRollout as :class:`~modelcanary.ports.Stored`: now, then each new version."""

    def __init__(self, objects: ObjectWatch) -> None:
        self.objects = objects

    def __iter__(self) -> RolloutWatch:
        return self

    def __next__(self) -> Stored:
        obj = next(self.objects)
        meta = obj.get("metadata") or {}
        version = meta.get("resourceVersion")
        deleting = bool(meta.get("deletionTimestamp"))
        return Stored(rollout_from_object(obj), str(version) if version else None, deleting)

    def close(self) -> None:
        """Stop following (thread-safe)."""
        self.objects.close()

    @property
    def deleted(self) -> bool:
        """True once the rollout was seen deleted."""
        return self.objects.deleted


def watch_rollout(
    client: KubeClient, name: str, namespace: str, *, timeout: float | None = None, **options: Any
) -> RolloutWatch:
    """Follow the ModelRollout ``namespace/name`` (see :class:`ObjectWatch`)."""
    ref = Ref("modelcanary.io/v1alpha1", "ModelRollout", namespace, name)
    return RolloutWatch(ObjectWatch(client, ref, timeout=timeout, **options))


class _Gone(Exception):
    """Internal: 410, the watched version expired."""


class _Retry(Exception):
    """Internal: a transient failure or a stream to re-open."""


def _version(obj: KubeObject) -> str | None:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return str(version) if version else None
