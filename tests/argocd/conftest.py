"""Fixtures of the Argo CD health-check tests: the kmock API (``kube``), and the helpers of the
controller tests (Prometheus-API server, kubelet, rollout documents) reused from
``tests/controller/controller_fixtures.py`` rather than copied."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "controller"))

from argocd_journeys import Recorded, record_all
from controller_fixtures import PromAPI
from kube_fixtures import KubeApi, kube

from modelcanary.hooks._gate import GateServer

__all__ = ["kube", "recorded"]


@pytest.fixture(scope="module")
def recorded(kube: KubeApi) -> Iterator[Recorded]:
    """Every journey's stored objects (label -> ModelRollout as Argo CD reads it)."""
    prom = PromAPI()
    try:
        with GateServer(port=0) as gate:
            yield record_all(kube, prom, gate)
    finally:
        prom.close()
