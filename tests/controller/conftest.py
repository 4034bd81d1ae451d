"""Fixtures of the controller tests, one per module: the kmock API (``kube``, from
kube_fixtures) and the Prometheus-API server (``prom``, from controller_fixtures)."""

from controller_fixtures import prom
from kube_fixtures import kube

__all__ = ["kube", "prom"]
