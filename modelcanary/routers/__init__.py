"""Traffic routers for meshes and ingresses, one file each, behind the TrafficRouter port.

Each router renders its objects purely (spec + Routes -> Kubernetes objects) and applies them
through the ``ObjectStore`` port; this package never imports ``kubernetes``.
"""
