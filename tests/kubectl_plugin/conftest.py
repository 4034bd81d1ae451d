"""Fixtures of the kubectl plugin tests: a kmock API with the namespaces ``default`` and ``ml``
(``kube``, from kubectl_cluster.py, shared with the operator's rollback test); the controller
tests' helpers (Prometheus-API server, kubelet, rollout documents) are reused from
``tests/controller/controller_fixtures.py`` rather than copied."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "controller"))

from kubectl_cluster import kube

__all__ = ["kube"]
