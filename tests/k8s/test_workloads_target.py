"""KubeWorkloads with a Flagger-style targetRef: primary copy, idling, revisions, readiness,
promotion with ConfigMap/Secret copies, HPA copy and Services."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from k8s_objects import deployment, ready_status, target_rollout, template_patch, validate
from kube_fixtures import KubeApi

from modelcanary.errors import WorkloadError
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._workloads import CONFIG_HASH, KubeWorkloads
from modelcanary.ports import Workloads

APPS = "apps/v1"
UID = "9d2c5f7e-0000-4000-8000-000000000001"


def mark_ready(kube: KubeApi, name: str, ready: int | None = None) -> None:
    """Set the Deployment's status as its controller would (all replicas ready by default)."""
    obj = kube.get(APPS, "Deployment", "default", name)
    assert obj is not None
    replicas = obj["spec"]["replicas"]
    kube.patch(
        APPS,
        "Deployment",
        "default",
        name,
        ready_status(replicas, ready=ready, generation=obj["metadata"]["generation"]),
    )


def seed(kube: KubeApi, **kwargs: Any) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "podinfo-config", "namespace": "default"},
            "data": {"color": "blue"},
        }
    )
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "podinfo-token", "namespace": "default"},
            "type": "Opaque",
            "data": {"token": base64.b64encode(b"s3cr3t").decode()},
        }
    )
    kube.create(
        deployment("podinfo", config_map="podinfo-config", secret="podinfo-token", **kwargs)
    )


def phase(name: str) -> dict[str, Any]:
    return {"phase": name}


def test_it_is_a_workloads_port(client: KubeClient) -> None:
    assert isinstance(KubeWorkloads(client), Workloads)


def test_initialisation_creates_the_primary_services_and_config_copies(
    kube: KubeApi, client: KubeClient
) -> None:
    seed(kube)
    workloads = KubeWorkloads(client)
    workloads.ensure(target_rollout(uid=UID))

    primary = kube.get(APPS, "Deployment", "default", "podinfo-primary")
    assert primary is not None
    assert primary["spec"]["selector"] == {"matchLabels": {"app": "podinfo-primary"}}
    assert primary["spec"]["template"]["metadata"]["labels"]["app"] == "podinfo-primary"
    assert primary["spec"]["replicas"] == 2
    assert primary["spec"]["progressDeadlineSeconds"] == 60
    # the champion outlives its rollout (issue 14, 3.3): labelled for it, never owned
    assert "ownerReferences" not in primary["metadata"]
    assert primary["metadata"]["labels"]["modelcanary.io/rollout"] == "podinfo"
    container = primary["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"configMapRef": {"name": "podinfo-config-primary"}}]
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "podinfo-token-primary"
    volume = primary["spec"]["template"]["spec"]["volumes"][0]
    assert volume["configMap"]["name"] == "podinfo-config-primary"
    assert kube.get("v1", "ConfigMap", "default", "podinfo-config-primary")["data"] == {
        "color": "blue"
    }
    secret = kube.get("v1", "Secret", "default", "podinfo-token-primary")
    assert base64.b64decode(secret["data"]["token"]) == b"s3cr3t"

    services = {s["metadata"]["name"]: s for s in kube.list("v1", "Service", "default")}
    assert sorted(services) == ["podinfo", "podinfo-canary", "podinfo-primary"]
    assert services["podinfo"]["spec"]["selector"] == {"app": "podinfo-primary"}
    # what clients call stays when the rollout goes; -primary and -canary are collected
    assert "ownerReferences" not in services["podinfo"]["metadata"]
    for name in ("podinfo-primary", "podinfo-canary"):
        assert services[name]["metadata"]["ownerReferences"][0]["uid"] == UID
    for kind, name in (
        ("ConfigMap", "podinfo-config-primary"),
        ("Secret", "podinfo-token-primary"),
    ):
        assert "ownerReferences" not in kube.get("v1", kind, "default", name)["metadata"]
    assert services["podinfo-primary"]["spec"]["selector"] == {"app": "podinfo-primary"}
    assert services["podinfo-canary"]["spec"]["selector"] == {"app": "podinfo"}
    assert services["podinfo"]["spec"]["ports"][0]["port"] == 9898
    assert services["podinfo"]["spec"]["ports"][0]["targetPort"] == 9898

    # the target keeps running until the primary is ready
    assert kube.get(APPS, "Deployment", "default", "podinfo")["spec"]["replicas"] == 2
    for obj in [
        primary,
        secret,
        *services.values(),
        kube.get("v1", "ConfigMap", "default", "podinfo-config-primary"),
    ]:
        validate(obj)


def test_the_target_idles_once_the_primary_is_ready(kube: KubeApi, client: KubeClient) -> None:
    seed(kube)
    workloads = KubeWorkloads(client)
    rollout = target_rollout(status=phase("Initializing"))
    workloads.ensure(rollout)
    ready = workloads.readiness(rollout)
    assert not ready.champion_ready
    assert "champion Deployment podinfo-primary: 0 of 2 replicas updated" in ready.message

    mark_ready(kube, "podinfo-primary")
    assert workloads.readiness(rollout).champion_ready
    workloads.ensure(rollout)
    assert kube.get(APPS, "Deployment", "default", "podinfo")["spec"]["replicas"] == 0
    idle = workloads.readiness(rollout)
    assert idle.champion_ready and not idle.challenger_ready
    assert "scaled to 0" in idle.message
    assert idle.challenger_revision == ready.challenger_revision  # replicas are not a revision


def test_a_new_revision_scales_the_target_up_and_readiness_follows(
    kube: KubeApi, client: KubeClient
) -> None:
    seed(kube)
    workloads = KubeWorkloads(client)
    init = target_rollout(status=phase("Initializing"))
    workloads.ensure(init)
    mark_ready(kube, "podinfo-primary")
    workloads.ensure(init)
    before = workloads.readiness(init).challenger_revision

    container = {"name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:6.0.1"}
    kube.patch(APPS, "Deployment", "default", "podinfo", template_patch(container))
    started = target_rollout(status=phase("Progressing"))
    after = workloads.readiness(started)
    assert after.challenger_revision != before

    workloads.ensure(started)
    assert kube.get(APPS, "Deployment", "default", "podinfo")["spec"]["replicas"] == 2
    assert not workloads.readiness(started).challenger_ready
    mark_ready(kube, "podinfo", ready=1)
    half = workloads.readiness(started)
    assert not half.challenger_ready and "1 of 2 replicas ready (need 2)" in half.message
    assert workloads.readiness(
        target_rollout(
            status=phase("Progressing"),
            analysis={
                "interval": "30s",
                "stepWeights": [10],
                "canaryReadyThreshold": 50,
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
            },
        )
    ).challenger_ready
    mark_ready(kube, "podinfo")
    assert workloads.readiness(started).challenger_ready


def test_a_config_change_is_a_new_revision(kube: KubeApi, client: KubeClient) -> None:
    seed(kube)
    workloads = KubeWorkloads(client)
    rollout = target_rollout()
    workloads.ensure(rollout)
    before = workloads.readiness(rollout).challenger_revision
    kube.patch("v1", "ConfigMap", "default", "podinfo-config", {"data": {"color": "green"}})
    assert workloads.readiness(rollout).challenger_revision != before


def test_progress_deadline_exceeded_is_in_the_message(kube: KubeApi, client: KubeClient) -> None:
    seed(kube)
    workloads = KubeWorkloads(client)
    rollout = target_rollout(status=phase("Progressing"))
    workloads.ensure(rollout)
    kube.patch(
        APPS,
        "Deployment",
        "default",
        "podinfo",
        {
            "status": {
                "conditions": [
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": 'ReplicaSet "podinfo-7f9" has timed out progressing.',
                    }
                ]
            }
        },
    )
    ready = workloads.readiness(rollout)
    assert not ready.challenger_ready
    assert "challenger Deployment podinfo exceeded its progressDeadlineSeconds (60s)" in (
        ready.message
    )
    assert "timed out progressing" in ready.message


def test_a_new_generation_must_be_observed(kube: KubeApi, client: KubeClient) -> None:
    seed(kube)
    workloads = KubeWorkloads(client)
    rollout = target_rollout(status=phase("Initializing"))
    workloads.ensure(rollout)
    mark_ready(kube, "podinfo-primary")
    kube.patch(
        APPS, "Deployment", "default", "podinfo-primary", {"spec": {"minReadySeconds": 5}}
    )  # generation 2, status still at 1
    ready = workloads.readiness(rollout)
    assert not ready.champion_ready and "new generation to be observed" in ready.message


def test_promotion_copies_the_template_and_the_config(kube: KubeApi, client: KubeClient) -> None:
    seed(kube)
    workloads = KubeWorkloads(client)
    rollout = target_rollout(uid=UID, status=phase("Progressing"))
    workloads.ensure(rollout)
    token = {"secretKeyRef": {"name": "podinfo-token", "key": "token"}}
    container = {
        "name": "podinfod",
        "image": "ghcr.io/stefanprodan/podinfo:6.0.1",
        "envFrom": [{"configMapRef": {"name": "podinfo-config"}}],
        "env": [{"name": "TOKEN", "valueFrom": token}],
    }
    kube.patch(
        APPS, "Deployment", "default", "podinfo", template_patch(container, minReadySeconds=3)
    )
    kube.patch("v1", "ConfigMap", "default", "podinfo-config", {"data": {"color": "green"}})

    workloads.promote(rollout)
    primary = kube.get(APPS, "Deployment", "default", "podinfo-primary")
    template = primary["spec"]["template"]
    container = template["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/stefanprodan/podinfo:6.0.1"
    assert container["envFrom"] == [{"configMapRef": {"name": "podinfo-config-primary"}}]
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "podinfo-token-primary"
    assert template["metadata"]["labels"]["app"] == "podinfo-primary"
    assert CONFIG_HASH in template["metadata"]["annotations"]
    assert primary["spec"]["selector"] == {"matchLabels": {"app": "podinfo-primary"}}
    assert primary["spec"]["minReadySeconds"] == 3
    assert primary["spec"]["replicas"] == 2  # promotion does not scale the primary
    assert kube.get("v1", "ConfigMap", "default", "podinfo-config-primary")["data"] == {
        "color": "green"
    }
    validate(primary)

    workloads.scale_challenger(rollout, 0)
    assert kube.get(APPS, "Deployment", "default", "podinfo")["spec"]["replicas"] == 0


def test_an_autoscaler_gets_a_primary_copy(kube: KubeApi, client: KubeClient) -> None:
    seed(kube)
    kube.create(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "podinfo", "namespace": "default"},
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "podinfo",
                },
                "minReplicas": 3,
                "maxReplicas": 6,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 80},
                        },
                    }
                ],
            },
        }
    )
    workloads = KubeWorkloads(client)
    rollout = target_rollout(
        uid=UID,
        status=phase("Initializing"),
        autoscalerRef={"name": "podinfo", "primaryScalerReplicas": {"maxReplicas": 10}},
    )
    workloads.ensure(rollout)
    hpa = kube.get("autoscaling/v2", "HorizontalPodAutoscaler", "default", "podinfo-primary")
    assert hpa is not None
    assert hpa["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    assert "ownerReferences" not in hpa["metadata"]  # scales the champion, which stays
    validate(hpa)
    assert kube.get(APPS, "Deployment", "default", "podinfo-primary")["spec"]["replicas"] == 3

    mark_ready(kube, "podinfo-primary")
    workloads.ensure(rollout)
    assert kube.get(APPS, "Deployment", "default", "podinfo")["spec"]["replicas"] == 0
    workloads.ensure(target_rollout(status=phase("Succeeded"), autoscalerRef={"name": "podinfo"}))
    assert kube.get(APPS, "Deployment", "default", "podinfo")["spec"]["replicas"] == 3


def test_missing_objects_are_workload_errors_naming_them(kube: KubeApi, client: KubeClient) -> None:
    workloads = KubeWorkloads(client)
    with pytest.raises(WorkloadError, match=r"spec.targetRef: Deployment default/podinfo"):
        workloads.ensure(target_rollout())
    seed(kube)
    with pytest.raises(WorkloadError, match=r"autoscalerRef: HorizontalPodAutoscaler"):
        workloads.ensure(target_rollout(autoscalerRef={"name": "nope"}))
    with pytest.raises(WorkloadError, match="champion Deployment default/podinfo-primary"):
        KubeWorkloads(client).promote(target_rollout())
    kube.create(
        {
            **deployment("odd"),
            "spec": {**deployment("odd")["spec"], "selector": {"matchLabels": {"tier": "x"}}},
        }
    )
    with pytest.raises(WorkloadError, match="matchLabels has none of app, name"):
        workloads.ensure(target_rollout("odd"))


def test_a_kserve_inference_service_target(kube: KubeApi, client: KubeClient) -> None:
    api = "serving.kserve.io/v1beta1"
    kube.declare(api, "InferenceService", "inferenceservices")
    kube.create(
        {
            "apiVersion": api,
            "kind": "InferenceService",
            "metadata": {"name": "sklearn-iris", "namespace": "default"},
            "spec": {
                "predictor": {
                    "model": {
                        "modelFormat": {"name": "sklearn"},
                        "storageUri": "gs://models/iris/v1",
                    }
                }
            },
        }
    )
    rollout = target_rollout(
        "sklearn-iris",
        targetRef={"apiVersion": api, "kind": "InferenceService", "name": "sklearn-iris"},
        router={"provider": "kserve"},
    )
    workloads = KubeWorkloads(client)
    workloads.ensure(rollout)
    workloads.scale_challenger(rollout, 0)
    workloads.promote(rollout)
    assert kube.list(APPS, "Deployment", "default") == []
    assert kube.list("v1", "Service", "default") == []

    first = workloads.readiness(rollout)
    assert not first.champion_ready and "sklearn-iris is not Ready" in first.message
    kube.patch(
        api,
        "InferenceService",
        "default",
        "sklearn-iris",
        {
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "components": {
                    "predictor": {
                        "latestCreatedRevision": "iris-00002",
                        "latestReadyRevision": "iris-00001",
                    }
                },
            }
        },
    )
    waiting = workloads.readiness(rollout)
    assert waiting.champion_ready and not waiting.challenger_ready
    assert "iris-00002 is not ready" in waiting.message
    kube.patch(
        api,
        "InferenceService",
        "default",
        "sklearn-iris",
        {
            "spec": {"predictor": {"canaryTrafficPercent": 10}},
            "status": {"components": {"predictor": {"latestReadyRevision": "iris-00002"}}},
        },
    )
    ready = workloads.readiness(rollout)
    assert ready.champion_ready and ready.challenger_ready
    assert ready.challenger_revision == first.challenger_revision  # the percent is no revision
    kube.patch(
        api,
        "InferenceService",
        "default",
        "sklearn-iris",
        {"spec": {"predictor": {"model": {"storageUri": "gs://models/iris/v2"}}}},
    )
    assert workloads.readiness(rollout).challenger_revision != first.challenger_revision


def test_a_keda_scaled_object_gets_a_primary_copy(kube: KubeApi, client: KubeClient) -> None:
    api = "keda.sh/v1alpha1"
    kube.declare(api, "ScaledObject", "scaledobjects")
    seed(kube)
    kube.create(
        {
            "apiVersion": api,
            "kind": "ScaledObject",
            "metadata": {"name": "podinfo", "namespace": "default"},
            "spec": {
                "scaleTargetRef": {"name": "podinfo"},
                "minReplicaCount": 2,
                "maxReplicaCount": 5,
                "triggers": [
                    {
                        "type": "prometheus",
                        "name": "rps",
                        "metadata": {
                            "serverAddress": "http://prometheus:9090",
                            "threshold": "100",
                            "query": 'sum(rate(http_requests_total{app="podinfo"}[1m]))',
                        },
                    }
                ],
            },
        }
    )
    rollout = target_rollout(
        autoscalerRef={
            "apiVersion": api,
            "kind": "ScaledObject",
            "name": "podinfo",
            "primaryScalerQueries": {
                "rps": 'sum(rate(http_requests_total{app="podinfo-primary"}[1m]))'
            },
            "primaryScalerReplicas": {"minReplicas": 3},
        }
    )
    KubeWorkloads(client).ensure(rollout)
    copy_ = kube.get(api, "ScaledObject", "default", "podinfo-primary")
    assert copy_ is not None
    assert copy_["spec"]["scaleTargetRef"] == {"name": "podinfo-primary"}
    assert (copy_["spec"]["minReplicaCount"], copy_["spec"]["maxReplicaCount"]) == (3, 5)
    assert 'app="podinfo-primary"' in copy_["spec"]["triggers"][0]["metadata"]["query"]
    assert kube.get(APPS, "Deployment", "default", "podinfo-primary")["spec"]["replicas"] == 3
    mark_ready(kube, "podinfo-primary")
    KubeWorkloads(client).ensure(rollout)  # initialising: the target idles
    assert kube.get(APPS, "Deployment", "default", "podinfo")["spec"]["replicas"] == 0
    KubeWorkloads(client).ensure(
        target_rollout(
            status=phase("Succeeded"),
            autoscalerRef={"apiVersion": api, "kind": "ScaledObject", "name": "podinfo"},
        )
    )
    assert kube.get(APPS, "Deployment", "default", "podinfo")["spec"]["replicas"] == 2


def test_what_serves_is_released_from_an_older_operators_ownership(
    kube: KubeApi, client: KubeClient
) -> None:
    """An install upgraded from a version that owned everything: the next tick removes the
    rollout's ownerReference from the champion and the apex Service (so deleting the rollout
    no longer takes them), and leaves other owners alone."""
    seed(kube)
    workloads = KubeWorkloads(client)
    rollout = target_rollout(uid=UID)
    workloads.ensure(rollout)
    legacy = {"apiVersion": "modelcanary.io/v1alpha1", "kind": "ModelRollout", "name": "podinfo"}
    other = {"apiVersion": "v1", "kind": "ConfigMap", "name": "keeper", "uid": "u-other"}
    kube.patch(
        APPS,
        "Deployment",
        "default",
        "podinfo-primary",
        {"metadata": {"ownerReferences": [{**legacy, "uid": UID}, other]}},
    )
    kube.patch(
        "v1",
        "Service",
        "default",
        "podinfo",
        {"metadata": {"ownerReferences": [{**legacy, "uid": UID}]}},
    )
    workloads.ensure(rollout)
    primary = kube.get(APPS, "Deployment", "default", "podinfo-primary")
    assert primary is not None and primary["metadata"]["ownerReferences"] == [other]
    apex = kube.get("v1", "Service", "default", "podinfo")
    assert apex is not None and not apex["metadata"].get("ownerReferences")
