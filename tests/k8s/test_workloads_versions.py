"""KubeWorkloads with explicit champion/challenger model versions: serving Deployments from
the serving template, revisions from the spec, readiness, promotion and Services."""

from __future__ import annotations

import pytest
from k8s_objects import ready_status, validate, versions_rollout
from kube_fixtures import KubeApi

from modelcanary.errors import WorkloadError
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._deployments import DEFAULT_IMAGE
from modelcanary.k8s._workloads import KubeWorkloads
from modelcanary.spec import parse_rollout

APPS = "apps/v1"


def mark_ready(kube: KubeApi, name: str) -> None:
    obj = kube.get(APPS, "Deployment", "default", name)
    assert obj is not None
    kube.patch(
        APPS,
        "Deployment",
        "default",
        name,
        ready_status(obj["spec"]["replicas"], generation=obj["metadata"]["generation"]),
    )


def test_serving_deployments_from_the_template(kube: KubeApi, client: KubeClient) -> None:
    KubeWorkloads(client).ensure(versions_rollout(uid="u-1"))
    champion = kube.get(APPS, "Deployment", "default", "fraud-primary")
    challenger = kube.get(APPS, "Deployment", "default", "fraud-canary")
    assert champion is not None and challenger is not None

    main = champion["spec"]["template"]["spec"]["containers"][0]
    assert main["image"] == DEFAULT_IMAGE
    assert main["command"] == ["modelcanary"]
    assert main["args"] == [
        "serve",
        "models:/fraud@champion",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]
    assert champion["spec"]["replicas"] == 1

    new = challenger["spec"]["template"]["spec"]["containers"][0]
    assert new["image"] == "ghcr.io/acme/serve:1.2"
    assert new["args"][:2] == ["serve", "models:/fraud/2"] and new["args"][-1] == "8081"
    assert new["ports"] == [{"name": "http", "containerPort": 8081}]
    assert new["env"] == [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow:5000"}]
    assert new["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"}}
    assert new["readinessProbe"]["httpGet"] == {"path": "/ping", "port": "http"}
    assert challenger["spec"]["replicas"] == 2
    assert challenger["spec"]["selector"] == {"matchLabels": {"app": "fraud-canary"}}
    labels = challenger["spec"]["template"]["metadata"]["labels"]
    assert (
        labels["modelcanary.io/role"] == "challenger"
        and labels["modelcanary.io/rollout"] == "fraud"
    )
    assert challenger["metadata"]["ownerReferences"][0]["uid"] == "u-1"

    services = {s["metadata"]["name"]: s for s in kube.list("v1", "Service", "default")}
    assert sorted(services) == ["fraud", "fraud-canary", "fraud-primary"]
    assert services["fraud"]["spec"]["selector"] == {"app": "fraud-primary"}
    assert services["fraud-canary"]["spec"]["selector"] == {"app": "fraud-canary"}
    assert services["fraud"]["spec"]["ports"][0] == {
        "name": "http",
        "port": 80,
        "targetPort": 8081,
        "protocol": "TCP",
    }
    for obj in [champion, challenger, *services.values()]:
        validate(obj)


def test_image_versions_run_their_own_image(kube: KubeApi, client: KubeClient) -> None:
    rollout = parse_rollout(
        {
            "metadata": {"name": "img", "namespace": "default"},
            "spec": {
                "champion": {"image": "ghcr.io/acme/model:1"},
                "challenger": {
                    "image": "ghcr.io/acme/model:2",
                    "serving": {"args": ["--workers", "2"]},
                },
                "router": {"provider": "istio"},
                "analysis": {
                    "interval": "1m",
                    "stepWeights": [50],
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.1}}],
                },
            },
        }
    )
    KubeWorkloads(client, default_image="unused:0").ensure(rollout)
    container = kube.get(APPS, "Deployment", "default", "img-canary")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["image"] == "ghcr.io/acme/model:2"
    assert container["args"] == ["--workers", "2"] and "command" not in container


def test_readiness_and_revision_follow_the_spec(kube: KubeApi, client: KubeClient) -> None:
    workloads = KubeWorkloads(client)
    rollout = versions_rollout()
    revision = workloads.readiness(rollout).challenger_revision
    assert revision == workloads.readiness(rollout).challenger_revision
    changed = versions_rollout(challenger="models:/fraud/3")
    assert workloads.readiness(changed).challenger_revision != revision  # before any ensure

    workloads.ensure(rollout)
    assert not workloads.readiness(rollout).champion_ready
    mark_ready(kube, "fraud-primary")
    mark_ready(kube, "fraud-canary")
    ready = workloads.readiness(rollout)
    assert ready.champion_ready and ready.challenger_ready and ready.message == ""

    workloads.ensure(changed)  # the challenger follows the spec, the champion stays
    args = kube.get(APPS, "Deployment", "default", "fraud-canary")["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert args[1] == "models:/fraud/3"
    assert not workloads.readiness(changed).challenger_ready  # new generation not observed


def test_promotion_and_scale_down(kube: KubeApi, client: KubeClient) -> None:
    workloads = KubeWorkloads(client)
    rollout = versions_rollout()
    workloads.ensure(rollout)
    workloads.promote(rollout)
    champion = kube.get(APPS, "Deployment", "default", "fraud-primary")
    template = champion["spec"]["template"]
    assert template["spec"]["containers"][0]["args"][1] == "models:/fraud/2"
    assert template["metadata"]["labels"]["app"] == "fraud-primary"
    assert template["metadata"]["labels"]["modelcanary.io/role"] == "champion"
    assert champion["spec"]["selector"] == {"matchLabels": {"app": "fraud-primary"}}
    assert champion["metadata"]["annotations"]["modelcanary.io/source"] == "models:/fraud/2"
    validate(champion)

    workloads.scale_challenger(rollout, 0)
    assert kube.get(APPS, "Deployment", "default", "fraud-canary")["spec"]["replicas"] == 0
    workloads.ensure(rollout)  # the next rollout: the champion keeps the promoted version
    args = kube.get(APPS, "Deployment", "default", "fraud-primary")["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert args[1] == "models:/fraud/2"
    assert kube.get(APPS, "Deployment", "default", "fraud-canary")["spec"]["replicas"] == 2


def test_url_versions_cannot_run_in_a_cluster(client: KubeClient) -> None:
    rollout = parse_rollout(
        {
            "metadata": {"name": "u", "namespace": "default"},
            "spec": {
                "champion": {"url": "http://old:8080"},
                "challenger": {"modelUri": "models:/m/2"},
                "router": {"provider": "istio"},
                "analysis": {
                    "interval": "1m",
                    "stepWeights": [50],
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.1}}],
                },
            },
        }
    )
    with pytest.raises(WorkloadError, match=r"spec.champion.url: .*use spec.champion.modelUri"):
        KubeWorkloads(client).ensure(rollout)
