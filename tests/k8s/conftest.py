"""Fixtures of the Kubernetes adapter tests: one kmock API server per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kube_fixtures import KubeApi, kube_api

from modelcanary.k8s.client import KubeClient


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeApi]:
    """The mock Kubernetes API (ModelRollout, shared CRDs and core kinds declared)."""
    with kube_api() as api:
        yield api


@pytest.fixture()
def client(kube: KubeApi) -> Iterator[KubeClient]:
    """A KubeClient on the mock; the objects are forgotten after each test."""
    yield KubeClient(kube.api_client, timeout=10)
    kube.reset()
