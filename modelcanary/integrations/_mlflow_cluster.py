"""Cluster mode of the MLflow hook: a challenger alias becomes the model's ModelRollout.

The hook does not run the rollout: it creates or patches ONE ModelRollout per registered model
(named after the model) with champion ``models:/NAME/<champion>`` and challenger
``models:/NAME/<N>``, and the operator runs it. A ``Follower`` (``mlflow_follow``) follows it
(the Kubernetes watch API, through ``ClusterRollouts``) and, as the status moves, logs each new
analysis interval to the version's MLflow run; once the operator has decided, it writes the
verdict (tags, champion alias) as the local mode does.

What a restarted hook reconciles from is stored, never kept in memory only:

- on the resource: label ``app.kubernetes.io/managed-by=modelcanary-mlflow-hook`` and the
  annotations ``modelcanary.io/mlflow-model`` / ``-version`` (what it rolls out) and
  ``-since`` (the newest time in the status when the hook applied it: analysis records and
  phase changes after it belong to this rollout, earlier ones to an earlier one; operator
  times only, so the hook's clock does not matter);
- on the model version: ``modelcanary.run_id`` (the MLflow run, RUNNING while in flight) and
  ``modelcanary.verdict`` (decided: nothing more happens for this version).

The champion alias therefore moves once per promotion: a version with a verdict is left alone,
and the alias is moved only when it does not point to the version already (``apply_verdict``),
so a hook that stops between the two writes moves nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SpecError, SpecIssue
from ..ports import Stored
from ..spec import ModelRollout, RolloutStatus, parse_rollout
from ._mlflow_policy import slug
from ._mlflow_runs import EXPERIMENT, stamp_millis

if TYPE_CHECKING:
    from ..controller._cluster import ClusterRollouts

MANAGED_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "modelcanary-mlflow-hook"
MODEL_ANNOTATION = "modelcanary.io/mlflow-model"
VERSION_ANNOTATION = "modelcanary.io/mlflow-version"
SINCE_ANNOTATION = "modelcanary.io/mlflow-since"
TRACKING_ENV = "MLFLOW_TRACKING_URI"


@dataclass
class ClusterTarget:
    """Where and how the hook rolls out in cluster mode (shared by its followers)."""

    rollouts: ClusterRollouts
    namespace: str
    template: ModelRollout | str | Path | None
    tracking_uri: str | None
    champion_alias: str = "champion"
    challenger_alias: str = "challenger"
    experiment: str = EXPERIMENT

    def managed(self) -> list[tuple[str, str]]:
        """(model, version) of every ModelRollout the hook manages in its namespace."""
        pairs = []
        for obj in self.rollouts.resources(self.namespace):
            meta = obj.get("metadata") or {}
            if (meta.get("labels") or {}).get(MANAGED_LABEL) != MANAGED_BY:
                continue
            notes = meta.get("annotations") or {}
            if notes.get(MODEL_ANNOTATION) and notes.get(VERSION_ANNOTATION):
                pairs.append((str(notes[MODEL_ANNOTATION]), str(notes[VERSION_ANNOTATION])))
        return pairs


def cluster_template(template: ModelRollout) -> ModelRollout:
    """``template`` if the operator can run it; SpecError naming the field otherwise."""
    spec = template.spec
    if spec.router.provider == "local":
        raise SpecError(
            SpecIssue(
                "spec.router.provider",
                "'local' runs on this machine, not in a cluster",
                "set the mesh/ingress the operator drives (istio, gatewayapi, nginx, ...) in "
                "the template, or run the hook without --cluster",
            )
        )
    if spec.target_ref is not None:
        raise SpecError(
            SpecIssue(
                "spec.targetRef",
                "the hook rolls out model versions (champion/challenger), not a workload",
                "remove targetRef from the template; champion/challenger are filled in",
            )
        )
    return template


def build_cluster_rollout(
    template: ModelRollout,
    name: str,
    champion: str,
    challenger: str,
    *,
    namespace: str,
    since: str | None,
    tracking_uri: str | None,
) -> ModelRollout:
    """The model's ModelRollout: the template with ``models:/NAME/<version>`` on both sides
    (their serving, env and resources kept), the hook's label and annotations."""
    data = cluster_template(template).to_dict()
    data.pop("status", None)
    spec = data.setdefault("spec", {})
    for side, version in (("champion", champion), ("challenger", challenger)):
        given = {
            k: v
            for k, v in (spec.get(side) or {}).items()
            if k not in ("url", "modelUri", "image", "name")
        }
        env = dict(given.get("env") or {})
        if tracking_uri and TRACKING_ENV not in env:
            env[TRACKING_ENV] = tracking_uri  # the model server loads models:/ from the registry
        spec[side] = {
            **given,
            "modelUri": f"models:/{name}/{version}",
            "name": f"v{version}",
            **({"env": env} if env else {}),
        }
    meta = data.setdefault("metadata", {})
    meta.update({"name": slug(name), "namespace": namespace})
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_LABEL: MANAGED_BY}
    notes = {MODEL_ANNOTATION: name, VERSION_ANNOTATION: challenger}
    if since is not None:
        notes[SINCE_ANNOTATION] = since
    meta["annotations"] = {**(meta.get("annotations") or {}), **notes}
    return parse_rollout(data, source=f"{name} v{challenger}")


def newest_stamp(status: RolloutStatus | None) -> str | None:
    """The newest time the operator wrote in ``status`` (None: no status yet)."""
    if status is None:
        return None
    stamps = [status.last_transition_time, status.last_analysis_time, status.step_started_at]
    stamps += [record.time for record in status.history]
    stamps += [c.last_update_time for c in status.conditions]
    known = [s for s in stamps if s]
    return max(known, key=stamp_millis) if known else None


def millis(stamp: str | None) -> int:
    """``stamp`` in ms (-1 for none: earlier than any time)."""
    return -1 if not stamp else stamp_millis(stamp)


def marks(stored: Stored | None) -> dict[str, str]:
    """The hook's annotations of a stored rollout ({} when the hook does not manage it)."""
    if stored is None:
        return {}
    meta = stored.rollout.metadata
    if (meta.labels or {}).get(MANAGED_LABEL) != MANAGED_BY:
        return {}
    return dict(meta.annotations or {})
