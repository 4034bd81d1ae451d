"""Names of the Kubernetes objects a rollout owns (shared by the k8s adapters and routers).

As Flagger: for a target ``podinfo`` the champion runs as ``podinfo-primary`` and the challenger
as ``podinfo`` itself (``targetRef``) and the services are ``podinfo`` (apex, what clients call),
``podinfo-primary`` (champion) and ``podinfo-canary`` (challenger). With explicit model versions
the base name is the rollout's and the challenger Deployment is ``<base>-canary``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._rollout import ModelRollout


@dataclass(frozen=True)
class Names:
    """Object names of one rollout."""

    base: str
    """``service.name``, else ``targetRef.name``, else the rollout's name."""
    apex: str
    """The service clients call (routers split its traffic)."""
    primary: str
    """Champion Service."""
    primary_workload: str
    """Champion Deployment: ``<target>-primary`` (Flagger), else ``<base>-primary``."""
    canary: str
    """Challenger Service."""
    challenger_workload: str
    """Challenger Deployment: the target itself with ``targetRef``, else ``<base>-canary``."""
    namespace: str


def names(rollout: ModelRollout) -> Names:
    """The object names of ``rollout`` (namespace ``default`` when unset)."""
    spec = rollout.spec
    target = spec.target_ref.name if spec.target_ref is not None else None
    service = spec.service.name if spec.service is not None else None
    base = service or target or rollout.metadata.name
    return Names(
        base=base,
        apex=base,
        primary=f"{base}-primary",
        primary_workload=f"{target or base}-primary",
        canary=f"{base}-canary",
        challenger_workload=target or f"{base}-canary",
        namespace=rollout.metadata.namespace or "default",
    )
