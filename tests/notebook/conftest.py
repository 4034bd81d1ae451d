"""Fixtures of the notebook tests that run against a cluster (``cluster_fixtures``)."""

from cluster_fixtures import clean_ml, kubeconfig, ml_kube, ml_operator, ml_prom

__all__ = ["clean_ml", "kubeconfig", "ml_kube", "ml_operator", "ml_prom"]
