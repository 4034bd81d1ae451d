"""Sharding rollouts over operator replicas with Kubernetes Leases and rendezvous hashing.

Each replica holds one ``coordination.k8s.io/v1`` Lease (``holderIdentity`` = its identity,
renewed every ``lease_seconds / 3``) labelled ``modelcanary.io/shard-group=GROUP``. The live
replicas are the Leases of the group whose ``renewTime + leaseDurationSeconds`` is in the
future; a replica that stops renewing (crashed, partitioned) drops out once its Lease expires,
and a replica that stops cleanly deletes its Lease so the others take over at once.

A rollout belongs to the live replica with the highest rendezvous weight
``sha256(identity + "/" + uid)``: every replica computes the same owner from the same member
list, each gets a stable hash share, and when a replica leaves only its own rollouts move
(each to the replica that ranked second for it); a replica joining takes ~1/N of them from the
others. No coordinator, no per-rollout lock: the status write's resourceVersion precondition
already makes two engines that briefly disagree about membership (for at most one renewal
period) lose the race instead of acting twice.

The member list is read once per renewal, so the per-tick ownership check costs no request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ConflictError, ModelCanaryError

log = logging.getLogger("modelcanary.controller")

LEASE_API, LEASE_KIND = "coordination.k8s.io/v1", "Lease"
GROUP_LABEL = "modelcanary.io/shard-group"
"""Label of every replica Lease of one operator install (its value: the group name)."""
COMPONENT_LABELS = {"app.kubernetes.io/name": "modelcanary-operator"}


def weight(identity: str, uid: str) -> bytes:
    """The rendezvous weight of ``uid`` on the replica ``identity`` (compared as bytes)."""
    return hashlib.sha256(f"{identity}/{uid}".encode()).digest()


def owner_of(uid: str, members: Sequence[str]) -> str | None:
    """The member with the highest weight for ``uid`` (None when there is no member)."""
    return max(members, key=lambda m: weight(m, uid), default=None)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # a MicroTime


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class Shards:
    """This replica's Lease, the live replicas, and which rollouts are this replica's.

    ``client``: a ``modelcanary.k8s.KubeClient``; ``namespace``: where the Leases live (the
    operator's own namespace); ``group``: the install's name (replicas of one install share
    it); ``identity``: this replica (its pod name). ``refresh()`` renews the Lease and re-reads
    the members; :meth:`run` does it every ``lease_seconds / 3`` until :meth:`stop`.
    """

    def __init__(
        self,
        client: Any,
        *,
        namespace: str,
        identity: str,
        group: str = "modelcanary-operator",
        lease_seconds: float = 15.0,
        release_on_stop: bool = True,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.identity = identity
        self.group = group
        self.lease_seconds = lease_seconds
        self.release_on_stop = release_on_stop
        """Delete the Lease on a clean stop (the others take over at once); False leaves it
        to expire, as a crashed replica's does."""
        self.members: tuple[str, ...] = ()
        """Identities of the live replicas (sorted), as of the last refresh."""
        self._renewed: datetime | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def lease_name(self) -> str:
        """This replica's Lease: ``GROUP-IDENTITY`` (truncated to a valid object name)."""
        return f"{self.group}-{self.identity}".lower()[:253]

    def owns(self, uid: str | None) -> bool:
        """True when the rollout ``uid`` is this replica's to tick: it is the rendezvous
        owner among the live replicas and its own Lease has not expired (a replica that
        cannot renew stops ticking before the others take its rollouts over)."""
        if not uid:
            return False
        with self._lock:
            members, renewed = self.members, self._renewed
        if renewed is None or datetime.now(UTC) >= renewed + timedelta(seconds=self.lease_seconds):
            return False
        return owner_of(uid, members) == self.identity

    def refresh(self) -> None:
        """Renew this replica's Lease (create it when missing) and re-read the live ones.
        An API error is logged and leaves the last view (which expires with the Lease)."""
        from ..k8s._client import Ref

        now = datetime.now(UTC)
        try:
            self._renew(now)
            leases = self.client.list(
                Ref(LEASE_API, LEASE_KIND, self.namespace, ""), f"{GROUP_LABEL}={self.group}"
            )
        except ModelCanaryError as exc:
            log.warning("sharding: could not renew lease %s: %s", self.lease_name, exc)
            return
        live = sorted({holder for lease in leases if (holder := _live_holder(lease, now))})
        with self._lock:
            self._renewed = now
            if self.identity not in live:
                live = sorted([*live, self.identity])
            if tuple(live) != self.members:
                log.info("sharding: live replicas %s (this one: %s)", live, self.identity)
            self.members = tuple(live)

    def _renew(self, now: datetime) -> None:
        from ..k8s._client import KubeNotFound, Ref

        ref = Ref(LEASE_API, LEASE_KIND, self.namespace, self.lease_name)
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.lease_seconds)),
            "renewTime": _stamp(now),
        }
        try:
            self.client.patch(ref, {"spec": spec})
            return
        except KubeNotFound:
            pass
        lease = {
            "apiVersion": LEASE_API,
            "kind": LEASE_KIND,
            "metadata": {
                "name": self.lease_name,
                "namespace": self.namespace,
                "labels": {**COMPONENT_LABELS, GROUP_LABEL: self.group},
            },
            "spec": {**spec, "acquireTime": _stamp(now)},
        }
        try:
            self.client.create(lease)
        except ConflictError:  # created meanwhile (a restart with the same identity)
            self.client.patch(ref, {"spec": spec})

    def run(self) -> None:
        """Refresh every ``lease_seconds / 3`` until :meth:`stop` (a thread's target)."""
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.lease_seconds / 3.0)

    def start(self) -> Shards:
        """Renew once now, then in a daemon thread."""
        self.refresh()
        threading.Thread(target=self.run, name="modelcanary-lease", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop renewing; delete the Lease when ``release_on_stop`` (best effort)."""
        self._stop.set()
        with self._lock:
            self._renewed = None
            self.members = ()
        if self.release_on_stop:
            from ..k8s._client import Ref

            try:
                self.client.delete(Ref(LEASE_API, LEASE_KIND, self.namespace, self.lease_name))
            except ModelCanaryError as exc:
                log.warning("sharding: could not release lease %s: %s", self.lease_name, exc)


def _live_holder(lease: Any, now: datetime) -> str | None:
    """The holder of an unexpired Lease (None: expired, or never renewed)."""
    spec = lease.get("spec") or {}
    holder, renewed = spec.get("holderIdentity"), _parse(spec.get("renewTime"))
    duration = spec.get("leaseDurationSeconds")
    if not holder or renewed is None or not isinstance(duration, int | float):
        return None
    return str(holder) if now < renewed + timedelta(seconds=float(duration)) else None
