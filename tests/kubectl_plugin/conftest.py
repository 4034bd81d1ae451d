"""Fixtures of the kubectl plugin tests: a kmock API with the namespaces ``default`` and ``ml``
(``kube``); the controller tests' helpers (Prometheus-API server, kubelet, rollout documents)
are reused from ``tests/controller/controller_fixtures.py`` rather than copied."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "controller"))

from kube_fixtures import KubeApi, kube_api


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeApi]:
    with kube_api(namespaces=("default", "ml")) as api:
        yield api
