"""``docs/flux.md`` stays true: every YAML document on it validates (core kinds with
kubernetes-validate, Flux kinds against the vendored Flux CRD schemas, the ModelRollout with
modelcanary's own validation), the HelmReleases install operator/chart (values checked by its
schema, rendered by Helm's engine), and the Receiver's filter selects the body the operator's
webhook alert really sends at a promotion."""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from k8s_schema import errors as crd_errors
from kube_fixtures import KubeApi, kube_api

from modelcanary.k8s import KubeClient, KubeSecretReader
from modelcanary.notify import NotificationDelivery
from modelcanary.ports import Notification
from modelcanary.rollout import Notify, Observations, Readiness, step
from modelcanary.spec import ModelRollout, parse_rollout

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "flux.md"
FLUX_CRDS = REPO / "tests" / "data" / "crds-flux"
CHART = REPO / "operator" / "chart"
KUBE_VERSION = "1.30"
CORE_KINDS = {"Namespace", "Secret"}
Obj = dict[str, Any]


def documents() -> list[Obj]:
    """Every YAML document of every ```yaml block of the page."""
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    return [doc for block in blocks for doc in yaml.safe_load_all(block) if doc]


def of_kind(kind: str) -> list[Obj]:
    return [d for d in documents() if d["kind"] == kind]


@functools.cache
def flux_crds() -> dict[str, Obj]:
    crds: dict[str, Obj] = {}
    for path in sorted(FLUX_CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            crds[crd["spec"]["names"]["kind"]] = crd
    return crds


def unknown_fields(schema: Obj, obj: Any, path: str = "") -> list[str]:
    """Fields the structural schema does not define (the API server prunes them)."""
    if isinstance(obj, list) and "items" in schema:
        return [
            p
            for i, item in enumerate(obj)
            for p in unknown_fields(schema["items"], item, f"{path}[{i}]")
        ]
    if not isinstance(obj, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found: list[str] = []
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    for key, value in obj.items():
        where = f"{path}.{key}" if path else key
        if props is not None and key in props:
            found += unknown_fields(props[key], value, where)
        elif isinstance(extra, dict):
            found += unknown_fields(extra, value, where)
        elif props is not None and key != "metadata":
            found.append(where)
    return found


def flux_problems(obj: Obj) -> list[str]:
    """Schema errors and unknown fields of a Flux object (served version, storage schema)."""
    crd = flux_crds().get(obj["kind"])
    if crd is None:
        return [f"no Flux CRD vendored for {obj['kind']}"]
    served = [f"{crd['spec']['group']}/{v['name']}" for v in crd["spec"]["versions"] if v["served"]]
    if obj["apiVersion"] not in served:
        return [f"apiVersion {obj['apiVersion']} is not served (served: {served})"]
    version = obj["apiVersion"].split("/")[1]
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    problems = crd_errors(crd, obj, version)
    problems += [
        f"unknown field {p}" for p in unknown_fields(schema["schema"]["openAPIV3Schema"], obj)
    ]
    if not obj.get("metadata", {}).get("name"):
        problems.append("metadata.name missing")
    return problems


def test_every_yaml_document_on_the_page_validates() -> None:
    kinds: set[str] = set()
    for doc in documents():
        kind = doc["kind"]
        kinds.add(kind)
        where = f"{kind}/{doc['metadata'].get('name')}"
        if kind in CORE_KINDS:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        elif kind == "ModelRollout":
            parse_rollout(doc, source=where)
        else:
            assert flux_problems(doc) == [], where
    assert kinds == {
        "Namespace",
        "OCIRepository",
        "HelmRepository",
        "HelmRelease",
        "Kustomization",
        "Secret",
        "Receiver",
        "ModelRollout",
        "Provider",
        "Alert",
    }


def test_the_validation_catches_what_the_api_server_would_refuse() -> None:
    """The checker is not blind: a misspelt field, a wrong enum, a missing required field."""
    release = of_kind("HelmRelease")[0]
    typo = {**release, "spec": {**release["spec"], "intervall": "5m"}}
    assert flux_problems(typo) == ["unknown field spec.intervall"]
    bad_crds = json.loads(json.dumps(release))
    bad_crds["spec"]["install"]["crds"] = "Always"
    assert any("Always" in p for p in flux_problems(bad_crds))
    no_interval = json.loads(json.dumps(release))
    del no_interval["spec"]["interval"]
    assert any("interval" in p for p in flux_problems(no_interval))


def test_an_alert_cannot_name_model_rollouts() -> None:
    """Flux's Alert CRD enumerates the kinds it relays: ModelRollout is not one of them."""
    alert = of_kind("Alert")[0]
    on_rollouts = {
        **alert,
        "spec": {**alert["spec"], "eventSources": [{"kind": "ModelRollout", "name": "*"}]},
    }
    problems = flux_problems(on_rollouts)
    assert problems and "'ModelRollout' is not one of" in problems[0]


# -- the HelmReleases install operator/chart -----------------------------------------------------
def _chart() -> Obj:
    return dict(yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8")))


def _in_range(version: str, pattern: str) -> bool:
    """``0.1.x`` style ranges (the ones on the page)."""
    want = pattern.split(".")
    return all(w in ("x", "*") or w == v for w, v in zip(want, version.split("."), strict=True))


def _source(release: Obj) -> tuple[Obj, str]:
    """The source object a HelmRelease names (from the same page) and its version range."""
    spec = release["spec"]
    assert ("chart" in spec) != ("chartRef" in spec), "exactly one of chart and chartRef (CEL rule)"
    ref = spec["chartRef"] if "chartRef" in spec else spec["chart"]["spec"]["sourceRef"]
    namespace = ref.get("namespace", release["metadata"]["namespace"])
    found = [
        d
        for d in of_kind(ref["kind"])
        if d["metadata"]["name"] == ref["name"] and d["metadata"]["namespace"] == namespace
    ]
    assert len(found) == 1, ref
    source = found[0]
    if "chartRef" in spec:
        assert source["spec"]["url"].rsplit("/", 1)[1] == _chart()["name"]
        return source, source["spec"]["ref"]["semver"]
    assert spec["chart"]["spec"]["chart"] == _chart()["name"]
    return source, spec["chart"]["spec"]["version"]


@pytest.mark.parametrize("index", [0, 1])
def test_each_helm_release_installs_the_chart(index: int) -> None:
    import helm_python

    release = of_kind("HelmRelease")[index]
    _, versions = _source(release)
    assert _in_range(_chart()["version"], versions), versions
    spec = release["spec"]
    assert spec["install"]["crds"] == spec["upgrade"]["crds"] == "CreateReplace"
    values = spec.get("values") or {}
    with helm_python.Chart.load(CHART) as chart:
        chart.validate_schema(values)
        rendered = chart.render(
            values, name=spec["releaseName"], namespace=spec["targetNamespace"], is_install=True
        )
    objects = [
        doc
        for path, text in sorted(rendered.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]
    bundle = {
        crd["spec"]["names"]["kind"]: crd
        for path in sorted((REPO / "operator" / "crds").glob("*.yaml"))
        for crd in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if crd and crd.get("kind") == "CustomResourceDefinition"
    }
    for obj in objects:
        if obj["kind"] in bundle:
            assert crd_errors(bundle[obj["kind"]], obj) == [], obj["metadata"]
        else:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    bindings = {o["metadata"]["namespace"] for o in objects if o["kind"] == "RoleBinding"}
    assert set(values["watchNamespaces"]) <= bindings  # the values took effect
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == spec["targetNamespace"]


def test_rollouts_wait_for_the_operator() -> None:
    operator, rollouts = of_kind("Kustomization")
    assert operator["spec"]["wait"] is True
    assert rollouts["spec"]["dependsOn"] == [{"name": operator["metadata"]["name"]}]


# -- the Receiver gets what the webhook alert sends -----------------------------------------------
class ReceiverStandIn:
    """A loopback HTTP endpoint answering 200 as Flux's generic Receiver does; keeps the bodies."""

    def __init__(self) -> None:
        self.bodies: list[Obj] = []
        self.content_types: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                owner.bodies.append(json.loads(self.rfile.read(length)))
                owner.content_types.append(self.headers.get("Content-Type", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/0123abcd"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeApi]:
    with kube_api(crds=(), namespaces=("ml",)) as api:
        yield api


def _promotion_notes(rollout: ModelRollout) -> list[Notify]:
    """Every Notify of the pure state machine from init to a promoted new revision."""
    now, status, notes = datetime(2026, 1, 1, tzinfo=UTC), None, []
    for revision in ("rev-1", "rev-2", "rev-2", "rev-2", "rev-2", "rev-2"):
        ready = Readiness(champion_ready=True, challenger_ready=True, challenger_revision=revision)
        status, commands = step(rollout, status, Observations(readiness=ready), now)
        notes += [c for c in commands if isinstance(c, Notify)]
        now += timedelta(minutes=1)
    assert status is not None and status.phase == "Succeeded", status
    return notes


def test_the_receiver_filter_selects_the_promotion_the_alert_sends(kube: KubeApi) -> None:
    receiver = of_kind("Receiver")[0]
    spec = receiver["spec"]
    assert spec["type"] == "generic" and "secretRef" in spec  # CEL rule: non-OIDC needs one
    token = next(s for s in of_kind("Secret") if s["metadata"]["name"] == spec["secretRef"]["name"])
    assert token["metadata"]["namespace"] == receiver["metadata"]["namespace"]
    assert "token" in token["stringData"]
    field, wanted = re.fullmatch(r"req\.(\w+) == '([^']*)'", spec["resourceFilter"]).groups()  # type: ignore[union-attr]

    doc = of_kind("ModelRollout")[0]
    (alert,) = doc["spec"]["analysis"]["alerts"]
    secret_name = alert["provider"]["secretRef"]["name"]
    stand_in = ReceiverStandIn()
    try:
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": secret_name, "namespace": doc["metadata"]["namespace"]},
                "stringData": {"address": stand_in.url},
            }
        )
        rollout = parse_rollout({**doc, "spec": {**doc["spec"], "skipAnalysis": True}})
        reader = KubeSecretReader(KubeClient(kube.api_client, timeout=10))
        router = NotificationDelivery(
            rollout.spec.analysis.alerts,
            secret_reader=reader,
            namespace=rollout.metadata.namespace or "",
        )
        for note in _promotion_notes(rollout):
            sent = Notification(
                rollout.name, "ml", note.event, note.severity, note.message, "", dict(note.fields)
            )
            assert all(d.ok for d in router.send(sent)), note
    finally:
        stand_in.close()
    assert stand_in.content_types and set(stand_in.content_types) == {"application/json"}
    selected = [b for b in stand_in.bodies if b.get(field) == wanted]
    assert len(selected) == 1, stand_in.bodies
    assert selected[0]["rollout"] == "fraud" and "promotion" in selected[0]["message"]
    assert len(stand_in.bodies) > 1  # the other events reach the Receiver and are filtered out
