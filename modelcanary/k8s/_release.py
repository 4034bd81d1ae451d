"""``KubeRelease``: what a deleted ModelRollout leaves behind, and the revert before it goes.

Deleting a ModelRollout must leave a serving, analysed version (as Flagger's docs describe for
``revertOnDeletion``). What serves the champion is never owned by the rollout (see
``modelcanary.k8s._workloads``), so the garbage collector only removes what the operator made
for the analysis: the ``-primary``/``-canary`` Services, the routing objects and, with explicit
champion/challenger versions, the challenger Deployment.

- **Without** ``revertOnDeletion`` (no finalizer, nothing runs on deletion): the champion keeps
  serving as ``<target>-primary`` behind the apex Service; the target is left as it was (at 0
  replicas between rollouts).
- **With** ``revertOnDeletion`` (the operator's finalizer holds the rollout until this is done):
  when the target's pod template is the analysed champion's (``status.lastPromotedSpec``: the
  rollout is Initialized, Succeeded, or idle after a promotion), the target is scaled back up
  to the champion's replicas and, once ready, the apex Service selects the target's pods; the
  champion copies (Deployment, ConfigMap/Secret and autoscaler copies) are then given to the
  garbage collector. When the target runs a revision that was not promoted (deleted mid-
  analysis, or after a rollback) the champion keeps serving as ``-primary`` and the target is
  scaled to 0, as on a rollback: an unanalysed version never receives the traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._naming import names
from ._client import Ref
from ._deployments import config_refs, deployment_ready, selector_label
from ._hpa import primary_autoscaler
from ._objects import ROLLOUT_LABEL
from ._services import render_services
from ._workloads import KubeWorkloads, _container_ports, _is_isvc

Plan = Literal["target", "champion"]
"""``target``: revert to the (analysed) target; ``champion``: the ``-primary`` keeps serving."""


@dataclass(frozen=True)
class Remains:
    """What serves after the deletion, for the Event and the log."""

    plan: Plan
    message: str


class KubeRelease:
    """The deletion side of :class:`KubeWorkloads` (same client and object store)."""

    def __init__(self, workloads: KubeWorkloads) -> None:
        self.workloads = workloads
        self.client = workloads.client
        self.store = workloads.store

    def plan(self, rollout: ModelRollout) -> Plan:
        """``target`` when the rollout reverts on deletion and its Deployment target runs the
        revision last promoted (analysed), or when the champion is not ready to serve (deleted
        while initialising); ``champion`` otherwise."""
        ref = rollout.spec.target_ref
        status = rollout.status
        if not rollout.spec.revert_on_deletion or ref is None or _is_isvc(rollout):
            return "champion"
        n = names(rollout)
        target = self.client.get(Ref(ref.api_version, ref.kind, n.namespace, ref.name))
        if target is None:
            return "champion"
        primary = self.workloads._deployment(n.namespace, n.primary_workload)
        threshold = rollout.spec.analysis.primary_ready_threshold
        if not deployment_ready(primary, threshold, "champion")[0]:
            return "target"  # deleted while initialising: the target is what can serve
        if status is None or not status.last_promoted_spec:
            return "champion"
        revision = self.workloads._target_revision(target, n.namespace)
        return "target" if revision == status.last_promoted_spec else "champion"

    def scale_target_up(self, rollout: ModelRollout) -> tuple[bool, str]:
        """Scale the target to the champion's replicas; (ready, why not) as the target's
        Deployment reports it. Done before the routing objects go."""
        n = names(rollout)
        primary = self.workloads._deployment(n.namespace, n.primary_workload)
        replicas = int(((primary or {}).get("spec") or {}).get("replicas", 1) or 1)
        target = self.workloads._target(rollout)
        current = int((target.get("spec") or {}).get("replicas", 1) or 0)
        if current < replicas:
            self.workloads._scale(n.namespace, n.challenger_workload, replicas)
            target = self.workloads._target(rollout)
        ready, why = deployment_ready(target, 100, "target")
        return ready, why

    def finish(self, rollout: ModelRollout, plan: Plan) -> Remains:
        """After the routing objects are gone: point the apex Service at what serves and give
        the garbage collector what no longer does."""
        n = names(rollout)
        if plan == "target":
            target = self.workloads._target(rollout)
            key, value = selector_label(target)
            apex = render_services(rollout, key, value, value, _container_ports(target) or 80)[0]
            self.store.apply(apex, owner=rollout, owned=False)
            self._give_champion_copies(rollout)
            return Remains(
                plan,
                f"reverted: Service {n.apex} selects the target Deployment {n.challenger_workload} "
                f"({key}={value}), which runs the promoted revision; {n.primary_workload} and "
                "its copies are removed with the rollout",
            )
        ref = rollout.spec.target_ref
        if ref is not None and not _is_isvc(rollout):
            target = self.client.get(Ref(ref.api_version, ref.kind, n.namespace, ref.name)) or {}
            if target and int((target.get("spec") or {}).get("replicas", 1) or 0) > 0:
                self.workloads._scale(n.namespace, n.challenger_workload, 0)
            why = (
                f"the target {n.challenger_workload} is scaled to 0 (its revision was not "
                "promoted, or it did not become ready) and "
            )
            return Remains(
                plan,
                f"{why}the champion keeps serving as Deployment {n.primary_workload} behind "
                f"Service {n.apex}",
            )
        return Remains(
            plan, f"the champion keeps serving as Deployment {n.primary_workload} behind {n.apex}"
        )

    def _give_champion_copies(self, rollout: ModelRollout) -> None:
        """Own the champion Deployment, its ConfigMap/Secret copies and autoscaler copy, so
        the garbage collector removes them once the rollout is gone."""
        n = names(rollout)
        primary = self.workloads._deployment(n.namespace, n.primary_workload)
        if primary is None:
            return
        template = (primary.get("spec") or {}).get("template") or {}
        for kind, name in config_refs(template):
            copy_obj = self.client.get(Ref("v1", kind, n.namespace, name))
            labels = ((copy_obj or {}).get("metadata") or {}).get("labels") or {}
            if copy_obj is not None and labels.get(ROLLOUT_LABEL) == rollout.name:
                self.store.own(copy_obj, rollout)
        ref = rollout.spec.autoscaler_ref
        if ref is not None:
            source: KubeObject = {"metadata": {"namespace": n.namespace}, "spec": {}}
            scaler = primary_autoscaler(source, ref, n.primary_workload, rollout.name)
            scaler["apiVersion"], scaler["kind"] = ref.api_version, ref.kind
            self.store.own(scaler, rollout)
        self.store.own(primary, rollout)
