"""Provider ``kubernetes`` (blue/green with plain Services) driving real rollouts against the
kmock API: the real engine, the Kubernetes workloads (Deployments, the three Services), the
router's apex Service through ``KubeObjectStore``, a kubelet marking Deployments ready.

No live traffic reaches the challenger: the metrics see the champion's share of live traffic
(read from the apex Service's selector in the cluster, not remembered) and the load test
hitting ``podinfo-canary``, whose challenger requests exist only while that Service selects
the challenger's pods. Every Service validates against the Kubernetes schema after every tick.
"""

from __future__ import annotations

from typing import Any

import pytest
from kube_fixtures import KubeApi, kube
from kube_rollout_fixtures import (
    APPS,
    Hooks,
    RouteMetrics,
    app_deployment,
    client,
    http_container,
    kube_engine,
    kubelet,
    stored_rollout,
)
from router_schemas import assert_valid

from modelcanary.analysis import Window
from modelcanary.engine import ManualClock
from modelcanary.errors import RouterError
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._objects import KubeObjectStore
from modelcanary.k8s._status import KubeStatusStore
from modelcanary.rollout import Routes
from modelcanary.routers import RouterSet

__all__ = ["client", "kube"]

NAME = "podinfo"
OLD, NEW = "ghcr.io/stefanprodan/podinfo:6.0.0", "ghcr.io/stefanprodan/podinfo:6.0.1"


def deployment(image: str = OLD) -> dict[str, Any]:
    """Flagger's podinfo Deployment, selecting ``app: podinfo``."""
    return app_deployment(NAME, {"containers": [http_container("podinfod", image, 9898)]}, 2)


def rollout_doc() -> dict[str, Any]:
    """The blue/green ModelRollout of Flagger's kubernetes-blue-green tutorial, as stored."""
    load_test = {
        "name": "load-test",
        "url": "http://flagger-loadtester.test/",
        "metadata": {"cmd": "hey -z 1m -q 10 http://podinfo-canary.default:9898/"},
    }
    return stored_rollout(
        NAME, {"provider": "kubernetes"}, {"port": 9898}, iterations=4, webhooks=[load_test]
    )


class Metrics(RouteMetrics):
    """Live traffic split by the apex selector in the cluster, plus the load test that calls
    ``podinfo-canary`` (challenger requests only while it selects the challenger's pods)."""

    def __init__(self, kube: KubeApi, routers: RouterSet, error_rate: float) -> None:
        super().__init__(routers, error_rate, name="cluster-services")
        self.kube = kube

    def requests(self, routes: Routes, window: Window) -> tuple[int, int]:
        canary = self.kube.get("v1", "Service", "default", f"{NAME}-canary")
        load = 300 if canary["spec"]["selector"] == {"app": NAME} else 0
        return int(600 * routes.challenger_weight / 100) + load, 600


def apex_selects(kube: KubeApi) -> str:
    """``primary`` or ``canary``: whose pods the apex Service selects (validated first)."""
    services = kube.list("v1", "Service", "default")
    assert_valid(services)
    apex = kube.get("v1", "Service", "default", NAME)
    return {f"{NAME}-primary": "primary", NAME: "canary"}[apex["spec"]["selector"]["app"]]


def run(
    kube: KubeApi, client: KubeClient, error_rate: float, until: str, **analysis: Any
) -> dict[str, Any]:
    """Initialise, deploy a new image, tick until ``until``; what was seen on the way
    (``analysis`` overrides fields of the rollout's analysis)."""
    kube.create(deployment())
    doc = rollout_doc()
    doc["spec"]["analysis"] |= analysis
    kube.create(doc)
    routers = RouterSet(KubeObjectStore(client))
    hooks, clock = Hooks(), ManualClock()
    engine = kube_engine(
        client, routers, Metrics(kube, routers, error_rate), hooks=hooks, clock=clock
    )
    selects: list[str] = []
    versions: list[str] = []
    started = False
    for _ in range(60):
        phase = engine.tick(NAME, "default").phase
        if phase == "Initialized" and not started:
            kube.patch(APPS, "Deployment", "default", NAME, _image_patch(NEW))
            started = True
        if kube.get("v1", "Service", "default", NAME) is not None:
            now = apex_selects(kube)
            if not selects or selects[-1] != now:
                selects.append(now)
            version = kube.get("v1", "Service", "default", NAME)["metadata"]["resourceVersion"]
            if started and (not versions or versions[-1] != version):
                versions.append(version)
        if started and phase == until:
            primary = kube.get(APPS, "Deployment", "default", f"{NAME}-primary")
            return {
                "selects": selects,
                "apex_writes": len(versions) - 1,
                "primary_image": primary["spec"]["template"]["spec"]["containers"][0]["image"],
                "challenger_replicas": kube.get(APPS, "Deployment", "default", NAME)["spec"][
                    "replicas"
                ],
                "hooks": hooks.ran,
                "routers": routers,
            }
        kubelet(kube)
        clock.advance(30)
    raise AssertionError(f"never reached {until}: apex selected {selects}")


def _image_patch(image: str) -> dict[str, Any]:
    """A merge patch replaces the whole containers list: give the container again."""
    return {"spec": {"template": deployment(image)["spec"]["template"]}}


def test_blue_green_promotes_through_the_primary_with_the_apex_on_it(
    kube: KubeApi, client: KubeClient
) -> None:
    """The challenger is judged on the load test alone (no live traffic); promotion updates
    the primary Deployment behind an apex that never leaves it, then the target scales to 0."""
    seen = run(kube, client, error_rate=0.0, until="Succeeded")
    assert seen["selects"] == ["primary"]
    assert seen["primary_image"] == NEW and seen["challenger_replicas"] == 0
    assert "load-test" in seen["hooks"]
    assert seen["apex_writes"] == 0  # the router and the workloads agree: nothing rewritten
    status = kube.get("modelcanary.io/v1alpha1", "ModelRollout", "default", NAME)["status"]
    assert (
        status["phase"] == "Succeeded" and status["lastPromotedSpec"] == status["lastAppliedSpec"]
    )


def test_blue_green_rolls_a_faulty_challenger_back(kube: KubeApi, client: KubeClient) -> None:
    """Errors seen through ``podinfo-canary`` fail the analysis: the primary keeps the old
    image, the target is scaled to 0, the apex stays on the champion."""
    seen = run(kube, client, error_rate=0.5, until="Failed")
    assert seen["selects"] == ["primary"]
    assert seen["primary_image"] == OLD and seen["challenger_replicas"] == 0
    status = kube.get("modelcanary.io/v1alpha1", "ModelRollout", "default", NAME)["status"]
    assert status["phase"] == "Failed" and "error-rate" in status["message"]


def test_the_switch_moves_the_apex_in_the_cluster(kube: KubeApi, client: KubeClient) -> None:
    """On the real Services the workloads made: all traffic to the challenger selects the
    target's pods, back to the champion selects the primary's; partial weights write nothing;
    finalize leaves the apex (clients call it) on the champion."""
    run(kube, client, error_rate=0.0, until="Initialized")
    stored = KubeStatusStore(client).get(NAME, "default")
    assert stored is not None
    rollout = stored.rollout
    routers = RouterSet(KubeObjectStore(client))
    routers.set_routes(rollout, Routes(champion_weight=0, challenger_weight=100))
    assert apex_selects(kube) == "canary"
    assert routers.get_routes(rollout) == Routes(champion_weight=0, challenger_weight=100)
    before = kube.get("v1", "Service", "default", NAME)
    with pytest.raises(RouterError, match=r"cannot send 30% to the challenger.*iterations"):
        routers.set_routes(rollout, Routes(champion_weight=70, challenger_weight=30))
    assert kube.get("v1", "Service", "default", NAME) == before
    routers.reconcile(rollout)  # as the workloads and Flagger's Reconcile: the champion
    assert apex_selects(kube) == "primary"
    routers.set_routes(rollout, Routes(champion_weight=0, challenger_weight=100))
    routers.finalize(rollout)
    apex = kube.get("v1", "Service", "default", NAME)
    assert apex is not None and apex_selects(kube) == "primary"
    assert apex["spec"]["ports"][0]["port"] == 9898  # the workloads' ports, kept


def test_without_metrics_or_webhooks_only_readiness_judges(
    kube: KubeApi, client: KubeClient
) -> None:
    """As Flagger walks a Canary with neither (its FAQ's delegation example): the rollout
    runs its iterations and promotes whatever the challenger's errors; validation warns."""
    seen = run(kube, client, error_rate=0.5, until="Succeeded", metrics=[], webhooks=[])
    assert seen["selects"] == ["primary"] and seen["primary_image"] == NEW
    assert seen["hooks"] == []
