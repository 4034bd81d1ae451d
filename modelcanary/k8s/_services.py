"""The three Services of a rollout (Flagger's layout), rendered purely and applied.

``<apex>`` is what clients call (routers split its traffic; without a mesh it selects the
champion), ``<primary>`` selects the champion's pods and ``<canary>`` the challenger's.
"""

from __future__ import annotations

from typing import Any

from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._naming import Names, names
from ._objects import ROLLOUT_LABEL, KubeObjectStore


def render_services(
    rollout: ModelRollout,
    selector_key: str,
    champion_value: str,
    challenger_value: str,
    default_target_port: int | str,
) -> list[KubeObject]:
    """The apex, primary and canary Services (``selector_key`` selects the pods)."""
    n: Names = names(rollout)
    service = rollout.spec.service
    port = service.port if service is not None else 80
    target: int | str = default_target_port
    if service is not None and service.target_port is not None:
        target = service.target_port
    port_name = (service.port_name if service is not None else None) or "http"
    app_protocol = service.app_protocol if service is not None else None
    extra = {
        "apex": service.apex if service is not None else None,
        "primary": service.primary if service is not None else None,
        "canary": service.canary if service is not None else None,
    }

    def one(name: str, role: str, value: str) -> KubeObject:
        spec_port: dict[str, Any] = {
            "name": port_name,
            "port": port,
            "targetPort": target,
            "protocol": "TCP",
        }
        if app_protocol:
            spec_port["appProtocol"] = app_protocol
        meta = extra[role] or {}
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": n.namespace,
                "labels": {
                    **(meta.get("labels") or {}),
                    selector_key: name,
                    ROLLOUT_LABEL: rollout.name,
                },
                "annotations": dict(meta.get("annotations") or {}),
            },
            "spec": {
                "type": "ClusterIP",
                "selector": {selector_key: value},
                "ports": [spec_port],
            },
        }

    return [
        one(n.apex, "apex", champion_value),
        one(n.primary, "primary", champion_value),
        one(n.canary, "canary", challenger_value),
    ]


class KubeServices:
    """Creates the rollout's Services and corrects their drift."""

    def __init__(self, store: KubeObjectStore) -> None:
        self.store = store

    def ensure(
        self,
        rollout: ModelRollout,
        selector_key: str,
        champion_value: str,
        challenger_value: str,
        default_target_port: int | str,
    ) -> list[KubeObject]:
        """Apply the three Services; returns them as stored. The apex Service is not owned by
        the rollout: what clients call outlives it (deleting the rollout leaves it selecting
        the champion); the garbage collector removes ``-primary`` and ``-canary``."""
        rendered = render_services(
            rollout, selector_key, champion_value, challenger_value, default_target_port
        )
        return [
            self.store.apply(obj, owner=rollout, owned=index > 0)
            for index, obj in enumerate(rendered)
        ]
