"""The emulated Knative Serving controller (tests/kube_knative.py) behaves as Knative does for
what the knative tests rely on: revisions per template change, readiness after a start-up,
status.traffic resolved from spec.traffic, a bad traffic block leaves the last good route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kube_fixtures import KubeApi, kube
from kube_knative import API, KIND, KnativeController, knative_service, new_image

__all__ = ["kube"]


@pytest.fixture()
def knative(kube: KubeApi) -> Iterator[KnativeController]:
    kube.create(knative_service())
    yield KnativeController(kube)
    kube.reset()


def status(kube: KubeApi) -> dict[str, Any]:
    svc = kube.get(API, KIND, "default", "podinfo")
    assert svc is not None
    return dict(svc["status"])


def conditions(kube: KubeApi) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status(kube)["conditions"]}


def test_revisions_get_ready_and_the_default_route_follows_the_latest(
    kube: KubeApi, knative: KnativeController
) -> None:
    knative.reconcile()
    assert status(kube)["latestCreatedRevisionName"] == "podinfo-00001"
    assert "latestReadyRevisionName" not in status(kube)
    assert conditions(kube)["Ready"] == "Unknown"
    knative.reconcile()
    assert status(kube)["latestReadyRevisionName"] == "podinfo-00001"
    assert conditions(kube) == {
        "Ready": "True",
        "RoutesReady": "True",
        "ConfigurationsReady": "True",
    }
    assert status(kube)["traffic"] == [
        {"revisionName": "podinfo-00001", "latestRevision": True, "percent": 100}
    ]
    new_image(kube, "ghcr.io/stefanprodan/podinfo:6.0.1")
    knative.reconcile()
    assert status(kube)["latestCreatedRevisionName"] == "podinfo-00002"
    assert status(kube)["traffic"][0]["revisionName"] == "podinfo-00001"  # not ready yet
    knative.reconcile()
    assert status(kube)["traffic"][0]["revisionName"] == "podinfo-00002"


def test_a_traffic_block_naming_a_missing_revision_keeps_the_last_good_route(
    kube: KubeApi, knative: KnativeController
) -> None:
    knative.reconcile()
    knative.reconcile()
    good = status(kube)["traffic"]
    kube.patch(
        API,
        KIND,
        "default",
        "podinfo",
        {"spec": {"traffic": [{"revisionName": "podinfo-00009", "percent": 100}]}},
    )
    knative.reconcile()
    assert status(kube)["traffic"] == good
    assert conditions(kube)["RoutesReady"] == "False" and conditions(kube)["Ready"] == "False"
    kube.patch(
        API,
        KIND,
        "default",
        "podinfo",
        {
            "spec": {
                "traffic": [
                    {"revisionName": "podinfo-00001", "percent": 60, "tag": "primary"},
                    {"latestRevision": True, "percent": 60},
                ]
            }
        },
    )
    knative.reconcile()
    assert status(kube)["traffic"] == good  # 120 %: refused
    kube.patch(
        API,
        KIND,
        "default",
        "podinfo",
        {"spec": {"traffic": [{"revisionName": "podinfo-00001", "percent": 100, "tag": "x"}]}},
    )
    knative.reconcile()
    (target,) = status(kube)["traffic"]
    assert target["url"] == "http://x-podinfo.default.example.com"
    assert (
        status(kube)["observedGeneration"]
        == kube.get(API, KIND, "default", "podinfo")["metadata"]["generation"]
    )
