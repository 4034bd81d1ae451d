"""``KubeWorkloads``: the Workloads port on Deployments (Flagger-style ``targetRef`` or explicit
champion/challenger model versions).

**targetRef**: the champion runs as ``<target>-primary``, a copy of the target Deployment whose
selector label (``app``/``name``/``app.kubernetes.io/name``) value is ``<value>-primary``; the
target itself is the challenger. During initialisation the primary is created and, once it is
ready, the target is scaled to 0; a rollout starts when the target's pod template (or a
ConfigMap/Secret it references) changes — the challenger revision is a hash of those — and
``ensure`` scales the target up to the primary's replicas (the autoscaler's minimum with
``autoscalerRef``). Promotion copies the target's pod template to the primary, with every
referenced ConfigMap and Secret copied as ``<name>-primary`` and the references rewritten.

**champion/challenger**: ``<base>-primary`` serves ``spec.champion`` (created once: after a
promotion it serves the promoted version, whatever ``spec.champion`` says) and
``<base>-canary`` serves ``spec.challenger`` (kept in line with the spec); both from the
serving template (``modelcanary serve MODEL_URI`` in the serving image, or the version's own
image). The revision is a hash of the challenger's rendered pod template.

**KServe** (``targetRef`` of kind InferenceService): KServe runs both revisions; readiness and
the revision come from the InferenceService (``modelcanary.k8s._kserve``), nothing is created.

The two Deployment modes create the Services ``<apex>``, ``<primary>`` and ``<canary>`` and
the autoscaler's ``-primary`` copy. What serves the champion outlives the rollout (deleting a
ModelRollout must leave a serving, analysed version): the ``-primary`` Deployment, its
ConfigMap/Secret and autoscaler copies and the apex Service carry the rollout's label but no
ownerReference; the ``-primary``/``-canary`` Services and the challenger Deployment of the
champion/challenger mode are owned by the ModelRollout, so the garbage collector removes them
(``modelcanary.k8s._release`` reverts to the target first with ``revertOnDeletion``).
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import WorkloadError
from ..ports import KubeObject
from ..rollout._observations import Readiness
from ..spec import ModelRollout, Phase
from ..spec._naming import Names, names
from ._client import KubeClient, KubeNotFound, Ref
from ._deployments import (
    COPIED_FIELDS,
    DEFAULT_IMAGE,
    ROLE_LABEL,
    config_refs,
    deployment_ready,
    primary_deployment,
    primary_template,
    rename_refs,
    selector_label,
    serving_deployment,
    template_hash,
)
from ._hpa import KubeAutoscalers
from ._knative import is_knative_ref, ksvc_readiness
from ._kserve import KIND as ISVC_KIND
from ._kserve import isvc_ready, isvc_revision
from ._objects import ROLLOUT_LABEL, KubeObjectStore
from ._services import KubeServices

INIT_PHASES = (None, "Initializing")
"""Phases in which ``ensure`` initialises (creates the primary, then idles the target)."""
CONFIG_HASH = "modelcanary.io/config-hash"
"""Pod template annotation of the champion: hash of its copied ConfigMaps/Secrets."""
PRIMARY_COPY = "modelcanary.io/primary-copy-of"
"""Annotation on ConfigMap/Secret copies: the original's name."""


class KubeWorkloads:
    """The Workloads port for the operator."""

    def __init__(
        self,
        client: KubeClient,
        *,
        store: KubeObjectStore | None = None,
        default_image: str = DEFAULT_IMAGE,
    ) -> None:
        self.client = client
        self.store = store or KubeObjectStore(client)
        self.default_image = default_image
        self.services = KubeServices(self.store)
        self.autoscalers = KubeAutoscalers(self.store)

    # -- port -------------------------------------------------------------------------------
    def ensure(self, rollout: ModelRollout) -> None:
        """Create or update the workloads, Services and autoscaler copy to match the spec."""
        if _is_isvc(rollout):
            self._target(rollout)  # KServe runs both revisions: only check it exists
        elif rollout.spec.target_ref is not None:
            self._ensure_target(rollout)
        else:
            self._ensure_versions(rollout)

    def readiness(self, rollout: ModelRollout) -> Readiness:
        """Both Deployments against the ready thresholds, and the challenger revision."""
        n = names(rollout)
        analysis = rollout.spec.analysis
        if _is_isvc(rollout):
            isvc = self._target(rollout)
            if is_knative_ref(rollout.spec.target_ref):  # Knative: revisions by name
                return ksvc_readiness(isvc)
            old_ok, new_ok, why = isvc_ready(isvc)
            return Readiness(old_ok, new_ok, isvc_revision(isvc), why)
        primary = self._deployment(n.namespace, n.primary_workload)
        champion_ok, champion_why = deployment_ready(
            primary, analysis.primary_ready_threshold, "champion"
        )
        challenger: KubeObject | None
        if rollout.spec.target_ref is not None:
            challenger = self._target(rollout)
            revision = self._target_revision(challenger, n.namespace)
        else:
            challenger = self._deployment(n.namespace, n.challenger_workload)
            revision = self._versions_revision(rollout)
        challenger_ok, challenger_why = deployment_ready(
            challenger, analysis.canary_ready_threshold, "challenger"
        )
        message = "; ".join(m for m in (champion_why, challenger_why) if m)
        return Readiness(champion_ok, challenger_ok, revision, message)

    def scale_challenger(self, rollout: ModelRollout, replicas: int) -> None:
        """Scale the challenger Deployment (the target with targetRef; nothing for KServe)."""
        if _is_isvc(rollout):
            return
        n = names(rollout)
        self._scale(n.namespace, n.challenger_workload, replicas)

    def promote(self, rollout: ModelRollout) -> None:
        """Copy the challenger's pod template (and its ConfigMaps/Secrets) to the champion
        (nothing for KServe: the kserve router's traffic percent promotes)."""
        if _is_isvc(rollout):
            return
        n = names(rollout)
        source = self._deployment(n.namespace, n.challenger_workload)
        if source is None:
            raise WorkloadError(
                f"cannot promote: challenger Deployment {n.namespace}/{n.challenger_workload} "
                "does not exist"
            )
        primary = self._deployment(n.namespace, n.primary_workload)
        if primary is None:
            raise WorkloadError(
                f"cannot promote: champion Deployment {n.namespace}/{n.primary_workload} "
                "does not exist (fix: retry the rollout so it is initialised)"
            )
        key, value = selector_label(source)
        primary_key, primary_value = selector_label(primary)
        template = primary_template(source, (primary_key, value), primary_value)
        pod_labels = template["metadata"]["labels"]
        if key != primary_key:
            pod_labels.pop(key, None)
        if ROLE_LABEL in pod_labels:
            pod_labels[ROLE_LABEL] = "champion"
        self._copy_config(rollout, template, n.namespace)
        spec: dict[str, Any] = {"template": template}
        src_spec = source.get("spec") or {}
        for field in COPIED_FIELDS:
            if field in src_spec:
                spec[field] = copy.deepcopy(src_spec[field])
        source_note = (source.get("metadata", {}).get("annotations") or {}).get(
            "modelcanary.io/source"
        )
        patch: dict[str, Any] = {"spec": spec}
        if source_note:
            patch["metadata"] = {"annotations": {"modelcanary.io/source": source_note}}
        try:
            self.client.patch(Ref("apps/v1", "Deployment", n.namespace, n.primary_workload), patch)
        except KubeNotFound:
            raise WorkloadError(f"champion Deployment {n.primary_workload} vanished") from None

    def keep_idle(self, rollout: ModelRollout) -> bool:
        """Between rollouts (Initialized, Succeeded, Failed, Waiting) the target of a
        ``targetRef`` rollout runs no pods: the champion serves. When a re-apply of the
        target's manifest (a GitOps sync) set its replicas again, scale it back to 0; only
        ``.spec.replicas`` is written, the one field the operator owns on the target. Nothing
        is done while the champion is not ready. True when it scaled."""
        ref = rollout.spec.target_ref
        phase = rollout.status.phase if rollout.status is not None else None
        if ref is None or _is_isvc(rollout) or not _idle(phase):
            return False
        n = names(rollout)
        target = self.client.get(Ref(ref.api_version, ref.kind, n.namespace, ref.name))
        if target is None or int((target.get("spec") or {}).get("replicas", 1) or 0) == 0:
            return False
        primary = self._deployment(n.namespace, n.primary_workload)
        threshold = rollout.spec.analysis.primary_ready_threshold
        if not deployment_ready(primary, threshold, "champion")[0]:
            return False
        self._scale(n.namespace, n.challenger_workload, 0)
        return True

    # -- targetRef --------------------------------------------------------------------------
    def _target(self, rollout: ModelRollout) -> KubeObject:
        ref = rollout.spec.target_ref
        assert ref is not None
        n = names(rollout)
        if ref.kind not in ("Deployment", ISVC_KIND) and not is_knative_ref(ref):
            raise WorkloadError(
                f"spec.targetRef.kind: {ref.kind} is not supported by the Kubernetes workloads "
                f"(fix: target a Deployment, a KServe {ISVC_KIND} or a Knative Service)"
            )
        found = self.client.get(Ref(ref.api_version, ref.kind, n.namespace, ref.name))
        if found is None:
            raise WorkloadError(
                f"spec.targetRef: Deployment {n.namespace}/{ref.name} does not exist "
                "(fix: create it, or correct targetRef.name)"
            )
        return found

    def _target_revision(self, target: KubeObject, namespace: str) -> str:
        template = (target.get("spec") or {}).get("template") or {}
        config: list[Any] = []
        for kind, name in config_refs(template):
            obj = self.client.get(Ref("v1", kind, namespace, name))
            if obj is not None:
                config.append([kind, name, obj.get("data"), obj.get("binaryData")])
        return template_hash(template, config)

    def _ensure_target(self, rollout: ModelRollout) -> None:
        n = names(rollout)
        target = self._target(rollout)
        key, value = selector_label(target)
        labels = {ROLLOUT_LABEL: rollout.name, ROLE_LABEL: "champion"}
        primary = self._deployment(n.namespace, n.primary_workload)
        phase = rollout.status.phase if rollout.status is not None else None
        if primary is None:
            replicas = self.autoscalers.min_replicas(rollout, n.namespace, primary=True)
            if replicas is None:
                replicas = int((target.get("spec") or {}).get("replicas", 1) or 1)
            desired = primary_deployment(target, n.primary_workload, n.namespace, replicas, labels)
            self._copy_config(rollout, desired["spec"]["template"], n.namespace)
            self.store.apply(desired, owner=rollout, owned=False)
            primary = self._deployment(n.namespace, n.primary_workload)
        else:
            self.store.disown(primary, rollout)
        ports = _container_ports(target)
        self.services.ensure(rollout, key, f"{value}-primary", value, ports or 80)
        self.autoscalers.ensure(rollout, n.namespace, n.primary_workload)
        if phase in INIT_PHASES:
            threshold = rollout.spec.analysis.primary_ready_threshold
            if deployment_ready(primary, threshold, "champion")[0]:
                self._scale(n.namespace, n.challenger_workload, 0)
            return
        replicas = self.autoscalers.min_replicas(rollout, n.namespace)
        if replicas is None:
            replicas = int(((primary or {}).get("spec") or {}).get("replicas", 1) or 1)
        current = (target.get("spec") or {}).get("replicas")
        if current is None or int(current) < replicas:
            self._scale(n.namespace, n.challenger_workload, replicas)

    # -- champion / challenger model versions ----------------------------------------------
    def _rendered(self, rollout: ModelRollout, n: Names) -> tuple[KubeObject, KubeObject]:
        spec = rollout.spec
        if spec.champion is None or spec.challenger is None:
            raise WorkloadError(
                "spec.champion and spec.challenger (or spec.targetRef) are needed by the "
                "Kubernetes workloads (fix: add both versions, or a targetRef)"
            )
        common = {ROLLOUT_LABEL: rollout.name}
        champion = serving_deployment(
            spec.champion,
            n.primary_workload,
            n.namespace,
            {**common, ROLE_LABEL: "champion"},
            self.default_image,
            "spec.champion",
        )
        challenger = serving_deployment(
            spec.challenger,
            n.challenger_workload,
            n.namespace,
            {**common, ROLE_LABEL: "challenger"},
            self.default_image,
            "spec.challenger",
        )
        return champion, challenger

    def _versions_revision(self, rollout: ModelRollout) -> str:
        _, challenger = self._rendered(rollout, names(rollout))
        return template_hash(challenger["spec"]["template"])

    def _ensure_versions(self, rollout: ModelRollout) -> None:
        n = names(rollout)
        champion, challenger = self._rendered(rollout, n)
        primary = self._deployment(n.namespace, n.primary_workload)
        if primary is None:
            self.store.apply(champion, owner=rollout, owned=False)
        else:
            self.store.disown(primary, rollout)
        self.store.apply(challenger, owner=rollout)
        port = challenger["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        self.services.ensure(rollout, "app", n.primary_workload, n.challenger_workload, port)
        self.autoscalers.ensure(rollout, n.namespace, n.primary_workload)

    # -- shared -----------------------------------------------------------------------------
    def _deployment(self, namespace: str, name: str) -> KubeObject | None:
        return self.client.get(Ref("apps/v1", "Deployment", namespace, name))

    def _scale(self, namespace: str, name: str, replicas: int) -> None:
        try:
            self.client.patch(
                Ref("apps/v1", "Deployment", namespace, name), {"spec": {"replicas": replicas}}
            )
        except KubeNotFound:
            if replicas > 0:
                raise WorkloadError(
                    f"cannot scale Deployment {namespace}/{name} to {replicas}: it does not exist"
                ) from None

    def _copy_config(self, rollout: ModelRollout, template: dict[str, Any], namespace: str) -> None:
        """Copy every existing ConfigMap/Secret the template references to ``<name>-primary``
        and point the template at the copies (missing optional ones are left as they are)."""
        copied: dict[tuple[str, str], str] = {}
        contents: list[Any] = []
        for kind, name in config_refs(template):
            if name.endswith("-primary"):
                continue
            source = self.client.get(Ref("v1", kind, namespace, name))
            if source is None:
                continue
            self.store.apply(
                _config_copy(source, f"{name}-primary", rollout.name), owner=rollout, owned=False
            )
            copied[(kind, name)] = f"{name}-primary"
            contents.append([kind, name, source.get("data"), source.get("binaryData")])
        rename_refs(template, lambda kind, name: copied.get((kind, name)))
        if contents:  # new config content rolls the champion's pods
            notes = template.setdefault("metadata", {}).setdefault("annotations", {})
            notes[CONFIG_HASH] = template_hash(contents)


def _config_copy(source: KubeObject, name: str, rollout: str) -> KubeObject:
    meta = source.get("metadata") or {}
    labels = {**(meta.get("labels") or {}), ROLLOUT_LABEL: rollout}
    copy_obj: KubeObject = {
        "apiVersion": "v1",
        "kind": source.get("kind", "ConfigMap"),
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace"),
            "labels": labels,
            "annotations": {PRIMARY_COPY: str(meta.get("name", ""))},
        },
    }
    for field in ("data", "binaryData", "type"):
        if field in source:
            copy_obj[field] = copy.deepcopy(source[field])
    return copy_obj


def _container_ports(deployment: KubeObject) -> int | None:
    template = (deployment.get("spec") or {}).get("template") or {}
    for container in (template.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("containerPort"):
                return int(port["containerPort"])
    return None


def _is_isvc(rollout: ModelRollout) -> bool:
    """KServe or Knative: the platform runs both revisions, nothing is created or scaled."""
    ref = rollout.spec.target_ref
    return ref is not None and (ref.kind == ISVC_KIND or is_knative_ref(ref))


def _idle(phase: str | None) -> bool:
    """True between rollouts (the phase table's ``idle_target``)."""
    return phase is not None and Phase(phase).traits.idle_target
