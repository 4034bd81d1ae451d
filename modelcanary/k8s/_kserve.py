"""A KServe InferenceService as the ``targetRef``: KServe runs both revisions itself.

KServe keeps the previously rolled-out revision (champion) and the latest (challenger) of one
InferenceService; the kserve router moves ``canaryTrafficPercent``. So the workloads create and
scale nothing: readiness comes from the InferenceService status and the challenger revision is
a hash of ``spec.predictor`` without the traffic percent the router writes.
"""

from __future__ import annotations

import copy
from typing import Any

from ..ports import KubeObject
from ._deployments import template_hash

KIND = "InferenceService"


def isvc_revision(isvc: KubeObject) -> str:
    """Hash of the predictor spec (a new model or image), not of the traffic percent."""
    predictor: dict[str, Any] = copy.deepcopy((isvc.get("spec") or {}).get("predictor") or {})
    predictor.pop("canaryTrafficPercent", None)
    return template_hash(predictor)


def isvc_ready(isvc: KubeObject) -> tuple[bool, bool, str]:
    """(champion ready, challenger ready, why not): ``Ready`` condition True, and the latest
    created predictor revision is the latest ready one."""
    name = (isvc.get("metadata") or {}).get("name", "?")
    status = isvc.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready = conditions.get("Ready", {})
    champion = ready.get("status") == "True"
    predictor = (status.get("components") or {}).get("predictor") or {}
    created = predictor.get("latestCreatedRevision")
    challenger = (
        champion and created is not None and created == predictor.get("latestReadyRevision")
    )
    why = []
    if not champion:
        why.append(
            f"InferenceService {name} is not Ready"
            + (f": {ready.get('message')}" if ready.get("message") else "")
        )
    elif not challenger:
        why.append(f"InferenceService {name}: latest revision {created or '?'} is not ready yet")
    return champion, challenger, "; ".join(why)
