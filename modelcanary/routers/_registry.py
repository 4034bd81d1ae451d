"""Router registry: provider name -> router class, and ``RouterSet``, the operator's router.

``RouterSet(objects)`` implements ``TrafficRouter`` by dispatching every call on the
rollout's ``spec.router.provider``, so one operator serves rollouts of several meshes. An
unknown or not yet built provider is a ``RouterError`` listing the built ones (never a
silent fallback).
"""

from __future__ import annotations

from .._registry import Registry
from ..errors import RouterError
from ..ports import ObjectStore
from ..spec import ModelRollout
from ..spec._traffic import Routes
from ._apisix import ApisixRouter
from ._appmesh import AppMeshRouter
from ._base import ObjectRouter
from ._contour import ContourRouter
from ._gatewayapi import GatewayAPIRouter
from ._gloo import GlooRouter
from ._inference_gateway import InferenceModelRewriteRouter, InferencePoolRouter
from ._istio import IstioRouter
from ._knative import KnativeRouter
from ._kserve import KServeRouter
from ._kserve_llm import KServeLLMRouter
from ._kubernetes import KubernetesRouter
from ._kuma import KumaRouter
from ._nginx import NginxRouter
from ._skipper import SkipperRouter
from ._smi import LinkerdRouter, SmiRouter
from ._traefik import TraefikRouter

ROUTERS: Registry[type[ObjectRouter]] = Registry(
    "cluster router",
    {
        cls.provider: cls
        for cls in (
            IstioRouter,
            GatewayAPIRouter,
            NginxRouter,
            SmiRouter,
            LinkerdRouter,
            KServeRouter,
            KumaRouter,
            SkipperRouter,
            TraefikRouter,
            KnativeRouter,
            ApisixRouter,
            ContourRouter,
            GlooRouter,
            AppMeshRouter,
            KubernetesRouter,
            InferencePoolRouter,
            InferenceModelRewriteRouter,
            KServeLLMRouter,
        )
    },
)
"""Built routers by ``spec.router.provider``."""


def router_class(provider: str) -> type[ObjectRouter]:
    """The router class of ``provider``, or a RouterError listing the built ones."""
    if provider in ROUTERS:
        return ROUTERS[provider]
    hint = (
        " (the local router is the embedded runtime's: modelcanary run)"
        if provider == "local"
        else ""
    )  # a RouterError, not a SpecError: the spec was validated, this operator lacks the router
    raise RouterError(
        f"no cluster router for provider {provider!r}{hint}; built: {ROUTERS.known()}"
    )


class RouterSet:
    """``TrafficRouter`` for the operator: one router per provider over one ObjectStore."""

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects
        self._routers: dict[str, ObjectRouter] = {}

    def router(self, rollout: ModelRollout) -> ObjectRouter:
        """The router of ``rollout.spec.router.provider``."""
        provider = rollout.spec.router.provider
        if provider not in self._routers:
            self._routers[provider] = router_class(provider)(self.objects)
        return self._routers[provider]

    def reconcile(self, rollout: ModelRollout) -> None:
        """Create the routing objects if missing and correct drift."""
        self.router(rollout).reconcile(rollout)

    def set_routes(self, rollout: ModelRollout, routes: Routes) -> None:
        """Apply ``routes`` atomically."""
        self.router(rollout).set_routes(rollout, routes)

    def get_routes(self, rollout: ModelRollout) -> Routes:
        """The routes in force."""
        return self.router(rollout).get_routes(rollout)

    def finalize(self, rollout: ModelRollout) -> None:
        """All traffic to the champion; remove what reconcile created."""
        self.router(rollout).finalize(rollout)
