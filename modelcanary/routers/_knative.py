"""Knative Serving: the ``spec.traffic`` block of a Knative Service, revision against revision.

Knative splits traffic between the Revisions of one Service itself (``serving.knative.dev/v1``,
also KServe's serverless mode). This router does not own the Service (``targetRef`` of kind
Service and apiVersion ``serving.knative.dev/v1``, else the rollout's service name): it writes
two traffic targets into the existing object's ``spec.traffic`` (nothing else of its spec: the
template stays the user's), as Flagger's knative router does, plus tags:

- the champion revision, pinned (``revisionName``, ``latestRevision: false``), tag ``primary``;
- the latest revision (``latestRevision: true``: the challenger), tag ``canary``, so the
  challenger is reachable on its own at ``canary-<service>.<namespace>.<domain>`` at any
  weight (Knative's tag URLs), as Flagger's ``-canary`` Service is.

The champion revision is decided once, in the rollout's status, before any traffic is written
(the engine writes a tick's status, then hands the router the rollout with that status): the
Knative workloads report the Service's pin when the rollout initialises
(:func:`service_champion`: the ``modelcanary.io/champion-revision`` annotation, Flagger's
``flagger.app/primary-revision``, else ``status.latestReadyRevisionName``), ``step`` records it
as ``status.lastPromotedSpec``, and this router pins exactly the recorded revision; once the
rollout is promoted (``status.promoted``) the pin is the challenger revision
(``status.lastAppliedSpec``), so traffic shifts back onto the promoted revision. The router
never pins a revision it reads from the Service at write time: a revision that becomes ready
between the status write and the route write (or while a crashed operator restarts) is the
challenger, never the champion. The pin is also written on the Service
(``modelcanary.io/champion-revision``). A status that records no champion yet (initialising,
the Service not Ready) pins the annotation if there is one, else writes nothing: Knative keeps
the traffic its owner gave it. Without a status (``modelcanary render``, a direct call) the
router pins what the Service says now (:func:`service_champion`).

The routes in force are read from ``status.traffic`` once Knative has reconciled the
Service's generation (``status.observedGeneration``), else from ``spec.traffic``. Finalize
leaves the Service in place, everything pinned on the champion. Knative can neither mirror
nor match headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout, RolloutStatus
from ..spec._traffic import Routes
from ._base import ObjectRouter, disown, require_input, weighted_routes
from ._memory import Key

API = "serving.knative.dev/v1"
GROUP = "serving.knative.dev"
KIND = "Service"
CHAMPION_ANNOTATION = "modelcanary.io/champion-revision"
"""On the Service: the revision the champion traffic target pins."""
FLAGGER_ANNOTATION = "flagger.app/primary-revision"
"""Flagger's pin, honoured on a Service Flagger managed before."""
CHAMPION_TAG = "primary"
CHALLENGER_TAG = "canary"


def is_knative_service(api_version: str | None, kind: str | None) -> bool:
    """Whether ``apiVersion``/``kind`` name a Knative Service (not a core v1 Service)."""
    return kind == KIND and (api_version or "").split("/")[0] == GROUP


class KnativeRouter(ObjectRouter):
    """Two traffic targets (pinned champion, latest challenger) on an existing Knative Service."""

    provider = "knative"

    def _svc_key(self, rollout: ModelRollout) -> Key:
        target = rollout.spec.target_ref
        if target is not None and is_knative_service(target.api_version, target.kind):
            return self.key(rollout, target.api_version or API, KIND, target.name)
        return self.key(rollout, API, KIND, self.names(rollout).apex)

    def inputs(self, rollout: ModelRollout) -> list[Key]:
        """The Knative Service (as it is: the traffic block is written into its spec)."""
        return [self._svc_key(rollout)]

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The same Service (adopted: never deleted)."""
        return [self._svc_key(rollout)]

    def _delete_created(self, key: Key) -> None:
        """Nothing: the Service is the user's, whatever labels it carries (a write that
        renders nothing, before a champion is recorded, must not remove it either)."""

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The Service's ``spec.traffic`` (champion/challenger targets) and nothing else of its
        spec: applied as a merge patch, it never writes back a stale ``spec.template`` over a
        change the user (or GitOps) made meanwhile, which would undo their new revision."""
        key = self._svc_key(rollout)
        svc = require_input(self, inputs, key)
        champion = champion_revision(rollout, svc)
        if champion is None:  # no champion decided yet: leave the Service's traffic as it is
            if routes.challenger_weight or routes.mirror_weight:
                raise RouterError(
                    f"knative: Service {key[2]}/{key[3]}: the rollout's status records no "
                    "champion revision yet (status.lastPromotedSpec), so the challenger "
                    "cannot get traffic; it is recorded when the rollout initialises"
                )
            return []
        spec: KubeObject = {}
        spec["traffic"] = [
            {
                "revisionName": champion,
                "latestRevision": False,
                "percent": routes.champion_weight,
                "tag": CHAMPION_TAG,
            },
            {"latestRevision": True, "percent": routes.challenger_weight, "tag": CHALLENGER_TAG},
        ]
        obj = self.new_object(rollout, key[0], KIND, key[3], spec)
        disown(obj["metadata"])  # the user's object: the rollout does not own it
        obj["metadata"]["annotations"] = {CHAMPION_ANNOTATION: champion}
        return [obj]

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """The split Knative serves: ``status.traffic`` when it is of the current generation,
        else ``spec.traffic`` (no traffic block: Knative sends everything to the latest)."""
        key = self._svc_key(rollout)
        svc = stored.get(key) or {}
        targets = served_traffic(svc)
        if targets is None:
            targets = (svc.get("spec") or {}).get("traffic")
        if not targets:
            return Routes(champion_weight=0, challenger_weight=100)
        pinned = _annotations(svc).get(CHAMPION_ANNOTATION)
        weights = {"champion": 0, "challenger": 0}
        for i, target in enumerate(targets):
            percent = target.get("percent") or 0
            if type(percent) is not int or not 0 <= percent <= 100:
                raise RouterError(
                    f"knative: Service {key[2]}/{key[3]} traffic[{i}].percent {percent!r} "
                    "is not a percent"
                )
            weights[_side(target, pinned)] += percent
        return weighted_routes(
            weights,
            "challenger",
            f"knative: Service {key[2]}/{key[3]} routes no traffic (every percent is 0)",
        )


def _annotations(obj: KubeObject) -> dict[str, Any]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def _side(target: Mapping[str, Any], pinned: str | None) -> str:
    """``champion`` or ``challenger``: by the tag this router writes, else by what the entry
    routes to (a pinned revision other than the latest is the champion's)."""
    tag = target.get("tag")
    if tag == CHAMPION_TAG:
        return "champion"
    if tag == CHALLENGER_TAG or target.get("latestRevision") is True:
        return "challenger"
    name = target.get("revisionName")
    return "champion" if name is not None and (pinned is None or name == pinned) else "challenger"


def served_traffic(svc: KubeObject) -> list[dict[str, Any]] | None:
    """``status.traffic`` when Knative has reconciled the current spec (observedGeneration
    equal to ``metadata.generation``), else None: the split it really serves."""
    status = svc.get("status") or {}
    generation = (svc.get("metadata") or {}).get("generation")
    traffic = status.get("traffic")
    if traffic is None or generation is None or status.get("observedGeneration") != generation:
        return None
    return list(traffic)


def champion_revision(rollout: ModelRollout, svc: KubeObject) -> str | None:
    """The revision the champion target pins (see the module docstring): the one the rollout's
    status records, else the Service's annotation; with no status at all, what the Service
    says now (a RouterError when it has no ready revision). None: the status records none
    and the Service names none, so nothing may be pinned yet."""
    meta = svc.get("metadata") or {}
    name = str(meta.get("name", "?"))
    recorded = recorded_champion(rollout.status, name)
    if recorded is not None:
        return recorded
    pinned = _pinned(svc)
    if pinned is not None:
        return pinned
    if rollout.status is not None:
        return None
    ready = service_champion(svc)
    if ready is None:
        raise RouterError(
            f"knative: Service {meta.get('namespace', '?')}/{name} has no ready revision yet "
            "(status.latestReadyRevisionName is empty): the champion revision to pin is "
            "unknown; wait until Knative reports the Service Ready, or name it in the "
            f"annotation {CHAMPION_ANNOTATION} on the Service"
        )
    return ready


def recorded_champion(status: RolloutStatus | None, service: str) -> str | None:
    """The champion revision ``status`` records: the challenger (``lastAppliedSpec``) once it
    is promoted, else ``lastPromotedSpec``; None when neither names a revision of Service
    ``service`` (Knative prefixes every revision name with its Service's)."""
    if status is None:
        return None
    recorded = [status.last_applied_spec] if status.promoted else []
    for revision in [*recorded, status.last_promoted_spec]:
        if revision and revision.startswith(f"{service}-"):
            return revision
    return None


def service_champion(svc: KubeObject) -> str | None:
    """The revision a rollout initialising now takes as its champion: the pin named on the
    Service (``modelcanary.io/champion-revision``, else Flagger's), else
    ``status.latestReadyRevisionName`` (None: no revision is ready). The Knative workloads
    report it at initialisation, so the status records it before any traffic is written."""
    ready = (svc.get("status") or {}).get("latestReadyRevisionName")
    return _pinned(svc) or (str(ready) if ready else None)


def _pinned(svc: KubeObject) -> str | None:
    annotations = _annotations(svc)
    pinned = annotations.get(CHAMPION_ANNOTATION) or annotations.get(FLAGGER_ANNOTATION)
    return str(pinned) if pinned else None
