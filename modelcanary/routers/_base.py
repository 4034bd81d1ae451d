"""Shared machinery of the mesh/ingress routers: render purely, apply through the ObjectStore.

A router is two pure functions plus this base class:

- ``render_objects(rollout, routes, inputs)`` -> the Kubernetes objects realising ``routes``
  (``inputs`` are objects the router reads but does not own, e.g. the Ingress to clone);
- ``parse(rollout, stored)`` -> the ``Routes`` the stored objects put in force.

The base class turns them into the ``TrafficRouter`` port:

- ``set_routes`` checks the routes against the provider's features (a ``RouterError`` names
  the provider and what it supports), renders everything first, then applies the supporting
  objects and the object holding the weights last: one write switches the traffic;
- every rendered object carries the desired routes in the ``modelcanary.io/routes``
  annotation, so ``reconcile`` re-applies them (creating what is missing, correcting drift);
- ``get_routes`` parses the stored objects; when they are exactly what the desired routes
  render to, it returns the desired routes themselves (round trip ``get(set(x)) == x``), else
  what the objects really do;
- ``finalize`` sends 100 % to the champion, then deletes what the router created. Objects that
  existed before the router took them over (adopted: a user's VirtualService, an
  InferenceService) are left in place, routing everything to the champion.
"""

from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, TypeAlias, runtime_checkable

from ..errors import ConflictError, RouterError
from ..ports import KubeObject, ObjectStore
from ..spec import API_VERSION, KIND, ModelRollout, ObjectRef
from ..spec._analysis import MatchCondition, SessionAffinity
from ..spec._naming import Names, names
from ..spec._traffic import (
    MATCH_PARTS,
    PART_NAMES,
    Capabilities,
    Routes,
    capabilities,
    providers_with,
)
from ._matching import check_one_cookie
from ._memory import Key, object_key

ROUTES_ANNOTATION = "modelcanary.io/routes"
"""Desired routes (JSON) on every rendered object: what reconcile restores."""
ADOPTED_ANNOTATION = "modelcanary.io/adopted"
"""``"true"`` on an object that existed before the router managed it (kept on finalize)."""
MANAGED_BY = "app.kubernetes.io/managed-by"
ROLLOUT_LABEL = "modelcanary.io/rollout"

Features: TypeAlias = Capabilities
"""What a provider can do with traffic: its row of ``spec.traffic.CAPABILITIES``."""


@runtime_checkable
class AppliesOver(Protocol):
    """An ObjectStore that remembers the objects it wrote and applies over a copy its
    caller holds (``modelcanary.k8s.KubeObjectStore``), so :meth:`ObjectRouter.set_routes`
    costs one write per changed object, not two reads and a write:

    - the object as last written (:meth:`known`) decides adoption and drift; the patch
      carries its ``resourceVersion``, so an object changed meanwhile answers 409 and is
      read and applied again (an edit by someone else is still corrected);
    - an object with nothing to change against that copy is read once (drift correction
      needs the truth) and handed over, not read again by the store.
    """

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> KubeObject | None:
        """The object, or None when it does not exist."""
        ...

    def known(self, api_version: str, kind: str, namespace: str, name: str) -> KubeObject | None:
        """The object as last read or written (None: unknown), without a request."""
        ...

    def apply_over(
        self, obj: KubeObject, stored: KubeObject | None, *, guarded: bool = False
    ) -> KubeObject | None:
        """Create ``obj`` or patch ``stored`` to match it (``guarded``: ``stored`` may be
        stale; 409 if it is, None when there is nothing to write against it)."""
        ...


def _adopt(obj: KubeObject, existing: KubeObject | None) -> None:
    """Keep an object the router adopted (a user's) adopted: never the rollout's, so
    deleting the rollout never deletes it."""
    if existing is not None and _adopted(existing):
        obj["metadata"]["annotations"][ADOPTED_ANNOTATION] = "true"
        disown(obj["metadata"])


def _apply_over(store: AppliesOver, obj: KubeObject, key: Key) -> None:
    """Apply ``obj`` over the remembered copy (one guarded write), else over a fresh read."""
    known = store.known(*key)
    if known is not None:
        guarded = copy.deepcopy(obj)
        _adopt(guarded, known)
        try:
            if store.apply_over(guarded, known, guarded=True) is not None:
                return
        except ConflictError:
            pass  # changed since it was written: read it
    existing = store.get(*key)
    _adopt(obj, existing)
    store.apply_over(obj, existing)


class ObjectRouter(ABC):
    """A ``TrafficRouter`` that renders Kubernetes objects and applies them via ``ObjectStore``."""

    provider: ClassVar[str]
    """The ``spec.router.provider`` name."""
    features: ClassVar[Features]
    """What the provider supports (checked before anything is written): set from the one
    capability table, ``spec.traffic.CAPABILITIES``, for every class naming a provider."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "provider" in cls.__dict__:
            cls.features = capabilities(cls.provider)

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects

    # -- what a router implements -----------------------------------------------------------
    def inputs(self, rollout: ModelRollout) -> list[Key]:
        """Objects ``render_objects`` reads and does not own (default: none)."""
        return []

    @abstractmethod
    def owned(self, rollout: ModelRollout) -> list[Key]:
        """Every object this router may create for ``rollout`` (weights object last)."""

    @abstractmethod
    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The objects realising ``routes`` (pure; the object holding the weights last)."""

    @abstractmethod
    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """The routes that the ``stored`` objects (present ones of ``owned``) put in force."""

    def check(self, rollout: ModelRollout, routes: Routes) -> None:
        """Raise RouterError for routes this provider cannot realise (override to add rules)."""
        supported = f"{self.provider} supports {self.features.describe()}"
        if routes.mirror_weight and not self.features.mirror:
            raise RouterError(
                f"provider {self.provider} cannot mirror traffic (mirror weight "
                f"{routes.mirror_weight}%): {supported}; mirror with "
                + _cluster_providers("mirror")
            )
        if routes.session_affinity is not None and not self.features.session_affinity:
            raise RouterError(
                f"provider {self.provider} has no session affinity: {supported}; "
                "remove spec.analysis.sessionAffinity or use "
                + _cluster_providers("session_affinity")
            )
        for i, cond in enumerate(routes.match):
            for part in MATCH_PARTS:
                if getattr(cond, part) and part not in self.features.match:
                    raise RouterError(
                        f"provider {self.provider} cannot match on "
                        f"{PART_NAMES.get(part, part)} (match[{i}]): {supported}"
                    )
        if self.features.one_cookie:
            check_one_cookie(self.provider, routes)

    # -- rendering --------------------------------------------------------------------------
    def names(self, rollout: ModelRollout) -> Names:
        """Object names of ``rollout`` (spec/_naming.py)."""
        return names(rollout)

    def key(self, rollout: ModelRollout, api_version: str, kind: str, name: str) -> Key:
        """Key of an object in the rollout's namespace."""
        return (api_version, kind, self.names(rollout).namespace, name)

    def metadata(self, rollout: ModelRollout, name: str) -> KubeObject:
        """Metadata of a generated object: name, namespace, ownership labels."""
        meta: KubeObject = {
            "name": name,
            "namespace": self.names(rollout).namespace,
            "labels": {MANAGED_BY: "modelcanary", ROLLOUT_LABEL: rollout.name},
        }
        if rollout.metadata.uid:
            meta["ownerReferences"] = [
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "name": rollout.name,
                    "uid": rollout.metadata.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
        return meta

    def new_object(
        self, rollout: ModelRollout, api_version: str, kind: str, name: str, spec: KubeObject
    ) -> KubeObject:
        """A generated object: ``apiVersion``, ``kind``, :meth:`metadata` and ``spec``."""
        return {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": self.metadata(rollout, name),
            "spec": spec,
        }

    def ref_key(self, rollout: ModelRollout, ref: ObjectRef, api_version: str, kind: str) -> Key:
        """Key of the object ``ref`` names (default apiVersion, kind, the rollout's namespace)."""
        namespace = ref.namespace or self.names(rollout).namespace
        return (ref.api_version or api_version, ref.kind or kind, namespace, ref.name)

    def render(
        self,
        rollout: ModelRollout,
        routes: Routes,
        inputs: Mapping[Key, KubeObject | None] | None = None,
    ) -> list[KubeObject]:
        """Check ``routes`` and render the objects, each annotated with the desired routes."""
        self.check(rollout, routes)
        if inputs is None:
            inputs = self._read_inputs(rollout)
        objs = self.render_objects(rollout, routes, inputs)
        text = json.dumps(routes.to_dict(), sort_keys=True, separators=(",", ":"))
        for obj in objs:
            meta = obj.setdefault("metadata", {})
            meta.setdefault("annotations", {})[ROUTES_ANNOTATION] = text
        return objs

    # -- the TrafficRouter port -------------------------------------------------------------
    def set_routes(self, rollout: ModelRollout, routes: Routes) -> None:
        """Apply ``routes``: checked and rendered first, the weights object written last."""
        objs = self.render(rollout, routes)
        rendered = set()
        for obj in objs:
            key = object_key(obj)
            rendered.add(key)
            if isinstance(self.objects, AppliesOver):
                _apply_over(self.objects, obj, key)
            else:
                _adopt(obj, self.objects.get(*key))
                self.objects.apply(obj)
        for key in self.owned(rollout):  # e.g. a match object no longer needed
            if key not in rendered:
                self._delete_created(key)

    def reconcile(self, rollout: ModelRollout) -> None:
        """Create missing objects and correct drift, keeping the desired routes."""
        self.set_routes(rollout, self.desired(rollout) or Routes())

    def get_routes(self, rollout: ModelRollout) -> Routes:
        """The routes the stored objects put in force (RouterError when none exist)."""
        stored = self._stored(rollout)
        if not stored:
            raise RouterError(
                f"{self.provider}: no routing objects for rollout {rollout.name} "
                f"({', '.join(k[1] + '/' + k[3] for k in self.owned(rollout))}); "
                "reconcile creates them"
            )
        actual = self.parse(rollout, stored)
        desired = self.desired(rollout)
        if desired is not None and desired != actual:
            try:
                expected = self.render(rollout, desired)
            except RouterError:
                return actual
            as_rendered = {object_key(o): o for o in expected}
            if set(as_rendered) == set(stored) and self.parse(rollout, as_rendered) == actual:
                return desired  # the objects are as rendered: the encoding was only lossy
        return actual

    def finalize(self, rollout: ModelRollout) -> None:
        """All traffic to the champion, then delete created objects (adopted ones stay)."""
        self.set_routes(rollout, Routes())
        for key in reversed(self.owned(rollout)):
            self._delete_created(key)

    # -- helpers ----------------------------------------------------------------------------
    def desired(self, rollout: ModelRollout) -> Routes | None:
        """The desired routes recorded on the stored objects (None: never set)."""
        for obj in self._stored(rollout).values():
            text = ((obj.get("metadata") or {}).get("annotations") or {}).get(ROUTES_ANNOTATION)
            if text and (routes := _routes_of(text)) is not None:
                return routes
        return None

    def _stored(self, rollout: ModelRollout) -> dict[Key, KubeObject]:
        found = {key: self.objects.get(*key) for key in self.owned(rollout)}
        return {key: obj for key, obj in found.items() if obj is not None}

    def _read_inputs(self, rollout: ModelRollout) -> dict[Key, KubeObject | None]:
        return {key: self.objects.get(*key) for key in self.inputs(rollout)}

    def _delete_created(self, key: Key) -> None:
        existing = self.objects.get(*key)
        if existing is not None and not _adopted(existing):
            self.objects.delete(*key)


def _routes_of(text: str) -> Routes | None:
    """The routes of a desired-routes annotation, or None when it is not such JSON."""
    try:
        return Routes.from_dict(json.loads(text))
    except ValueError:
        return None


def _cluster_providers(feature: str) -> str:
    """``istio or gatewayapi``: the cluster providers with ``feature``, for a hint."""
    return " or ".join(sorted(providers_with(feature) - {"local"}))


def _adopted(obj: KubeObject) -> bool:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    return labels.get(MANAGED_BY) != "modelcanary" or annotations.get(ADOPTED_ANNOTATION) == "true"


def disown(meta: KubeObject) -> None:
    """Drop what makes the rollout own an object: ``ownerReferences`` and the rollout label.

    An ObjectStore may derive an ownerReference from the label, so both go: deleting the
    rollout then never deletes the object (a user's object the router adopted).
    """
    meta.pop("ownerReferences", None)
    meta.get("labels", {}).pop(ROLLOUT_LABEL, None)


def weighted_routes(
    weights: Mapping[str, float],
    canary: str,
    error: str,
    *,
    mirror_weight: int = 0,
    match: tuple[MatchCondition, ...] = (),
    session_affinity: SessionAffinity | None = None,
) -> Routes:
    """Routes of backend ``weights`` (any scale) normalised to percent, ``canary`` the challenger.

    ``error`` is the RouterError message when the weights send nothing to either version.
    """
    total = sum(weights.values())
    if total <= 0:
        raise RouterError(error)
    challenger = round(100 * weights[canary] / total)
    return Routes(
        champion_weight=100 - challenger,
        challenger_weight=challenger,
        mirror_weight=mirror_weight,
        match=match,
        session_affinity=session_affinity,
    )


def require_input(
    router: ObjectRouter, inputs: Mapping[Key, KubeObject | None], key: Key
) -> KubeObject:
    """The input object ``key``, or a RouterError telling what to create."""
    obj = inputs.get(key)
    if obj is None:
        raise RouterError(
            f"{router.provider}: {key[1]} {key[2]}/{key[3]} ({key[0]}) does not exist; "
            "create it first (modelcanary render: add it as a document of the input file)"
        )
    return obj
