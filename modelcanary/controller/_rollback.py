"""Start a rollback in a cluster: one JSON merge patch of the ModelRollout.

``modelcanary rollback NAME --to VERSION --cluster`` and ``kubectl modelcanary rollback`` plan
the rolled-back rollout (:func:`modelcanary.rollout._rollback.plan_rollback`); this writes it.
The patch sets the new champion, challenger and short plan, ``null``s the plan fields the
rollback drops (``stepWeightPromotion``, ``shadow``, ``steps``... an apply would leave fields
it did not set earlier), adds the ``modelcanary.io/rollback`` annotation and carries the
``resourceVersion`` that was read: if the operator or a person changed the rollout since, the
API server answers 409 and nothing is written. The status is not touched: the operator sees a
new revision at its next tick, starts the rollout and records the request in its history.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import ConflictError
from ..ports import Stored
from ..rollout._rollback import ROLLBACK
from ..spec import ModelRollout
from ._cluster import API_VERSION, KIND, access, resource


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 JSON merge patch turning ``old`` into ``new`` (lists are replaced whole;
    a key of ``old`` missing from ``new`` becomes ``null``)."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_patch(old[key], value)
    return patch


def rollback_patch(stored: Stored, new: ModelRollout, namespace: str) -> dict[str, Any]:
    """The merge patch writing ``new`` over the stored rollout (spec and the annotation)."""
    before = resource(stored.rollout, namespace)["spec"]
    after = resource(new, namespace)["spec"]
    meta: dict[str, Any] = {
        "annotations": {ROLLBACK: (new.metadata.annotations or {})[ROLLBACK]},
    }
    if stored.version:
        meta["resourceVersion"] = stored.version
    return {"metadata": meta, "spec": merge_patch(before, after)}


def request_rollback(
    stored: Stored,
    new: ModelRollout,
    namespace: str,
    kubeconfig: str | None = None,
    context: str | None = None,
) -> None:
    """Patch the ModelRollout in the cluster (ConflictError when it changed since read)."""
    from ..k8s._client import KubeClient, Ref, load_api_client

    api = load_api_client(kubeconfig=kubeconfig or os.environ.get("KUBECONFIG"), context=context)
    ref = Ref(API_VERSION, KIND, namespace, new.name)
    with access("patch", new.name, namespace):
        try:
            KubeClient(api).patch(ref, rollback_patch(stored, new, namespace))
        except ConflictError:
            raise ConflictError(
                f"ModelRollout {namespace}/{new.name} changed while the rollback was prepared "
                "(the operator wrote it, or someone edited it): nothing was written; run the "
                "rollback again"
            ) from None
