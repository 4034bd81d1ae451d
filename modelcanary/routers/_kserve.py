"""KServe: the InferenceService's ``canaryTrafficPercent``, with tag routing switched on.

KServe keeps the previously rolled-out revision (the champion) and the latest one (the
challenger) of an InferenceService and splits traffic by ``spec.predictor.canaryTrafficPercent``.
This router does not own the InferenceService (``targetRef`` of kind InferenceService, else
the service name): it patches the percent on the existing object and sets
``serving.kserve.io/enable-tag-routing: "true"`` so each version is also reachable on its own
(``latest-``/``prev-`` hosts) for tests and metrics. Finalize leaves the InferenceService in
place with 0 % on the latest revision. KServe can neither mirror nor match headers.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._traffic import Routes
from ._base import ObjectRouter, disown, require_input
from ._memory import Key

API = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
TAG_ROUTING = "serving.kserve.io/enable-tag-routing"


class KServeRouter(ObjectRouter):
    """``canaryTrafficPercent`` on an existing InferenceService."""

    provider = "kserve"

    def _isvc_key(self, rollout: ModelRollout) -> Key:
        target = rollout.spec.target_ref
        if target is not None and target.kind == KIND:
            version = target.api_version if target.api_version.startswith("serving.") else API
            return self.key(rollout, version, KIND, target.name)
        return self.key(rollout, API, KIND, self.names(rollout).apex)

    def inputs(self, rollout: ModelRollout) -> list[Key]:
        """The InferenceService (as it is: the percent is patched into its spec)."""
        return [self._isvc_key(rollout)]

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The same InferenceService (adopted: never deleted)."""
        return [self._isvc_key(rollout)]

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The percent and tag routing, nothing else of the InferenceService's spec: applied
        as a merge patch, it never writes back a stale predictor over a change a user or GitOps
        made between the read and the write (the whole spec copied did, as the Knative router's
        race test showed)."""
        key = self._isvc_key(rollout)
        isvc = require_input(self, inputs, key)
        if not isinstance((isvc.get("spec") or {}).get("predictor"), dict):
            raise RouterError(f"kserve: InferenceService {key[2]}/{key[3]} has no spec.predictor")
        spec: KubeObject = {"predictor": {"canaryTrafficPercent": routes.challenger_weight}}
        obj = self.new_object(rollout, key[0], KIND, key[3], spec)
        disown(obj["metadata"])  # the user's object: the rollout does not own it
        obj["metadata"]["annotations"] = {TAG_ROUTING: "true"}
        return [obj]

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Challenger weight = ``canaryTrafficPercent`` (absent: KServe sends all to latest)."""
        isvc = stored.get(self._isvc_key(rollout)) or {}
        predictor = (isvc.get("spec") or {}).get("predictor") or {}
        percent = predictor.get("canaryTrafficPercent", 100)
        if not isinstance(percent, int) or not 0 <= percent <= 100:
            raise RouterError(f"kserve: canaryTrafficPercent {percent!r} is not a percent")
        return Routes(champion_weight=100 - percent, challenger_weight=percent)
