"""Traffic routers for meshes and ingresses, one file each, behind the TrafficRouter port.

Each router renders its objects purely (spec + Routes -> Kubernetes objects) and applies them
through the ``ObjectStore`` port; this package never imports ``kubernetes``. ``RouterSet``
dispatches on ``spec.router.provider``; ``MemoryObjectStore`` keeps objects in a dict.
Providers, objects and features: ``docs/routers.md``.
"""

from ._base import Features, ObjectRouter
from ._memory import MemoryObjectStore
from ._registry import ROUTERS, RouterSet, router_class

__all__ = ["ROUTERS", "Features", "MemoryObjectStore", "ObjectRouter", "RouterSet", "router_class"]
