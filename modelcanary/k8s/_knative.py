"""A Knative Service as the ``targetRef``: Knative runs every revision itself.

A Knative Service (``serving.knative.dev/v1``) creates a Revision for every change of its
``spec.template``; the knative router pins the champion revision in ``spec.traffic`` and gives
the latest revision (the challenger) its weight. So the workloads create and scale nothing
(Knative autoscales each revision): the challenger revision *is* the Service's
``status.latestCreatedRevisionName`` (a new revision starts a rollout, as in Flagger), and
readiness comes from the Service's status:

- champion ready: the route serves (``RoutesReady``, else ``Ready``, is True) and a revision
  is ready (``latestReadyRevisionName``);
- challenger ready: the latest created revision is the latest ready one, the configuration
  is ready (``ConfigurationsReady``) and, when the Service's ``status.traffic`` is of its
  current generation, the ``latestRevision`` target there resolves to that revision (Knative
  routes the new revision, not still the previous one).

The readiness also names the champion revision the Service pins now (its pin annotation, else
``latestReadyRevisionName``: :func:`~modelcanary.routers._knative.service_champion`): a rollout
that initialises records it as ``status.lastPromotedSpec`` before any traffic is written, and
the knative router pins exactly that revision. A revision still starting at initialisation is
then a challenger like any other, never taken for the champion.
"""

from __future__ import annotations

from typing import Any

from ..ports import KubeObject
from ..rollout._observations import Readiness
from ..routers._knative import service_champion
from ..spec import TargetRef

GROUP = "serving.knative.dev"
KIND = "Service"


def is_knative_ref(ref: TargetRef | None) -> bool:
    """Whether ``ref`` names a Knative Service (``serving.knative.dev/*``, kind Service)."""
    return ref is not None and ref.kind == KIND and ref.api_version.split("/")[0] == GROUP


def ksvc_revision(svc: KubeObject) -> str:
    """The challenger revision: ``status.latestCreatedRevisionName`` (empty before Knative
    reconciled the Service)."""
    return str((svc.get("status") or {}).get("latestCreatedRevisionName") or "")


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = status.get("conditions") or []
    return {str(c.get("type")): c for c in found if isinstance(c, dict)}


def _says(condition: dict[str, Any] | None) -> str:
    if not condition:
        return "not reported"
    text = str(condition.get("status", "Unknown"))
    detail = condition.get("message") or condition.get("reason")
    return f"{text}: {detail}" if detail else text


def ksvc_readiness(svc: KubeObject) -> Readiness:
    """Both versions' readiness (:func:`ksvc_ready`), the challenger revision
    (:func:`ksvc_revision`) and the champion revision the Service pins now."""
    champion, challenger, why = ksvc_ready(svc)
    return Readiness(
        champion,
        challenger,
        ksvc_revision(svc),
        why,
        champion_revision=service_champion(svc),
    )


def ksvc_ready(svc: KubeObject) -> tuple[bool, bool, str]:
    """(champion ready, challenger ready, why not) from the Service's status (module doc)."""
    meta = svc.get("metadata") or {}
    name = f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"
    status = svc.get("status") or {}
    conditions = _conditions(status)
    route = conditions.get("RoutesReady") or conditions.get("Ready")
    ready_rev = status.get("latestReadyRevisionName")
    created = status.get("latestCreatedRevisionName")
    champion = (route or {}).get("status") == "True" and bool(ready_rev)
    config = conditions.get("ConfigurationsReady") or conditions.get("Ready")
    challenger = bool(created) and created == ready_rev and (config or {}).get("status") == "True"
    why: list[str] = []
    if not champion:
        why.append(
            f"Knative Service {name} does not serve yet (RoutesReady {_says(route)}, "
            f"latestReadyRevisionName {ready_rev or 'unset'})"
        )
    elif not challenger:
        why.append(
            f"Knative Service {name}: latest revision {created or '?'} is not ready yet "
            f"(latest ready {ready_rev or '?'}, ConfigurationsReady {_says(config)})"
        )
    elif (latest := _latest_target(svc)) is not None and latest != created:
        challenger = False
        why.append(
            f"Knative Service {name}: status.traffic still routes the latest target to "
            f"{latest}, not {created}"
        )
    return champion, challenger, "; ".join(why)


def _latest_target(svc: KubeObject) -> str | None:
    """The revision the ``latestRevision: true`` target of a current ``status.traffic``
    resolves to (None: no such target, or the status is of an older generation)."""
    status = svc.get("status") or {}
    generation = (svc.get("metadata") or {}).get("generation")
    if generation is None or status.get("observedGeneration") != generation:
        return None
    for target in status.get("traffic") or []:
        if isinstance(target, dict) and target.get("latestRevision") is True:
            name = target.get("revisionName")
            return str(name) if name else None
    return None
