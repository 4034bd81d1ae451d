"""The kmock harness and the generic REST layer: plurals, verbs and error mapping."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import kubernetes.client
import pytest
from kube_fixtures import KubeApi

from modelcanary.errors import ConflictError, SpecError
from modelcanary.k8s._client import (
    KubeApiError,
    KubeClient,
    KubeNotFound,
    Ref,
    is_transient,
    load_api_client,
    plural_of,
)

CM = Ref("v1", "ConfigMap", "default", "settings")


def config_map(name: str = "settings", **labels: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "data": {"a": "1"},
    }


# -- the harness itself --------------------------------------------------------------------
def test_harness_answers_201_and_versions_every_write(kube: KubeApi, client: KubeClient) -> None:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    created = core.create_namespaced_config_map("default", config_map())
    assert created.metadata.resource_version and created.metadata.uid
    patched = core.patch_namespaced_config_map("settings", "default", {"data": {"b": "2"}})
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    assert patched.data == {"a": "1", "b": "2"}
    generated = kube.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "involvedObject": {"kind": "Pod", "name": "p"},
            "metadata": {"namespace": "default", "generateName": "kopf-event-"},
        }
    )
    assert generated["metadata"]["name"].startswith("kopf-event-")
    assert kube.names("v1", "Event", "default") == [generated["metadata"]["name"]]


def test_harness_rejects_a_stale_resource_version(kube: KubeApi, client: KubeClient) -> None:
    first = client.create(config_map())
    client.patch(CM, {"data": {"a": "2"}})
    with pytest.raises(ConflictError, match="conflict"):
        client.patch(CM, {"metadata": {"resourceVersion": first["metadata"]["resourceVersion"]}})
    assert kube.get("v1", "ConfigMap", "default", "settings")["data"] == {"a": "2"}


def test_harness_filters_lists_by_label_selector(kube: KubeApi, client: KubeClient) -> None:
    client.create(config_map("one", app="a", tier="web"))
    client.create(config_map("two", app="b"))
    ref = Ref("v1", "ConfigMap", "default", "")
    assert [o["metadata"]["name"] for o in client.list(ref, "app=a")] == ["one"]
    assert [o["metadata"]["name"] for o in client.list(ref, "app!=a")] == ["two"]
    assert [o["metadata"]["name"] for o in client.list(ref, "tier")] == ["one"]
    assert [o["metadata"]["name"] for o in client.list(ref, "app in (a, c),tier")] == ["one"]
    assert [o["metadata"]["name"] for o in client.list(ref, "app notin (a)")] == ["two"]
    assert [o["metadata"]["name"] for o in client.list(ref, "!tier")] == ["two"]
    assert sorted(o["metadata"]["name"] for o in client.list(ref)) == ["one", "two"]


def test_harness_serves_namespaces_and_discovery(kube: KubeApi, client: KubeClient) -> None:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    assert "default" in [n.metadata.name for n in core.list_namespace().items]
    assert core.read_namespace("default").metadata.name == "default"
    response = kube.api_client.call_api("GET", kube.url + "/apis")
    response.read()
    groups = {g["name"] for g in json.loads(response.data)["groups"]}
    assert {"modelcanary.io", "apps", "networking.istio.io", "gateway.networking.k8s.io"} <= groups
    response = kube.api_client.call_api("GET", kube.url + "/apis/modelcanary.io/v1alpha1")
    response.read()
    resources = {r["name"] for r in json.loads(response.data)["resources"]}
    assert resources == {"modelrollouts", "modelrollouts/status"}
    crd = kube.get(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "modelrollouts.modelcanary.io"
    )
    assert crd is not None and crd["spec"]["names"]["kind"] == "ModelRollout"


def test_harness_declares_extra_resources(kube: KubeApi, client: KubeClient) -> None:
    kube.declare("split.smi-spec.io/v1alpha2", "TrafficSplit", "trafficsplits")
    split = {
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": "podinfo", "namespace": "default"},
        "spec": {"service": "podinfo", "backends": []},
    }
    client.create(split)
    assert kube.names("split.smi-spec.io/v1alpha2", "TrafficSplit", "default") == ["podinfo"]


# -- the client ----------------------------------------------------------------------------
def test_plurals_come_from_the_table_or_english() -> None:
    assert plural_of("networking.istio.io/v1beta1", "VirtualService") == "virtualservices"
    assert plural_of("projectcontour.io/v1", "HTTPProxy") == "httpproxies"
    assert plural_of("example.com/v1", "Policy") == "policies"
    assert plural_of("example.com/v1", "Gateway") == "gateways"
    assert plural_of("example.com/v1", "Mesh") == "meshes"
    assert KubeClient.path("v1", "Secret", "ml", "x") == "/api/v1/namespaces/ml/secrets/x"
    assert (
        KubeClient.path("apps/v1", "Deployment", "ml") == "/apis/apps/v1/namespaces/ml/deployments"
    )


def test_get_create_patch_delete(kube: KubeApi, client: KubeClient) -> None:
    assert client.get(CM) is None
    client.create(config_map())
    with pytest.raises(ConflictError, match="ConfigMap default/settings"):
        client.create(config_map())
    client.patch(CM, {"data": {"a": None, "b": "2"}})
    assert client.get(CM)["data"] == {"b": "2"}
    client.patch(CM, [{"op": "add", "path": "/data/c", "value": "3"}])
    assert kube.get("v1", "ConfigMap", "default", "settings")["data"] == {"b": "2", "c": "3"}
    assert client.delete(CM) is True
    assert client.delete(CM) is False
    with pytest.raises(KubeNotFound, match="ConfigMap default/settings"):
        client.patch(CM, {"data": {}})


def test_forbidden_is_permanent_and_names_the_rbac_fix(kube: KubeApi, client: KubeClient) -> None:
    path = "/api/v1/namespaces/default/secrets/locked"
    kube.call(lambda: kube.handler["get", path] << 403 << {"message": "secrets is forbidden"})
    with pytest.raises(KubeApiError) as caught:
        client.get(Ref("v1", "Secret", "default", "locked"))
    assert caught.value.status == 403 and not caught.value.transient
    assert "Secret default/locked" in str(caught.value)
    assert "verb 'get' on 'secrets'" in str(caught.value)


def test_server_errors_are_transient(kube: KubeApi, client: KubeClient) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments/busy"
    kube.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "busy", "namespace": "default"},
            "spec": {},
        }
    )
    kube.call(lambda: kube.handler["patch", path] << 503 << {"message": "etcd leader changed"})
    with pytest.raises(KubeApiError, match="etcd leader changed") as caught:
        client.patch(Ref("apps/v1", "Deployment", "default", "busy"), {"spec": {}})
    assert caught.value.transient and is_transient(caught.value)
    try:
        try:
            raise caught.value
        except KubeApiError as exc:
            raise ValueError("wrapped") from exc
    except ValueError as wrapped:
        assert is_transient(wrapped)


def test_unknown_resource_lists_fail_naming_the_kind(kube: KubeApi, client: KubeClient) -> None:
    with pytest.raises(KubeApiError, match="is the Widget resource installed"):
        client.list(Ref("example.com/v1", "Widget", "default", ""))


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = kubernetes.client.Configuration()
    config.host = f"http://127.0.0.1:{port}"
    config.retries = 0
    client = KubeClient(kubernetes.client.ApiClient(config), timeout=2)
    with pytest.raises(KubeApiError, match="cannot reach the Kubernetes API") as caught:
        client.get(CM)
    assert caught.value.transient


def test_api_client_from_kubeconfig(kube: KubeApi, tmp_path: Path) -> None:
    api = load_api_client(str(kube.kubeconfig(tmp_path)), "kmock")
    assert api.configuration.host == kube.url
    client = KubeClient(api)
    assert client.get(Ref("v1", "Namespace", "", "default")) is not None
    with pytest.raises(SpecError, match="--kubeconfig"):
        load_api_client(str(tmp_path / "missing"), None)
