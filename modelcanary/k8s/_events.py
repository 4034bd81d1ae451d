"""``KubeEvents``: Kubernetes Events (core v1) on a ModelRollout, one per transition.

``kubectl describe modelrollout NAME`` and ``kubectl get events`` show them. Events are
best effort: a refused Event is logged and dropped, never failing the rollout.
"""

from __future__ import annotations

import logging
import secrets
import socket
from datetime import UTC, datetime

from ..errors import ModelCanaryError
from ..ports import KubeObject
from ..spec import ModelRollout
from ._client import KubeClient

log = logging.getLogger(__name__)
COMPONENT = "modelcanary"
MAX_MESSAGE = 1024


def render_event(
    rollout: ModelRollout,
    reason: str,
    message: str,
    *,
    warning: bool = False,
    now: datetime | None = None,
    instance: str = "",
) -> KubeObject:
    """The core v1 Event object (a unique name ``<rollout>.<hex>`` as the API server makes)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    namespace = rollout.metadata.namespace or "default"
    involved: dict[str, str] = {
        "apiVersion": rollout.api_version,
        "kind": rollout.kind,
        "name": rollout.name,
        "namespace": namespace,
    }
    if rollout.metadata.uid:
        involved["uid"] = rollout.metadata.uid
    if rollout.metadata.resource_version:
        involved["resourceVersion"] = rollout.metadata.resource_version
    text = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{rollout.name}.{secrets.token_hex(8)}",
            "namespace": namespace,
        },
        "involvedObject": involved,
        "reason": reason,
        "message": text,
        "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": f"{COMPONENT}.io/operator",
        "reportingInstance": instance or socket.gethostname(),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class KubeEvents:
    """Emits Events on ModelRollouts."""

    def __init__(self, client: KubeClient, *, instance: str = "") -> None:
        self.client = client
        self.instance = instance or socket.gethostname()

    def emit(
        self, rollout: ModelRollout, reason: str, message: str, warning: bool = False
    ) -> KubeObject | None:
        """Create the Event; returns it as stored, or None when the API refused it (logged)."""
        event = render_event(rollout, reason, message, warning=warning, instance=self.instance)
        try:
            return self.client.create(event)
        except ModelCanaryError as exc:
            log.warning("event %s on %s not recorded: %s", reason, rollout.name, exc)
            return None
