"""Fixtures of the Kubernetes adapter tests: one kmock API server per module (``kube``, from
kube_fixtures) and a client on it per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kube_fixtures import KubeApi, kube

from modelcanary.k8s._client import KubeClient

__all__ = ["client", "kube"]


@pytest.fixture()
def client(kube: KubeApi) -> Iterator[KubeClient]:
    """A KubeClient on the mock; the objects are forgotten after each test."""
    yield KubeClient(kube.api_client, timeout=10)
    kube.reset()
