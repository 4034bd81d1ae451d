"""Helpers of the routers that clone a Kubernetes Ingress (NGINX, Skipper): the Ingress API,
annotations never copied to the clone, and the key of the Ingress ``spec.service.ingressRef``
names."""

from __future__ import annotations

from ..errors import RouterError
from ..spec import ModelRollout
from ._base import ObjectRouter
from ._memory import Key

API = "networking.k8s.io/v1"
DROPPED = ("kubectl.kubernetes.io/last-applied-configuration",)
"""Annotations of the referenced Ingress that its canary clone must not carry."""


def ingress_ref_key(router: ObjectRouter, rollout: ModelRollout) -> Key:
    """Key of the Ingress ``spec.service.ingressRef`` names (RouterError when missing)."""
    service = rollout.spec.service
    ref = service.ingress_ref if service is not None else None
    if ref is None:
        raise RouterError(
            f"{router.provider} needs spec.service.ingressRef (the Ingress to copy for the canary)"
        )
    return router.ref_key(rollout, ref, API, "Ingress")
