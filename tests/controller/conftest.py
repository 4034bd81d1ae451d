"""Fixtures of the controller tests, one per module: the kmock API (``kube``, from
kube_fixtures), the Prometheus-API server (``prom``) and the Deployment readiness
(``kubelet``), from controller_fixtures."""

from controller_fixtures import kubelet, prom
from kube_fixtures import kube

__all__ = ["kube", "kubelet", "prom"]
