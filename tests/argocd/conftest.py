"""Fixtures of the Argo CD health-check tests: the kmock API (``kube``), and the helpers of the
controller tests (Prometheus-API server, kubelet, rollout documents) reused from
``tests/controller/controller_fixtures.py`` rather than copied."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "controller"))

from kube_fixtures import kube

__all__ = ["kube"]
