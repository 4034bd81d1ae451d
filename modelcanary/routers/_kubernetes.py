"""Kubernetes (provider ``kubernetes``): blue/green with plain Services, no mesh or ingress.

As Flagger's ``kubernetes`` provider: ``<apex>`` (what clients call) selects the champion's
pods, ``<primary>`` the champion's and ``<canary>`` the challenger's. The challenger is tested
through ``<canary>`` (webhooks, load tests) while all live traffic stays on the champion; after
the analysis the champion is updated in place (promotion copies the challenger to the
``-primary`` Deployment), so the apex never has to leave it.

A Service cannot split traffic: this router realises only all-or-nothing routes by switching
the apex Service's selector, to the ``<primary>`` Service's selector (champion 100 %) or to the
``<canary>`` Service's (challenger 100 %), and refuses anything in between with a
``RouterError`` (the spec rules refuse a canary-weight plan long before: use a blue/green
``iterations`` plan or a mesh provider). The selectors are read from those two Services (the
operator's workloads create them from the target's selector label), never guessed.

The apex Service is shared with the workloads, which create it and keep it selecting the
champion, and it outlives the rollout. So the router:

- copies the stored apex (labels, annotations, type, ports) and changes only the selector:
  when the routes keep the champion it writes nothing, and it never fights the workloads
  over a label or annotation of its own (no desired-routes annotation: ``get_routes`` reads
  the selector, which is lossless);
- ``reconcile`` points the apex at the champion (drift, e.g. a hand-edited selector, is
  corrected to it), as the workloads and Flagger's Reconcile do: only ``set_routes`` moves it;
- ``finalize`` points it at the champion and deletes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._traffic import Routes
from ._base import ROUTES_ANNOTATION, ObjectRouter, require_input
from ._memory import Key

API = "v1"
KIND = "Service"
LAST_APPLIED = "modelcanary.io/last-applied"
"""The object store's record of what it last applied (``modelcanary.k8s``): never copied."""
NOT_COPIED = (LAST_APPLIED, ROUTES_ANNOTATION)
SWITCH_FIX = (
    "use a blue/green plan (spec.analysis.iterations, no stepWeight/stepWeights), or a mesh "
    "or ingress provider that splits traffic (e.g. istio, linkerd, nginx, gatewayapi)"
)


class KubernetesRouter(ObjectRouter):
    """The apex Service's selector: all traffic to the champion or to the challenger."""

    provider = "kubernetes"

    def _service(self, rollout: ModelRollout, name: str) -> Key:
        return self.key(rollout, API, KIND, name)

    def inputs(self, rollout: ModelRollout) -> list[Key]:
        """The apex Service as stored, and the primary and canary Services (their selectors)."""
        n = self.names(rollout)
        return [self._service(rollout, name) for name in (n.apex, n.primary, n.canary)]

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The apex Service (shared with the workloads: never deleted)."""
        return [self._service(rollout, self.names(rollout).apex)]

    def check(self, rollout: ModelRollout, routes: Routes) -> None:
        """Also: all traffic on one version (a Service selector cannot split it)."""
        super().check(rollout, routes)
        if routes.challenger_weight not in (0, 100):
            raise RouterError(
                f"provider {self.provider} switches the apex Service's selector and cannot "
                f"send {routes.challenger_weight}% to the challenger (only 0 or 100%): "
                + SWITCH_FIX
            )

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The apex Service selecting the version that gets all traffic."""
        n = self.names(rollout)
        primary = require_input(self, inputs, self._service(rollout, n.primary))
        canary = require_input(self, inputs, self._service(rollout, n.canary))
        chosen = canary if routes.challenger_weight == 100 else primary
        selector = _selector(chosen)
        stored = inputs.get(self._service(rollout, n.apex))
        if stored is None:  # not made by the workloads yet: from the primary Service
            meta = self.metadata(rollout, n.apex)
            meta.pop("ownerReferences", None)  # clients call it: it outlives the rollout
            base = primary
        else:
            meta = _copied_metadata(stored, n.apex, n.namespace)
            base = stored
        base_spec = base.get("spec") or {}
        spec: dict[str, Any] = {
            "type": base_spec.get("type", "ClusterIP"),
            "selector": selector,
            "ports": base_spec.get("ports") or [],
        }
        return [{"apiVersion": API, "kind": KIND, "metadata": meta, "spec": spec}]

    def render(
        self,
        rollout: ModelRollout,
        routes: Routes,
        inputs: Mapping[Key, KubeObject | None] | None = None,
    ) -> list[KubeObject]:
        """As every router, without the desired-routes annotation (the selector says what is
        in force; the workloads, which also apply the apex, would remove it every tick)."""
        objs = super().render(rollout, routes, inputs)
        for obj in objs:
            annotations = obj["metadata"]["annotations"]
            annotations.pop(ROUTES_ANNOTATION, None)
            if not annotations:
                del obj["metadata"]["annotations"]
        return objs

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Champion 100 % when the apex selects what ``<primary>`` selects, challenger 100 %
        when it selects what ``<canary>`` selects; RouterError for anything else."""
        n = self.names(rollout)
        apex = stored.get(self._service(rollout, n.apex))
        if apex is None:
            raise RouterError(f"{self.provider}: Service {n.namespace}/{n.apex} does not exist")
        inputs = self._read_inputs(rollout)
        selects = (apex.get("spec") or {}).get("selector") or {}
        primary = inputs.get(self._service(rollout, n.primary))
        canary = inputs.get(self._service(rollout, n.canary))
        if primary is not None and selects == _selector(primary):
            return Routes()
        if canary is not None and selects == _selector(canary):
            return Routes(champion_weight=0, challenger_weight=100)
        raise RouterError(
            f"{self.provider}: Service {n.namespace}/{n.apex} selects {selects or 'nothing'}, "
            f"neither the champion ({n.primary}) nor the challenger ({n.canary}); "
            "reconcile points it at the champion"
        )

    def desired(self, rollout: ModelRollout) -> Routes | None:
        """None: ``reconcile`` points the apex at the champion, as the workloads (and
        Flagger's Reconcile) do; only ``set_routes`` moves it."""
        return None

    def finalize(self, rollout: ModelRollout) -> None:
        """All traffic to the champion; the apex Service stays (clients call it)."""
        self.set_routes(rollout, Routes())


def _selector(service: KubeObject) -> dict[str, Any]:
    """The pod selector of a ``-primary``/``-canary`` Service (RouterError when it has none)."""
    selector = (service.get("spec") or {}).get("selector")
    if not isinstance(selector, Mapping) or not selector:
        meta = service.get("metadata") or {}
        raise RouterError(
            f"kubernetes: Service {meta.get('namespace')}/{meta.get('name')} has no pod "
            "selector; give it one (the operator's workloads create it selecting one version)"
        )
    return dict(selector)


def _copied_metadata(stored: KubeObject, name: str, namespace: str) -> KubeObject:
    """Name, namespace, labels and annotations of the stored apex, as they are."""
    meta = stored.get("metadata") or {}
    out: KubeObject = {"name": name, "namespace": namespace}
    if meta.get("labels"):
        out["labels"] = dict(meta["labels"])
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in NOT_COPIED}
    if annotations:
        out["annotations"] = annotations
    return out
